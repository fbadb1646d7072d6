"""make bench-compare's report (bench/compare.py): a stack that runs both loads faster, the code
unchanged, must not look like a faster /predict in the column issue 19's figure is read from."""

import pytest

from bench.compare import ROLES, Variant, report


def variant(text: str, floor_rps: list[float], predict_rps: list[float]) -> Variant:
    measured = object.__new__(Variant)  # no stack: the report reads only the runs
    measured.text = text

    def run(rps: float) -> dict[str, float]:
        return {"rps": rps, "p99_ms": 10.0, "errors": 0,
                **{f"cpu_{role}_ms": 0.1 for role in ROLES}}

    measured.runs = {"floor": [run(r) for r in floor_rps],
                     "predict": [run(r) for r in predict_rps]}
    return measured


def test_a_stack_faster_at_both_loads_is_even_against_the_floor(
        capsys: pytest.CaptureFixture[str]) -> None:
    base = variant("main", [4000, 3600, 4200], [2600, 2400, 2800])
    same_code_faster_stack = variant("copy", [4480, 4032, 4704], [2912, 2688, 3136])
    report([base, same_code_faster_stack], rounds=3, seconds=5)
    row = capsys.readouterr().out.splitlines()[-1].split(" | ")
    assert row[0] == "| copy"
    assert row[4] == "1.120 (1.12 to 1.12)"  # /predict ÷ main: the stack, not the code
    assert row[5] == "1.000 (1.00 to 1.00)", "a stack faster at both loads looked like faster code"


def test_against_the_floor_pairs_each_round_with_the_same_round_of_the_first_variant(
        capsys: pytest.CaptureFixture[str]) -> None:
    base = variant("main", [4000, 4000], [2000, 3000])
    better = variant("new", [4000, 4000], [2200, 3000])
    report([base, better], rounds=2, seconds=5)
    row = capsys.readouterr().out.splitlines()[-1].split(" | ")
    assert row[5] == "1.050 (1.00 to 1.10)"


def test_a_first_variant_that_served_nothing_leaves_the_comparison_empty_not_a_crash(
        capsys: pytest.CaptureFixture[str]) -> None:
    down = variant("main", [4000, 0], [2000, 0])
    down.runs["floor"][1]["errors"] = 3  # wrk's connect errors: its own row says so
    other = variant("new", [4000, 4000], [2200, 3000])
    report([down, other], rounds=2, seconds=5)
    rows = capsys.readouterr().out.splitlines()
    assert "failed requests: not comparable" in rows[-2]
    assert rows[-1].split(" | ")[4:6] == ["n/a", "n/a"]
