"""The GitHub Actions workflow that runs the compose stack on a real engine, and checkov's
Dockerfile and GitHub Actions policies: linted here, since no Docker engine runs here."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

BIN = Path(sys.executable).parent
WORKFLOW = ROOT / ".github" / "workflows" / "compose.yml"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)


def test_the_workflow_is_actionlint_clean() -> None:
    # actionlint checks the `run:` scripts with shellcheck only when it finds it.
    assert shutil.which("shellcheck"), "shellcheck is missing: apt-get install shellcheck"
    result = run(str(BIN / "actionlint"), "-no-color", str(WORKFLOW))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_matches_the_github_schema() -> None:
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                 str(WORKFLOW))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_the_smoke_script_the_twin_runs() -> None:
    text = WORKFLOW.read_text()
    assert "python3 scripts/smoke.py" in text
    assert "docker compose up -d --wait" in text and "--scale api=3" in text
    assert "docker compose --profile monitoring logs" in text and "if: failure()" in text
    # The monitoring profile on the official Prometheus image: every replica a target that
    # is up, every rule loaded (the engine tier checks the same on its stand-in).
    assert "docker compose --profile monitoring up -d --wait" in text
    assert 'count(up%7Bjob%3D%22api%22%7D%3D%3D1)' in text and "/api/v1/rules" in text
    # Actions pinned to a commit, not a movable tag.
    uses = [line.split("uses:")[1].split()[0] for line in text.splitlines() if "uses:" in line]
    assert uses and all("@" in u and len(u.split("@")[1]) == 40 for u in uses), uses


def test_checkov_finds_nothing_in_the_dockerfiles_and_the_workflow() -> None:
    assert CHECKOV.exists(), "checkov is missing: run `make tools` (make test does)"
    result = run(str(CHECKOV), "-f", "api/Dockerfile", "-f", "nginx/Dockerfile",
                 "-f", str(WORKFLOW.relative_to(ROOT)), "--framework", "dockerfile",
                 "github_actions", "--skip-download", "--compact", "--quiet", "-o", "json")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summaries = {report["check_type"]: report["summary"] for report in reports}
    assert set(summaries) == {"dockerfile", "github_actions"}, result.stdout[:2000]
    for kind, summary in summaries.items():
        assert summary["failed"] == 0 and summary["parsing_errors"] == 0, (kind, result.stdout)
        assert summary["passed"] > 0, kind
