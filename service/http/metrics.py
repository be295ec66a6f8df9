"""Prometheus metrics: requests by route and status, latency, and the connection pool.

Each worker process keeps its own registry; scrape every worker, or run one
worker per container as most platforms do.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "rls_iam_http_requests",
    "HTTP requests by route template, method and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "rls_iam_http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


# The series of each (method, route, status) seen: labels() looks them up by
# joining and hashing the values under a lock, on every request otherwise.
# Bounded, as any method a client sends is a label value.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_SERIES_MAX = 1000


def observe(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        series = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        if len(_SERIES) < _SERIES_MAX:
            _SERIES[key] = series
    series[0].inc()
    series[1].observe(seconds)


class PoolCollector(Collector):
    """psycopg-pool's own statistics, read at scrape time, of the app's pool."""

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool[Any] | None = None

    def collect(self) -> Any:
        if self.pool is None:
            return
        stats = self.pool.get_stats()
        for key in ("pool_size", "pool_available", "requests_waiting", "pool_min", "pool_max"):
            gauge = GaugeMetricFamily(f"rls_iam_db_{key}", f"psycopg-pool {key}.")
            gauge.add_metric([], float(stats.get(key, 0)))
            yield gauge
        for key in ("requests_num", "requests_errors", "connections_num", "connections_errors"):
            if key in stats:
                gauge = GaugeMetricFamily(f"rls_iam_db_{key}", f"psycopg-pool {key} (cumulative).")
                gauge.add_metric([], float(stats[key]))
                yield gauge


_POOL = PoolCollector()
REGISTRY.register(_POOL)


def register_pool(pool: AsyncConnectionPool[Any]) -> None:
    """One app per process in production; in tests the newest app's pool is reported."""
    _POOL.pool = pool


router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
