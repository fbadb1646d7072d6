"""The one load generator of the tests: POST /predict from several threads through nginx,
recording what the service acknowledged and when.

Every request carries a unique salary (its load's base plus its sequence number), so
afterwards the database can be checked against the acknowledgements: each 200's
prediction_id must be there, with that salary, exactly once. Bounded (`start(seconds)`) or
until the `with` block ends.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from local.twin import Stack
from tests.support.clients import https_client

# Above the data set's salaries; each load takes its own SALARY_SPAN, request i sends base + i.
FIRST_SALARY_BASE = 5_000_000
SALARY_SPAN = 100_000
_bases = iter(range(FIRST_SALARY_BASE, 10_000_000, SALARY_SPAN))


@dataclass
class Outcome:
    sent_at: float  # time.monotonic() when the request left
    status: int  # 0: no HTTP answer (connection reset, timeout)
    salary: int
    prediction_id: int | None = None
    body: str = ""
    answered_at: float = 0.0  # time.monotonic() when the answer arrived
    model_version: int | None = None  # of a 200
    sent_wall: float = 0.0  # time.time() when the request left (to compare with the database)


@dataclass
class Load:
    stack: Stack
    threads: int = 6
    timeout: float = 15.0
    since_id: int = 0  # the log's last id before the load began
    extra: dict[str, Any] = field(default_factory=dict)  # more inputs for every request
    outcomes: list[Outcome] = field(default_factory=list)
    salary_base: int = field(default_factory=lambda: next(_bases))
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _next_salary(self) -> int:
        with self._lock:
            self._counter += 1
            return self.salary_base + self._counter

    def _required_inputs(self) -> dict[str, Any]:
        """Every input the served version requires, at its example value (GET /model), so a
        required input added to the API needs no change here."""
        with https_client(self.stack, timeout=self.timeout) as client:
            inputs = client.get("/model").json()["inputs"]
        return {item["name"]: item["example"] for item in inputs if item["required"]}

    def _worker(self, deadline: float, base: dict[str, Any]) -> None:
        with https_client(self.stack, timeout=self.timeout) as client:
            while time.monotonic() < deadline and not self._stop.is_set():
                salary = self._next_salary()
                sent, sent_wall = time.monotonic(), time.time()
                try:
                    response = client.post("/predict", json={
                        **base, "age": 40, "salary": salary, **self.extra})
                except httpx.HTTPError:
                    outcome = Outcome(sent, 0, salary, sent_wall=sent_wall)
                else:
                    outcome = Outcome(sent, response.status_code, salary, body=response.text,
                                      answered_at=time.monotonic(), sent_wall=sent_wall)
                    if response.status_code == 200:
                        answer = response.json()
                        outcome.prediction_id = answer["prediction_id"]
                        outcome.model_version = answer["model_version"]
                with self._lock:
                    self.outcomes.append(outcome)

    def start(self, seconds: float = float("inf")) -> list[threading.Thread]:
        deadline = time.monotonic() + seconds
        base = self._required_inputs()
        workers = [threading.Thread(target=self._worker, args=(deadline, base), daemon=True)
                   for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        self._workers += workers
        return workers

    def __enter__(self) -> "Load":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def statuses(self) -> Counter[int]:
        return Counter(outcome.status for outcome in self.outcomes)

    def acknowledged(self, before: float = float("inf")) -> dict[int, int]:
        """prediction_id -> salary, for every 200 (answered before `before`)."""
        return {o.prediction_id: o.salary for o in self.outcomes
                if o.prediction_id is not None and o.answered_at < before}

    def first_success_after(self, moment: float) -> float | None:
        times = [o.sent_at for o in self.outcomes if o.status == 200 and o.sent_at >= moment]
        return min(times) - moment if times else None
