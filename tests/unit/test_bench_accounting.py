"""make bench's CPU accounting of processes other than the stack's (bench/run.py): a process
that ends during a run counts only the CPU it used during the run, even when the process that
reaps it ended too."""

from bench.run import others_cpu
from local.twin import TICKS, ProcessSample


def sample(processes: dict[int, tuple[int, int]]) -> ProcessSample:
    """{pid: (parent, ticks)}"""
    return ProcessSample({pid: parent for pid, (parent, _) in processes.items()},
                         {pid: ticks for pid, (_, ticks) in processes.items()})


def test_a_chain_that_ends_during_the_run_counts_only_its_time_in_the_run() -> None:
    # make (10) runs sh (11) runs mypy (12); mypy had used 100 ticks before the run and 50 in
    # it; both end, and make's reaped-children ticks get sh's whole life, mypy's included.
    before = sample({1: (0, 0), 10: (1, 5), 11: (10, 1), 12: (11, 100)})
    after = sample({1: (0, 0), 10: (1, 5 + 1 + 100 + 50)})
    counted = others_cpu(before, after, ours=set()) * TICKS
    assert counted == 50, f"{counted} ticks: the chain's life before the run was counted"


def test_our_own_processes_do_not_count_even_when_they_end() -> None:
    # This process (20) and its child (21, wrk) are ours; 30 is another program.
    before = sample({1: (0, 0), 20: (1, 10), 21: (20, 40), 30: (1, 7)})
    after = sample({1: (0, 0), 20: (1, 10 + 40 + 25), 30: (1, 7 + 3)})
    assert others_cpu(before, after, ours={20, 21}) * TICKS == 3


def test_a_process_started_during_the_run_counts_whole() -> None:
    before = sample({1: (0, 0)})
    after = sample({1: (0, 0), 40: (1, 12)})
    assert others_cpu(before, after, ours=set()) * TICKS == 12
