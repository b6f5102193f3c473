"""Worker processes push nothing, yet every API request they make reaches /metrics through PostgreSQL."""

from __future__ import annotations

from collections import Counter

from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import sync_locally
from employes_sync.metrics import start_metrics_server
from employes_sync.settings import SyncSettings
from tests.test_metrics import scrape


async def test_every_request_is_counted_once_in_process_or_by_a_worker(
    simulator: Simulator,
    database_url: str,
    store_pool: AsyncConnectionPool,
) -> None:
    assert simulator.url is not None
    settings = SyncSettings(
        scope=f"local/{simulator.config.company_id}",
        company_id=simulator.config.company_id,
        api_url=simulator.url,
        requests_per_second=500.0,
        batch_size=20,
    )
    in_process: Counter[str] = Counter()
    simulator.faults.fail_next(2, 503, endpoint="employments")  # retried: some 5xx among the 2xx
    simulator.stats.reset()

    summary = await sync_locally(
        settings,
        store_pool,
        database_url,
        simulator.config.token,
        on_response=lambda endpoint, status_class, seconds: in_process.update([status_class]),
    )
    assert summary.succeeded, summary.error

    server = start_metrics_server(0, lambda: {settings.scope: database_url}, addr="127.0.0.1")
    try:
        samples, _ = scrape(server.port)
    finally:
        server.close()
    workers: Counter[str] = Counter()
    for (metric, labels), count in samples.items():
        if metric == "employes_sync_worker_api_requests_total":
            assert dict(labels)["namespace"] == "local"
            workers[dict(labels)["status_class"]] += int(count)

    # The simulator saw exactly the requests counted by this process plus those the workers recorded.
    assert sum(workers.values()) > 0
    assert sum(in_process.values()) + sum(workers.values()) == simulator.stats.total
    assert in_process["5xx"] + workers["5xx"] == 2
