"""A bounded load on POST /predict that records what the service acknowledged.

Every request carries a unique salary (its load's base plus its sequence number), so
afterwards the database can be checked against the acknowledgements: each 200's
prediction_id must be there, with that salary, exactly once.
"""

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

# Above the data set's salaries; each load takes its own million, request i sends base + i.
FIRST_SALARY_BASE = 5_000_000
_bases = iter(range(FIRST_SALARY_BASE, 10_000_000, 1_000_000))


@dataclass
class Outcome:
    sent_at: float
    status: int  # 0: no HTTP answer (connection reset, timeout)
    salary: int
    prediction_id: int | None = None
    body: str = ""


@dataclass
class Load:
    base_url: str
    ssl_context: ssl.SSLContext
    threads: int = 6
    timeout: float = 15.0
    outcomes: list[Outcome] = field(default_factory=list)
    salary_base: int = field(default_factory=lambda: next(_bases))
    since_id: int = 0  # the log's last id before the load began
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _next_salary(self) -> int:
        with self._lock:
            self._counter += 1
            return self.salary_base + self._counter

    def _worker(self, deadline: float) -> None:
        with httpx.Client(base_url=self.base_url, verify=self.ssl_context,
                          timeout=self.timeout) as client:
            while time.monotonic() < deadline:
                salary = self._next_salary()
                sent = time.monotonic()
                try:
                    response = client.post("/predict", json={"age": 40, "salary": salary})
                except httpx.HTTPError:
                    outcome = Outcome(sent, 0, salary)
                else:
                    outcome = Outcome(sent, response.status_code, salary, body=response.text)
                    if response.status_code == 200:
                        outcome.prediction_id = response.json()["prediction_id"]
                with self._lock:
                    self.outcomes.append(outcome)

    def start(self, seconds: float) -> list[threading.Thread]:
        deadline = time.monotonic() + seconds
        workers = [threading.Thread(target=self._worker, args=(deadline,), daemon=True)
                   for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        return workers

    def statuses(self) -> Counter[int]:
        return Counter(outcome.status for outcome in self.outcomes)

    def acknowledged(self) -> dict[int, int]:
        """prediction_id -> salary, for every 200."""
        return {o.prediction_id: o.salary for o in self.outcomes if o.prediction_id is not None}

    def first_success_after(self, moment: float) -> float | None:
        times = [o.sent_at for o in self.outcomes if o.status == 200 and o.sent_at >= moment]
        return min(times) - moment if times else None
