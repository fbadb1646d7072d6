"""Prometheus metrics, correct under gunicorn's several worker processes.

With PROMETHEUS_MULTIPROC_DIR set (the image and the twin set it to a tmpfs folder), every
worker writes its samples to memory-mapped files there and /metrics merges all of them, so a
scrape that lands on one worker still counts every worker's requests. gunicorn's master
empties the folder when it starts and marks a dead worker's files in its child_exit hook
(api/gunicorn.conf.py). Without the variable (one process: tests with TestClient), the
samples stay in memory.

The metrics are built per application (`Metrics()` in create_app) in their own registry:
nothing is registered at import, and two apps in one test process do not collide.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.domain.figures import LiveFigures

# Request latency buckets: the service answers in milliseconds; 15 s is nginx's read timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)
# Rows per log commit: one request alone, a group of single rows, up to a batch of 10,000.
BATCH_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1_000, 10_000, 20_000)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 3.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        registry = self.registry
        self.requests = Counter(
            "http_requests", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=registry)
        self.latency = Histogram(
            "http_request_duration_seconds", "Time from request to response start.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.predictions = Counter(
            "predictions", "Predictions committed to the log, by model version and class.",
            ["model_version", "purchased"], registry=registry)
        self.log_batch_rows = Histogram(
            "prediction_log_batch_rows", "Rows written by one group commit of the log writer.",
            buckets=BATCH_ROW_BUCKETS, registry=registry)
        self.log_commit_seconds = Histogram(
            "prediction_log_commit_seconds", "Time of one group commit (INSERT to COMMIT).",
            buckets=COMMIT_BUCKETS, registry=registry)
        self.log_commit_failures = Counter(
            "prediction_log_commit_failures", "Group commits that failed (their requests got 503).",
            registry=registry)
        self.database_unavailable = Counter(
            "database_unavailable_responses", "503 answers because the database was unusable.",
            ["route"], registry=registry)
        # One sample per live worker (its pid as a label): a rolling promotion shows as a mix.
        self.served_version = Gauge(
            "served_model_version", "The model version this worker serves.",
            multiprocess_mode="liveall", registry=registry)

    def observe_commit(self, model_version: int, rows: int, n_true: int, seconds: float) -> None:
        """One successful group commit of the prediction log: `n_true` of `rows` buy."""
        self.log_batch_rows.observe(rows)
        self.log_commit_seconds.observe(seconds)
        version = str(model_version)
        if n_true:
            self.predictions.labels(version, "true").inc(n_true)
        if rows - n_true:
            self.predictions.labels(version, "false").inc(rows - n_true)


class _WithExtra(Collector):
    """A registry's samples plus figures computed at scrape time (drift reads the database).
    Not registered anywhere, so concurrent scrapes cannot collide."""

    def __init__(self, registry: CollectorRegistry, extra: list[Metric]) -> None:
        self._registry = registry
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from self._extra


def drift_families(model_version: int, window_rows: int,
                   psi_by_feature: Mapping[str, float]) -> list[Metric]:
    psi = GaugeMetricFamily(
        "model_input_drift_psi",
        "Population stability index of recent inputs against the served version's training "
        "rows, per input (< 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted).",
        labels=["model_version", "feature"])
    for feature, value in psi_by_feature.items():
        psi.add_metric([str(model_version), feature], value)
    rows = GaugeMetricFamily("model_input_drift_window_rows",
                             "Logged inputs the drift figures were computed from.",
                             labels=["model_version"])
    rows.add_metric([str(model_version)], window_rows)
    return [psi, rows]


def live_families(live: Mapping[int, "LiveFigures"]) -> list[Metric]:
    """Outcomes recorded and live accuracy, per version (from the database, so every replica
    reports the same figures: aggregate them with max, not sum)."""
    outcomes = GaugeMetricFamily("model_outcomes", "Outcomes recorded for a version's "
                                 "logged predictions.", labels=["model_version"])
    accuracy = GaugeMetricFamily("model_live_accuracy", "Share of a version's predictions "
                                 "with an outcome that were right.", labels=["model_version"])
    for version, metrics in sorted(live.items()):
        outcomes.add_metric([str(version)], metrics.n_outcomes)
        if metrics.accuracy is not None:
            accuracy.add_metric([str(version)], metrics.accuracy)
    return [outcomes, accuracy]


def exposition(metrics: Metrics, multiprocess: bool, extra: list[Metric]) -> bytes:
    """The text format: every worker's samples (merged from the folder) plus `extra`."""
    if multiprocess:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = metrics.registry
    return generate_latest(_WithExtra(registry, extra))
