"""make profile's report of py-spy's samples (bench/profile.py)."""

from pathlib import Path

from bench.profile import read_folded, summarise


def test_a_profile_whose_samples_hold_bytes_that_are_not_utf8_is_still_summarised(
        tmp_path: Path) -> None:
    folded = tmp_path / "py-spy.txt"
    folded.write_bytes(b"run;send 3\nrun;fetch_\xf9column 2\n")
    summary = summarise(read_folded(folded))
    assert summary.startswith("5 samples")
    assert "60.0  send" in summary
    assert "40.0  fetch_\ufffdcolumn" in summary  # the odd byte replaced, the frame kept
