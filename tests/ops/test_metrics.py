"""GET /metrics: Prometheus text with request counts and latency by route template, and the pool.

The registry is per process and the session's other apps count into it too,
so every assertion about a counter is about the change between two scrapes
around this test's own requests, on labels no other test uses at that moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.http.app import create_app
from tests.support.api import make_settings, register

if TYPE_CHECKING:
    # Imported for annotations only: pytest would try to collect a Test* class.
    from tests.support.database import TestDatabase

POOL_MIN = 1
POOL_MAX = 7  # a size no other app of the session uses: the gauges are this app's pool

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> tuple[Samples, str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, response.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics_client(database: TestDatabase) -> Iterator[TestClient]:
    settings = make_settings(
        database, database_pool_min_size=POOL_MIN, database_pool_max_size=POOL_MAX
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_request_counter_counts_by_method_route_template_and_status(
    metrics_client: TestClient,
) -> None:
    actor = register(metrics_client, "metrics")
    created = metrics_client.post("/projects", json={"name": "Metered"}, headers=actor.headers)
    assert created.status_code == 201
    project = created.json()["id"]
    before, _ = scrape(metrics_client)

    for _ in range(3):
        assert metrics_client.get(f"/projects/{project}", headers=actor.headers).status_code == 200
    missing = metrics_client.get(f"/projects/{uuid.uuid4()}", headers=actor.headers)
    assert missing.status_code == 404
    assert metrics_client.get(f"/projects/{project}").status_code == 401

    after, text = scrape(metrics_client)
    name = "rls_iam_http_requests_total"
    route = "/projects/{project_id}"
    for status, expected in (("200", 3), ("404", 1), ("401", 1)):
        labels = {"method": "GET", "route": route, "status": status}
        assert value(after, name, **labels) - value(before, name, **labels) == expected, status
    # Route templates, never raw paths: one series per route, whatever the ids.
    assert project not in text


def test_unmatched_paths_share_one_series(metrics_client: TestClient) -> None:
    before, _ = scrape(metrics_client)
    paths = [f"/no-such-path/{uuid.uuid4()}" for _ in range(2)]
    for path in paths:
        assert metrics_client.get(path).status_code == 404
    after, text = scrape(metrics_client)
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    name = "rls_iam_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 2
    assert all(path not in text for path in paths)


def test_latency_histogram_observes_each_request(metrics_client: TestClient) -> None:
    actor = register(metrics_client, "latency")
    before, _ = scrape(metrics_client)
    for _ in range(4):
        assert metrics_client.get("/projects", headers=actor.headers).status_code == 200
    after, _ = scrape(metrics_client)

    base = "rls_iam_http_request_duration_seconds"
    labels = {"method": "GET", "route": "/projects"}
    assert value(after, f"{base}_count", **labels) - value(before, f"{base}_count", **labels) == 4
    assert value(after, f"{base}_sum", **labels) > value(before, f"{base}_sum", **labels)
    infinite = value(after, f"{base}_bucket", le="+Inf", **labels)
    assert infinite == value(after, f"{base}_count", **labels)
    buckets = sorted(
        float(dict(key[1])["le"])
        for key in after
        if key[0] == f"{base}_bucket" and dict(key[1]).get("route") == "/projects"
    )
    assert len(buckets) > 3, "a histogram, not a single counter"


def test_pool_gauges_report_this_apps_pool(metrics_client: TestClient) -> None:
    actor = register(metrics_client, "pool")
    assert metrics_client.get("/projects", headers=actor.headers).status_code == 200
    samples, _ = scrape(metrics_client)
    assert value(samples, "rls_iam_db_pool_min") == POOL_MIN
    assert value(samples, "rls_iam_db_pool_max") == POOL_MAX
    size = value(samples, "rls_iam_db_pool_size")
    available = value(samples, "rls_iam_db_pool_available")
    assert POOL_MIN <= size <= POOL_MAX
    assert 0 <= available <= size
    assert ("rls_iam_db_requests_waiting", frozenset()) in samples
