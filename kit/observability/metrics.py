"""Prometheus metrics, one registry per app so that two apps in one process never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

UNMATCHED_ROUTE = "<unmatched>"


class HttpMetrics:
    """Request count and latency, labelled by route template (``/v1/cases/{case_id}``).

    Raw paths would put identifiers in labels and give Prometheus one series per case.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "accord_http_requests",
            "HTTP requests handled, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "accord_http_request_duration_seconds",
            "Time from request start to response end, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )

        self.federation_refused = Counter(
            "accord_federation_refused",
            "Messages refused on receipt, by problem type and whether the sender was "
            "authenticated (signature and delivery attempt verified) when it was refused.",
            ["kind", "authenticated"],
            registry=self.registry,
        )

        self.webhook_attempts = Counter(
            "accord_webhook_attempts",
            "Webhook delivery attempts, by outcome: delivered, retry (failed, will retry), "
            "refused (the target's address is not allowed), failed (gave up) or cancelled. "
            "No agency, URL or event in the labels.",
            ["outcome"],
            registry=self.registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
