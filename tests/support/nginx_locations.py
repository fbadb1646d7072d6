"""The nginx template's HTTPS server read back as its locations, and nginx's own choice of
location for a path (exact, then the longest prefix unless it is `^~`, then the first matching
regex, else that prefix), so a test can ask which location serves an API route."""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from local.twin.nginx import TEMPLATE, render_template

LOCATION = re.compile(r"^\s*location\s+(=|~\*|~|\^~)?\s*(\S+)\s*\{", re.M)


@dataclass(frozen=True)
class Location:
    modifier: str  # "", "=", "^~", "~" or "~*"
    pattern: str
    body: str

    @property
    def proxied(self) -> bool:
        return "proxy_pass http://api;" in self.body


def _block(text: str, start: int) -> str:
    """The text inside the braces opening at or after `start`."""
    opening = text.index("{", start)
    depth = 0
    for position in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[opening + 1:position]
    raise ValueError("unbalanced braces")


def https_locations(rendered: str) -> list[Location]:
    """The locations of the one server that listens with TLS (it serves the site on both
    ports), in file order."""
    servers = [_block(rendered, m.start()) for m in re.finditer(r"^server\s*\{", rendered, re.M)]
    [https] = [s for s in servers if re.search(r"listen\s+\S+\s+ssl", s)]
    return [Location(m[1] or "", m[2], _block(https, m.start()))
            for m in LOCATION.finditer(https) if not m[2].startswith("@")]


def rendered_template() -> str:
    text = TEMPLATE.read_text()
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text))
    return render_template(text, {name: "placeholder" for name in names})


def choose(locations: list[Location], path: str) -> Location | None:
    """The location nginx serves `path` from."""
    for location in locations:
        if location.modifier == "=" and location.pattern == path:
            return location
    prefixes = [loc for loc in locations
                if loc.modifier in ("", "^~") and path.startswith(loc.pattern)]
    longest = max(prefixes, key=lambda loc: len(loc.pattern), default=None)
    if longest is not None and longest.modifier == "^~":
        return longest
    for location in locations:
        flags = re.IGNORECASE if location.modifier == "~*" else 0
        if location.modifier in ("~", "~*") and re.search(location.pattern, path, flags):
            return location
    return longest


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, bool]]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI's included router
            included: str = getattr(route, "include_context").prefix  # noqa: B009
            yield from _routes(original.routes, prefix + included)
        elif isinstance(route, Mount):
            yield prefix + route.path + "/", False
        elif isinstance(route, APIRoute | Route):
            yield prefix + route.path, route.include_in_schema


def route_paths(app: FastAPI) -> list[str]:
    """Every path the app answers, a `{parameter}` filled in with 1 (a mount: its folder)."""
    return sorted({re.sub(r"\{[^}]+\}", "1", path) for path, _ in _routes(app.routes)})
