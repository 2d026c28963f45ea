"""The server's Prometheus metrics (one registry per app, so that several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("bertkit_requests", "HTTP requests answered", ["route", "status"], registry=r)
        self.errors = Counter("bertkit_errors", "Requests answered with a 4xx/5xx status", ["route", "status"],
                              registry=r)
        self.latency = Histogram("bertkit_request_latency_seconds", "Time from request to response", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("bertkit_queue_depth", "Requests waiting for a batch", ["model"], registry=r)
        self.batch_size = Histogram("bertkit_batch_size", "Inputs per forward batch", ["model"],
                                    buckets=SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("bertkit_batch_tokens", "Padded tokens per forward batch", ["model"],
                                      buckets=tuple(64 * 2 ** i for i in range(12)), registry=r)
        self.batch_seconds = Histogram("bertkit_batch_seconds", "Forward time per batch", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=r)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        if status >= 400:
            self.errors.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observer(self, model: str):
        def observe(size: int, tokens: int, seconds: float) -> None:
            self.batch_size.labels(model).observe(size)
            self.batch_tokens.labels(model).observe(tokens)
            self.batch_seconds.labels(model).observe(seconds)

        return observe

    def render(self) -> bytes:
        return generate_latest(self.registry)
