#!/usr/bin/env python3
"""The page as nginx serves it: every file but the page itself renamed with its content's
hash, and each text file beside a gzip copy of it.

    python3 build_static.py SOURCE DEST

The one place both the nginx image (its first build stage) and the local twin (at start)
make the served folder from nginx/static/. A hashed name changes with its content, so nginx
lets browsers keep those files for a year (`expires max` in the template) while the page,
under its fixed name, is revalidated on every load. The .gz copies are for `gzip_static`:
nginx compresses nothing itself, so no API answer is ever compressed (BREACH). The output
depends on the input only (gzip's timestamp is zero): the same files give the same bytes.

Standard library only: it runs in a bare Python image and before any virtualenv exists.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from pathlib import Path

PAGE = "index.html"
HASH_LENGTH = 12
# Types nginx would compress; an SVG icon is text too.
COMPRESSED = {".html", ".js", ".css", ".svg"}


def hashed_name(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
    return f"{path.stem}.{digest}{path.suffix}"


def write(path: Path, data: bytes) -> None:
    """The file and its gzip copy, each replaced whole (os.replace), so a running nginx never
    serves half of one."""
    copies = {path: data}
    if path.suffix in COMPRESSED:
        copies[path.with_name(path.name + ".gz")] = gzip.compress(data, compresslevel=9, mtime=0)
    for target, content in copies.items():
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(content)
        os.replace(partial, target)


def build(source: Path, dest: Path) -> dict[str, str]:
    """Writes the served folder (the page last, so it never names a file not yet there);
    returns each source name's served name. Files of an earlier build stay: a page loaded
    just before still finds its own."""
    dest.mkdir(parents=True, exist_ok=True)
    names = {path.name: hashed_name(path) for path in sorted(source.iterdir())
             if path.is_file() and path.name != PAGE}
    page = (source / PAGE).read_text(encoding="utf-8")
    for original, served in names.items():
        # References are absolute paths in attributes: href="/app.js", src="/app.js".
        reference = f'"/{original}"'
        if reference not in page:
            raise SystemExit(f"{PAGE} does not reference {original} as {reference}")
        page = page.replace(reference, f'"/{served}"')
        write(dest / served, (source / original).read_bytes())
    write(dest / PAGE, page.encode("utf-8"))
    return {**names, PAGE: PAGE}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: build_static.py SOURCE DEST", file=sys.stderr)
        return 2
    for original, served in build(Path(argv[0]), Path(argv[1])).items():
        print(f"{original} -> {served}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
