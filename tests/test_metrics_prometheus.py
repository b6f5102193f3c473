"""A local run, scraped by a real Prometheus: every dashboard panel and every alert rule gets data.

The run is `sync_locally` in this process (the same code as `employes-sync sync`) with its metrics
endpoint, and worker subprocesses doing the batches. Prometheus itself judges the dashboard: each
panel's query, with Grafana's variables filled in, must return a value.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import sync_locally
from employes_sync.metrics import MetricsServer, observe_api_response, serve_metrics
from employes_sync.settings import SyncSettings
from tests.fixtures.prometheus import (
    RULES,
    PrometheusServer,
    dashboard_exprs,
    load_dashboard,
    load_rules,
    metric_names,
    rule_exprs,
    substitute,
)
from tests.fixtures.store import migrated_pool

pytestmark = pytest.mark.slow

VARIABLES = {"namespace": "local", "name": "local"}


def scrape_names(port: int) -> set[str]:
    """Every sample name a real scrape exposes (`_bucket`, `_sum`, `_count` and `_total` included)."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        sample.name for family in text_string_to_metric_families(response.text) for sample in family.samples
    }


@pytest.fixture
def metrics_server(database_url: str) -> Iterator[MetricsServer]:
    server = serve_metrics(0, database_url, addr="127.0.0.1", ttl=0.5)
    yield server
    server.close()


async def test_a_local_run_gives_every_panel_and_rule_data(
    database_url: str,
    make_simulator: Callable[..., Simulator],
    start_prometheus: Callable[..., PrometheusServer],
    metrics_server: MetricsServer,
) -> None:
    prometheus = start_prometheus([f"127.0.0.1:{metrics_server.port}"], [RULES])
    prometheus.wait_until("the first scrape", prometheus.targets_up)

    # Slow enough that Prometheus sees the run under way (queued batches, zeros before increments).
    sim = make_simulator(employees=78, requests_per_second=60.0, latency_ms=5.0)
    assert sim.url is not None
    settings = SyncSettings(
        scope=f"local/{sim.config.company_id}",
        company_id=sim.config.company_id,
        api_url=sim.url,
        requests_per_second=60.0,
        batch_size=10,
        backoff_seconds=0.2,
        backoff_max_seconds=1.0,
        trigger="cli",
    )
    async with migrated_pool(database_url) as pool:
        prometheus.wait_until(
            "the database collector", lambda: bool(prometheus.query("employes_sync_database_up == 1"))
        )
        summary = await sync_locally(
            settings, pool, database_url, sim.config.token, workers=2, on_response=observe_api_response
        )
    assert summary.succeeded, summary.error

    # A real scrape after the run holds every metric the dashboard and the rules name (once the
    # collector's cache, `ttl` seconds, has caught up with the run's end).
    exprs = dashboard_exprs(load_dashboard()) + rule_exprs(load_rules())
    referenced = {name for _, expr in exprs for name in metric_names(expr)}
    assert referenced and all(name.startswith("employes_sync_") for name in referenced), referenced
    for _ in range(25):
        missing = referenced - scrape_names(metrics_server.port)
        if not missing:
            break
        await asyncio.sleep(0.2)
    assert missing == set()

    # Prometheus has the final state once it scraped twice after the run.
    finished = time.time()
    prometheus.wait_until(
        "a scrape after the run",
        lambda: (
            bool(prometheus.query("employes_sync_last_success_timestamp_seconds"))
            and bool(prometheus.query(f"timestamp(employes_sync_database_up) > {finished + 1.0}"))
        ),
    )

    empty: list[str] = []
    for where, expr in dashboard_exprs(load_dashboard()):
        result = prometheus.query(substitute(expr, VARIABLES))
        values = [float(sample["value"][1]) for sample in result]
        if not values or all(math.isnan(v) for v in values):
            empty.append(f"{where}: {substitute(expr, VARIABLES)} -> {result}")
    assert not empty, "panels without data:\n" + "\n".join(empty)

    # The dashboard's variables find the run's resource.
    for variable in ("namespace", "name"):
        values = prometheus.api(f"label/{variable}/values", **{"match[]": "employes_sync_queue_batches"})
        assert "local" in values

    # What the run did shows in the numbers, not only in their presence.
    def value(expr: str) -> float:
        (sample,) = prometheus.query(expr)
        return float(sample["value"][1])

    assert value('sum(employes_sync_queue_batches{state="completed"})') == 8  # 73 queued / 10
    assert value("sum(employes_sync_employees_synced_total)") == 78
    assert value('sum(employes_sync_raw_records_total{result="new"})') == 156
    assert value("sum(employes_sync_batch_attempts_total)") >= 8
    assert value('sum(employes_sync_runs_total{outcome="succeeded"})') >= 1
    assert value('sum(employes_sync_api_requests_total{endpoint="employees",status_class="2xx"})') >= 1

    # Prometheus evaluated every rule without an error, and a healthy run raises no alert.
    prometheus.wait_until("rule evaluation", lambda: all(r.get("lastEvaluation") for r in prometheus.rules()))
    rules = prometheus.rules()
    assert {r["name"] for r in rules} == {name for name, _ in rule_exprs(load_rules())}
    for rule in rules:
        assert rule["health"] == "ok", rule
        assert rule["state"] == "inactive", rule
