"""The suite's one conditional skip: tests that need root (network namespaces, iptables)."""

import os
import shutil
from collections.abc import Callable, Mapping

import pytest


def require_root(reason: str, *, euid: int | None = None,
                 which: Callable[[str], str | None] = shutil.which,
                 environ: Mapping[str, str] = os.environ) -> None:
    """Namespaces and iptables need root: outside CI that is a skip; in CI (`CI=true`, as
    `.ci/run` sets it), a failure, so CI runs every test."""
    missing = [tool for tool in ("ip", "iptables") if which(tool) is None]
    if (os.geteuid() if euid is None else euid) == 0 and not missing:
        return
    problem = f"needs root and {', '.join(missing) or 'ip, iptables'} ({reason})"
    if environ.get("CI") == "true":
        pytest.fail(f"{problem}: CI must run every test (apt-get install iproute2 iptables)")
    pytest.skip(f"{problem}; runs in CI")
