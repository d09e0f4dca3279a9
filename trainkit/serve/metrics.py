"""Prometheus metrics of the server (GET /metrics). With several worker processes the values are
summed across them with prometheus_client's multiprocess mode ($PROMETHEUS_MULTIPROC_DIR)."""
from __future__ import annotations

import os

LATENCY_BUCKETS = (.0005, .001, .002, .003, .005, .0075, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
ERROR_KINDS = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
               415: "unsupported_encoding", 500: "internal"}


class Metrics:
    """Every metric the server exports, in a registry of its own."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        self.requests = Counter("trainkit_serve_requests", "Inference requests answered, by model and HTTP status",
                                ["model", "status"], registry=r)
        self.errors = Counter("trainkit_serve_errors", "Inference requests refused or failed, by model and kind",
                              ["model", "kind"], registry=r)
        self.latency = Histogram("trainkit_serve_request_latency_seconds", "Inference request latency, by model",
                                 ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_rows = Histogram("trainkit_serve_batch_rows", "Rows per runtime call (dynamic batching)",
                                    ["model"], buckets=SIZE_BUCKETS, registry=r)
        self.batch_requests = Histogram("trainkit_serve_batch_requests", "Requests per runtime call",
                                        ["model"], buckets=SIZE_BUCKETS, registry=r)
        self.version = Gauge("trainkit_serve_model_version", "The version each model name serves now",
                             ["model"], registry=r, multiprocess_mode="livemax")
        self.inflight = Gauge("trainkit_serve_inflight_requests", "Inference requests being handled now",
                              registry=r, multiprocess_mode="livesum")
        self.reloads = Counter("trainkit_serve_alias_switches", "Alias moves followed, by model and result (ok|failed)",
                               ["model", "result"], registry=r)

    def request(self, model: str, status: int, seconds: float) -> None:
        self.requests.labels(model, str(status)).inc()
        self.latency.labels(model).observe(seconds)
        if status >= 400:
            self.errors.labels(model, ERROR_KINDS.get(status, str(status))).inc()

    def batch(self, model: str, rows: int, requests: int) -> None:
        self.batch_rows.labels(model).observe(rows)
        self.batch_requests.labels(model).observe(requests)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (merged over worker processes when there are several)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client.multiprocess import MultiProcessCollector

            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
