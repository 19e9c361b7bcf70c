"""Prometheus metrics, on a registry of their own so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "passgate_http_requests",
            "HTTP requests by endpoint, method and status code.",
            ["endpoint", "method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "passgate_http_request_duration_seconds",
            "HTTP request latency by endpoint.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.grants = Counter(
            "passgate_token_requests",
            "Token endpoint requests by grant type and outcome (ok or the OAuth error).",
            ["grant_type", "outcome"],
            registry=self.registry,
        )
        self.grant_latency = Histogram(
            "passgate_token_request_duration_seconds",
            "Token endpoint latency by grant type.",
            ["grant_type"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.logins = Counter(
            "passgate_logins",
            "Password logins by connector and outcome.",
            ["connector", "outcome"],
            registry=self.registry,
        )
