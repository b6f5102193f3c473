"""What a worker reads before it claims its batch: one statement, the batch with its run's settings."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync import pipeline
from employes_sync.employes.simulator import Simulator
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store.queries import Q
from employes_sync.worker import process_batch
from tests.fixtures.settings import settings_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent from this process but the pool's liveness check."""
    statements: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if str(query).strip().upper() != "SELECT 1":
            statements.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
    return statements


async def test_a_worker_reads_its_batch_and_run_in_one_statement_before_its_claim(
    simulator: Simulator, store_pool: AsyncConnectionPool, sent: list[str]
) -> None:
    """It read the batch, then its run: two round trips per attempt (at 1,000 employees, 40)."""
    started = await pipeline.start_run(settings_for(simulator), store_pool, simulator.config.token)
    sent.clear()
    outcome = await process_batch(store_pool, started.batch_ids[0], simulator.config.token)
    assert outcome.status == "completed", outcome.error
    claim = sent.index(Q.claim_batch)
    assert sent[:claim] == [Q.batch_and_run_settings]


async def test_a_batch_without_a_run_or_without_a_row_is_told_apart(store_pool: AsyncConnectionPool) -> None:
    run_id = await runs_store.start_run(store_pool, "local/w", "c", "test", "background", {})
    (batch,) = await queue_store.enqueue(store_pool, "local/w", run_id, [["e1"]])
    (orphan,) = await queue_store.enqueue(store_pool, "local/w", None, [["e2"]])
    found = await queue_store.batch_and_run(store_pool, batch.id)
    assert found == queue_store.BatchRun("pending", True, {})
    assert await queue_store.batch_and_run(store_pool, orphan.id) == queue_store.BatchRun(
        "pending", False, None
    )
    with pytest.raises(LookupError, match="belongs to no run"):
        await process_batch(store_pool, orphan.id, "token")
    with pytest.raises(LookupError, match="does not exist"):
        await process_batch(store_pool, "00000000-0000-4000-8000-000000000009", "token")
