"""The metrics collector at many resources: one fixed set of statements per database, not per resource."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync.metrics.collector import read_database
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store


class CountingConnection:
    """A psycopg connection that counts the statements sent through it."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements = 0

    def execute(self, query: Any, params: Any = None) -> Any:
        self.statements += 1
        return self.conn.execute(query, params)


async def test_collector_statements_do_not_grow_with_resources(
    database_url: str, store_pool: AsyncConnectionPool
) -> None:
    scopes = [f"payroll/company-{i:03d}" for i in range(200)]
    for scope in scopes[:20]:  # some with data, most without: both cost the same
        run_id = await runs_store.start_run(store_pool, scope, "c", "created", "interactive")
        await queue_store.enqueue(store_pool, scope, run_id, [["e1", "e2"]])

    counts = {}
    with psycopg.connect(database_url, autocommit=True) as raw:
        for n in (1, 20, 200):
            conn = CountingConnection(raw)
            values = read_database(conn, scopes[:n])  # type: ignore[arg-type]
            counts[n] = conn.statements
            assert len(values) == n, "every served resource is in the result"
    assert counts[1] == counts[20] == counts[200] <= 6, counts
    pending = values[("payroll", "company-007")].queue.get("pending")
    assert pending == 1
