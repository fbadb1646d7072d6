"""The page's audits in the browser tier: axe-core injected by Playwright, Lighthouse (npm) on
Debian's Chromium, and the layout's geometry read back from the page.

The Node tools are the versions tests/browser/package-lock.json pins (`npm ci` in make test).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

NODE_TOOLS = Path(__file__).resolve().parent.parent / "browser" / "node_modules"
AXE = NODE_TOOLS / "axe-core" / "axe.min.js"
LIGHTHOUSE = NODE_TOOLS / "lighthouse" / "cli" / "index.js"
# As the machine's notes say Chromium must run here: no background connections (refused on a
# closed network), no first-run work. The twin's certificate is its own, self-signed.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--ignore-certificate-errors")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def node_tool(path: Path) -> Path:
    if not path.exists():
        raise AssertionError(f"{path} is missing: run `npm ci --prefix tests/browser` "
                             "(make test does)")
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (every rule axe runs by default).
    Evaluated through the DevTools protocol, which the page's CSP does not govern."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(node_tool(AXE).read_text())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map(n => n.target.join(' '))}))""")
    return found


# The mobile preset slows the CPU 4 times, which emulates its mid-range phone from a host whose
# benchmark index is about 1533; on a slower (or busy) host the same phone needs less. Lighthouse
# warns of such a host and points to its calculator, whose formula this is (at most 4: never
# stricter or laxer than the preset on a host as fast as it expects or faster).
MOBILE_CPU_SLOWDOWN = 4.0


def cpu_slowdown_for(benchmark_index: float | None) -> float:
    """The multiplier that emulates the mobile preset's phone on a host of this index."""
    if benchmark_index is None:
        return MOBILE_CPU_SLOWDOWN
    if benchmark_index >= 1300:
        multiplier = 3 + (benchmark_index - 1300) / 233
    elif benchmark_index >= 800:
        multiplier = 2 + (benchmark_index - 800) / 500
    else:
        multiplier = 1 + max(benchmark_index - 150, 0) / 650
    return round(min(multiplier, MOBILE_CPU_SLOWDOWN), 2)


def lighthouse(url: str, preset: str, chromium: str, report: Path,
               cpu_slowdown: float = MOBILE_CPU_SLOWDOWN) -> dict[str, Any]:
    """One Lighthouse run ("mobile": its default, a mid-range phone on slow 4G, simulated,
    with `cpu_slowdown`; "desktop": its desktop preset, no CPU slowdown); the JSON report is
    kept at `report`."""
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is missing: apt-get install nodejs npm")
    report.parent.mkdir(parents=True, exist_ok=True)
    preset_args = (["--preset=desktop"] if preset == "desktop"
                   else [f"--throttling.cpuSlowdownMultiplier={cpu_slowdown}"])
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as home:
        result = subprocess.run(
            [node, str(node_tool(LIGHTHOUSE)), url, *preset_args, "--quiet",
             "--output=json", f"--output-path={report}",
             f"--only-categories={','.join(CATEGORIES)}",
             f"--chrome-flags={' '.join(CHROMIUM_FLAGS)}"],
            # chrome-launcher finds the browser here; HOME: Lighthouse's config store, not root's.
            env={"PATH": "/usr/bin:/bin", "CHROME_PATH": chromium, "HOME": home},
            capture_output=True, text=True, timeout=240, check=False)
    if result.returncode != 0 or not report.exists():
        raise AssertionError(f"lighthouse failed ({result.returncode}):\n{result.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(report.read_text())
    if found.get("runtimeError"):
        raise AssertionError(f"lighthouse: {found['runtimeError']}")
    return found


def scores(report: dict[str, Any]) -> dict[str, float]:
    return {name: report["categories"][name]["score"] * 100 for name in CATEGORIES}


def failed_audits(report: dict[str, Any], category: str) -> list[str]:
    """The audits that cost `category` points, with what Lighthouse says of them."""
    audits = report["audits"]
    return [f"{ref['id']}: {audits[ref['id']]['score']} {audits[ref['id']].get('displayValue', '')}"
            for ref in report["categories"][category]["auditRefs"]
            if ref["weight"] and (audits[ref["id"]]["score"] or 0) < 1]


# Every card's descendants inside it, cards apart from one another, and nothing wider than the
# window. A scrolling box (a wide table) counts as its box, not as the content it scrolls.
LAYOUT_SCRIPT = """() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) {
    problems.push(`page ${document.documentElement.scrollWidth} px wide in ${width} px`);
  }
  const visible = (el) => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const cards = [...document.querySelectorAll('.card')].filter(visible);
  const boxes = cards.map((c) => c.getBoundingClientRect());
  const name = (el) => el.id ? `#${el.id}` : el.tagName.toLowerCase()
    + (el.className && typeof el.className === 'string' ? `.${el.className.split(' ')[0]}` : '');
  cards.forEach((card, i) => {
    const box = boxes[i];
    if (box.left < 0 || box.right > width + 0.5) problems.push(`${name(card)} leaves the window`);
    for (const el of card.querySelectorAll('*')) {
      if (!visible(el) || el.closest('.scroll') !== null && !el.classList.contains('scroll')
          || el.closest('.visually-hidden')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5
          || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
        problems.push(`${name(el)} (${Math.round(r.left)}..${Math.round(r.right)}) leaves `
          + `${name(card.querySelector('h2'))}'s card (${Math.round(box.left)}..`
          + `${Math.round(box.right)})`);
      }
    }
    boxes.forEach((other, j) => {
      if (j > i && box.left < other.right && other.left < box.right
          && box.top < other.bottom && other.top < box.bottom) {
        problems.push(`${name(card.querySelector('h2'))} overlaps `
          + `${name(cards[j].querySelector('h2'))}`);
      }
    });
  });
  return problems;
}"""


def layout_problems(page: Page) -> list[str]:
    found: list[str] = page.evaluate(LAYOUT_SCRIPT)
    return found
