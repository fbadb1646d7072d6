"""make bench reads PostgreSQL's WAL flushes from a real server (bench/run.py): once it has
turned the timing on, every committed write is counted with the time its flush took."""

from bench.run import flush_figures, time_wal_flushes, wal_counters
from tests.support.servers import Database

PROBE_DB = "bench_flush_probe"


def test_committed_writes_are_counted_with_their_flush_time(database: Database) -> None:
    server = database.server
    server.psql(f"CREATE DATABASE {PROBE_DB}")
    time_wal_flushes(server)
    try:
        server.psql("CREATE TABLE probe (n int)", database=PROBE_DB)
        before = wal_counters(server)
        for n in range(5):  # each psql a session of its own: it reports its figures as it ends
            server.psql(f"INSERT INTO probe VALUES ({n})", database=PROBE_DB)
        after = wal_counters(server)
        per_flush, flush_ms = flush_figures(before, after, 5)
        assert after[0] - before[0] >= 5, (before, after)  # synchronous_commit: one per commit
        assert 0 < per_flush <= 1
        assert flush_ms > 0, "flushes counted without their time: the timing is off"
    finally:
        server.psql("ALTER SYSTEM RESET track_wal_io_timing")
        server.psql("SELECT pg_reload_conf()")
        server.psql(f"DROP DATABASE {PROBE_DB}")
