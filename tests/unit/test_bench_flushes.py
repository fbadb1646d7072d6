"""make bench's figures for PostgreSQL's WAL flushes (bench/run.py): requests per flush and the
mean time of one flush between two readings of pg_stat_wal."""

from bench.run import flush_figures


def test_requests_per_flush_and_the_mean_flush() -> None:
    assert flush_figures((100, 50.0), (600, 400.0), 2_000) == (4.0, 0.7)


def test_no_flush_gives_zeros_not_a_division_by_zero() -> None:
    assert flush_figures((100, 50.0), (100, 50.0), 3_000) == (0.0, 0.0)


def test_flushes_that_were_not_timed_give_no_time() -> None:
    # track_wal_io_timing off: PostgreSQL counts the flushes but adds no time.
    assert flush_figures((10, 0.0), (30, 0.0), 60) == (3.0, 0.0)
