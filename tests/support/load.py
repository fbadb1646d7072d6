"""A steady /predict load in the background, remembering when each answer was acknowledged."""

import threading
import time
from dataclasses import dataclass, field

import httpx

from local.twin import Stack


@dataclass
class Acknowledged:
    prediction_id: int
    at: float  # time.monotonic() when the 200 arrived


@dataclass
class PredictLoad:
    stack: Stack
    clients: int = 3
    acknowledged: list[Acknowledged] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> "PredictLoad":
        for n in range(self.clients):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.stack.https_url, verify=self.stack.nginx.ssl_context(),
                          timeout=20) as client:
            i = 0
            while not self._stop.is_set():
                i += 1
                response = client.post("/predict", json={"age": 20 + n, "salary": i})
                with self._lock:
                    self.statuses.append(response.status_code)
                    if response.status_code == 200:
                        self.acknowledged.append(
                            Acknowledged(response.json()["prediction_id"], time.monotonic()))
