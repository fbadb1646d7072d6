"""`make mutation`: mutmut on the pure modules, scored, every survivor accounted for.

mutmut names a mutant by its file's path as a module, so it runs in a workspace where
`app` is a top-level folder, as the API's own package sees it: artifacts/mutation/ gets a
copy of api/app, local/ (the root conftest imports the twin's types), tests/ (the unit
tests that exercise these modules, tests/support and the root conftest) and a setup.cfg
naming the modules. Then `mutmut run`, and the result is checked:

- the score (killed / all mutants, "killed" counting timeouts and crashes, which a test run
  notices) must be at least MIN_SCORE;
- every surviving mutant must be listed in docs/mutation.md (its name in backquotes, with why
  it is equivalent), and every mutant named there must still survive (else the list is
  stale).

    python scripts/mutation.py            run, print the score and the survivors, check them
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "artifacts" / "mutation"
MIN_SCORE = 0.90
MODULES = [
    "app/domain/scorer.py", "app/domain/features.py", "app/domain/drift.py",
    "app/web/strict_json.py", "app/core/request_id.py",
]
TESTS = [
    "tests/unit/test_training.py", "tests/unit/test_strict_json.py", "tests/unit/test_drift.py",
    "tests/unit/test_request_id.py", "tests/unit/test_adding_a_feature.py",
    "tests/unit/test_dataset.py", "tests/unit/test_pure_modules.py",
    "tests/unit/test_counted_body.py", "tests/unit/test_direct_route.py",
]
LISTED = ROOT / "docs" / "mutation.md"
MUTANT_NAME = re.compile(r"`([\w.ǁ]+__mutmut_\d+)`")
KILLED = {"killed", "timeout", "segfault", "suspicious"}


def setup_cfg() -> str:
    def listing(values: list[str]) -> str:
        return "".join(f"\n    {value}" for value in values)

    return ("[mutmut]\n"
            f"source_paths ={listing(MODULES)}\n"
            f"pytest_add_cli_args_test_selection ={listing(TESTS)}\n"
            "also_copy =\n    local\n    app\n"
            # A mutant is killed by its first failing test: no need to run the rest.
            "pytest_add_cli_args =\n    -x\n    -q\n")


def build_workspace() -> None:
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    WORKSPACE.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "api" / "app", WORKSPACE / "app", ignore=ignore)
    shutil.copytree(ROOT / "local", WORKSPACE / "local", ignore=ignore)
    (WORKSPACE / "tests" / "unit").mkdir(parents=True)
    for name in ["tests/__init__.py", "tests/conftest.py", "tests/unit/__init__.py", *TESTS]:
        shutil.copy2(ROOT / name, WORKSPACE / name)
    shutil.copytree(ROOT / "tests" / "support", WORKSPACE / "tests" / "support", ignore=ignore)
    (WORKSPACE / "setup.cfg").write_text(setup_cfg())
    (WORKSPACE / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")


def mutmut(*args: str) -> str:
    mutmut_bin = Path(sys.executable).parent / "mutmut"
    done = subprocess.run([str(mutmut_bin), *args], cwd=WORKSPACE, text=True,
                          capture_output=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"mutmut {' '.join(args)} failed ({done.returncode}):\n"
                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def statuses() -> dict[str, str]:
    """Every mutant's status, from `mutmut results --all true` ("name: status" lines)."""
    found = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status.strip()
    return found


def main() -> int:
    build_workspace()
    run = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "run"], cwd=WORKSPACE,
                         check=False)
    if run.returncode != 0:
        print(f"mutmut run exited {run.returncode}")
        return 1
    found = statuses()
    if not found:
        print("no mutants found: is mutmut configured right?")
        return 1
    killed = [name for name, status in found.items() if status in KILLED]
    survived = sorted(name for name, status in found.items() if status not in KILLED)
    score = len(killed) / len(found)
    listed = set(MUTANT_NAME.findall(LISTED.read_text())) if LISTED.exists() else set()
    unexplained = [name for name in survived if name not in listed]
    stale = sorted(listed - set(survived))
    print(f"\nmutation score {score:.1%}: {len(killed)} of {len(found)} mutants killed, "
          f"{len(survived)} survived ({len(survived) - len(unexplained)} listed as equivalent "
          f"in docs/mutation.md)")
    for name in survived:
        print(f"  survived: {name} ({found[name]}){'' if name in listed else '  NOT LISTED'}")
    for name in stale:
        print(f"  listed in docs/mutation.md but killed or gone now: {name}")
    ok = score >= MIN_SCORE and not unexplained and not stale
    print("ok" if ok else f"FAILED: needs a score >= {MIN_SCORE:.0%}, every survivor listed, "
          "no stale entry")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
