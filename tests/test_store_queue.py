"""The batch queue: concurrent claims, priority, backoff, lease rescue, the original SQL functions."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync.store import queue, runs
from tests.fixtures.store import claim_all_in_process, migrated_pool

SCOPE = "default/acme"


async def new_run(pool: AsyncConnectionPool, scope: str = SCOPE, mode: str = "background") -> int:
    return await runs.start_run(pool, scope, "company-1", "test", mode)


def chunks(n: int, size: int = 3, prefix: str = "e") -> list[list[str]]:
    return [[f"{prefix}{b}-{i}" for i in range(size)] for b in range(n)]


async def test_enqueue_numbers_batches_across_calls(store_pool: AsyncConnectionPool) -> None:
    run_id = await new_run(store_pool)
    first = await queue.enqueue(store_pool, SCOPE, run_id, chunks(2), priority=5, max_attempts=4)
    second = await queue.enqueue(store_pool, SCOPE, run_id, chunks(2, prefix="f"), priority=5, max_attempts=4)
    assert [b.batch_no for b in first + second] == [1, 2, 3, 4]
    assert first[0].employee_ids == ["e0-0", "e0-1", "e0-2"]
    assert all(b.status == "pending" and b.attempts == 0 and b.max_attempts == 4 for b in first)
    assert [b.id for b in await queue.run_batches(store_pool, run_id)] == [b.id for b in first + second]
    async with store_pool.connection() as conn:
        row = await (
            await conn.execute("SELECT job_type, payload FROM processing_queue WHERE batch_no = 1")
        ).fetchone()
    assert row is not None
    assert row[0] == "timeline_processing"
    assert row[1]["employee_ids"] == ["e0-0", "e0-1", "e0-2"] and row[1]["run_id"] == run_id


def test_processes_claiming_at_once_never_share_a_batch(database_url: str) -> None:

    async def setup() -> list[str]:
        async with migrated_pool(database_url) as pool:
            run_id = await new_run(pool)
            batches = await queue.enqueue(
                pool, SCOPE, run_id, chunks(120, size=1), priority=0, max_attempts=3
            )
            return [b.id for b in batches]

    ids = asyncio.run(setup())
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(6) as procs:
        barrier = manager.Barrier(6)
        claimed = procs.starmap(claim_all_in_process, [(database_url, barrier)] * 6)
    flat = [i for per_process in claimed for i in per_process]
    assert len(flat) == len(set(flat)), "a batch was claimed twice"
    assert sorted(flat) == sorted(ids)
    assert all(claimed), "every process held a claimed batch at once"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status, attempts, count(*) FROM processing_queue GROUP BY 1, 2"
        ).fetchall()
    assert rows == [("processing", 1, 120)]


async def test_claims_follow_priority_then_age(store_pool: AsyncConnectionPool) -> None:
    background = await queue.enqueue(store_pool, SCOPE, await new_run(store_pool), chunks(2), priority=0)
    other = "ns/interactive"  # one running run per scope: a second run is another scope's
    interactive = await queue.enqueue(
        store_pool, other, await new_run(store_pool, other, mode="interactive"), chunks(2), priority=10
    )
    order = []
    while (batch := await queue.claim_next(store_pool, lease_seconds=60)) is not None:
        order.append(batch.id)
    assert order == [b.id for b in interactive + background]


async def test_claim_next_by_scope(store_pool: AsyncConnectionPool) -> None:
    await queue.enqueue(store_pool, "ns/a", await new_run(store_pool, "ns/a"), chunks(1), priority=9)
    mine = await queue.enqueue(store_pool, "ns/b", await new_run(store_pool, "ns/b"), chunks(1))
    got = await queue.claim_next(store_pool, "ns/b", lease_seconds=60)
    assert got is not None and got.id == mine[0].id
    assert await queue.claim_next(store_pool, "ns/b", lease_seconds=60) is None
    assert await queue.counts(store_pool, "ns/a") == {
        "pending": 1,
        "processing": 0,
        "completed": 0,
        "failed": 0,
    }


async def test_claim_by_id_only_once(store_pool: AsyncConnectionPool) -> None:
    [batch] = await queue.enqueue(store_pool, SCOPE, await new_run(store_pool), chunks(1))
    first = await queue.claim(store_pool, batch.id, lease_seconds=30)
    assert first is not None and first.status == "processing" and first.attempts == 1
    assert first.lease_expires_at is not None and first.started_at is not None
    # a second Job for the same attempt gets nothing
    assert await queue.claim(store_pool, batch.id, lease_seconds=30) is None
    assert await queue.complete(store_pool, batch.id, {"events_created": 3})
    assert await queue.claim(store_pool, batch.id, lease_seconds=30) is None
    done = await queue.get(store_pool, batch.id)
    assert done is not None and done.status == "completed" and done.result == {"events_created": 3}
    assert done.lease_expires_at is None


async def test_fail_retries_with_backoff_then_fails_for_good(store_pool: AsyncConnectionPool) -> None:
    [batch] = await queue.enqueue(store_pool, SCOPE, await new_run(store_pool), chunks(1), max_attempts=3)
    expected_delays = [(5, 10), (10, 20)]  # base 10: attempt 1 -> 10 s, attempt 2 -> 20 s; jitter in [0.5, 1]
    for attempt, (low, high) in enumerate(expected_delays, start=1):
        async with store_pool.connection() as conn:
            await conn.execute("UPDATE processing_queue SET run_after = now() WHERE id = %s", [batch.id])
        claimed = await queue.claim(store_pool, batch.id, lease_seconds=30)
        assert claimed is not None and claimed.attempts == attempt
        outcome = await queue.fail(
            store_pool, batch.id, f"boom {attempt}", {"attempt": attempt}, backoff_base=10, backoff_max=600
        )
        assert outcome == "retrying"
        async with store_pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT status, extract(epoch FROM run_after - now()), error_message, error_details"
                    " FROM processing_queue WHERE id = %s",
                    [batch.id],
                )
            ).fetchone()
        assert row is not None
        assert row[0] == "pending"
        assert low - 0.01 <= float(row[1]) <= high + 0.01
        assert row[2] == f"boom {attempt}" and row[3] == {"attempt": attempt}
        # not due yet: neither kind of claim takes it
        assert await queue.claim(store_pool, batch.id, lease_seconds=30) is None
        assert await queue.claim_next(store_pool, lease_seconds=30) is None
    async with store_pool.connection() as conn:
        await conn.execute("UPDATE processing_queue SET run_after = now() WHERE id = %s", [batch.id])
    assert await queue.claim(store_pool, batch.id, lease_seconds=30) is not None
    assert (
        await queue.fail(store_pool, batch.id, "boom 3", None, backoff_base=10, backoff_max=600) == "failed"
    )
    final = await queue.get(store_pool, batch.id)
    assert final is not None
    assert (final.status, final.attempts, final.error_message) == ("failed", 3, "boom 3")
    assert final.completed_at is not None
    # a late report from a worker that lost its batch changes nothing
    assert await queue.fail(store_pool, batch.id, "late", None) == "stale"


async def test_retry_delay_doubles_per_attempt_under_a_cap_with_jitter(
    store_pool: AsyncConnectionPool,
) -> None:
    async with store_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT a, extract(epoch FROM batch_retry_delay(a, 5, 300))"
            " FROM generate_series(1, 20) AS a, generate_series(1, 50)"
        )
        delays = await cur.fetchall()
    for attempts, seconds in delays:
        full = min(300.0, 5.0 * 2 ** (attempts - 1))
        assert 0.5 * full <= float(seconds) <= full
    assert len({round(float(s), 6) for a, s in delays if a == 1}) > 1  # jittered, not fixed


async def test_expired_lease_counts_as_a_failed_attempt(store_pool: AsyncConnectionPool) -> None:
    a, b = await queue.enqueue(store_pool, SCOPE, await new_run(store_pool), chunks(2), max_attempts=2)
    await queue.claim(store_pool, a.id, lease_seconds=0.2)
    await queue.claim(store_pool, b.id, lease_seconds=60)
    await queue.set_job_name(store_pool, a.id, "esync-acme-r1-b1-a1")
    assert await queue.rescue_expired(store_pool) == 0
    await asyncio.sleep(0.3)
    assert await queue.heartbeat(store_pool, b.id, 60)
    assert await queue.rescue_expired(store_pool, "other/scope") == 0
    assert await queue.rescue_expired(store_pool, SCOPE, backoff_base=0, backoff_max=0) == 1
    rescued = await queue.get(store_pool, a.id)
    assert rescued is not None
    assert (rescued.status, rescued.attempts) == ("pending", 1)
    assert rescued.error_message == "worker lost: lease expired"
    # the lost worker's late heartbeat and completion are refused
    assert not await queue.heartbeat(store_pool, a.id, 60)
    assert not await queue.complete(store_pool, a.id, {})
    # second attempt lost too: attempts exhausted -> failed
    assert await queue.claim(store_pool, a.id, lease_seconds=0.1) is not None
    await asyncio.sleep(0.2)
    assert await queue.rescue_expired(store_pool) == 1
    final = await queue.get(store_pool, a.id)
    assert final is not None and (final.status, final.attempts) == ("failed", 2)
    untouched = await queue.get(store_pool, b.id)
    assert untouched is not None and untouched.status == "processing"


async def test_retry_failed_jobs_keeps_original_semantics(store_pool: AsyncConnectionPool) -> None:
    run_id = await new_run(store_pool)
    exhausted, retryable, stuck, fresh, waiting = await queue.enqueue(
        store_pool, SCOPE, run_id, chunks(5), max_attempts=3
    )
    async with store_pool.connection() as conn:
        await conn.execute(
            "UPDATE processing_queue SET status='failed', attempts=3 WHERE id=%s", [exhausted.id]
        )
        await conn.execute(
            "UPDATE processing_queue SET status='failed', attempts=1 WHERE id=%s", [retryable.id]
        )
        await conn.execute(
            "UPDATE processing_queue SET status='processing', attempts=1,"
            " started_at = now() - interval '10 minutes' WHERE id=%s",
            [stuck.id],
        )
        await conn.execute(
            "UPDATE processing_queue SET status='processing', attempts=1, started_at = now() WHERE id=%s",
            [fresh.id],
        )
        cur = await conn.execute("SELECT retry_failed_jobs('5 minutes')")
        assert await cur.fetchone() == (2,)
        rows = dict(await (await conn.execute("SELECT id::text, status FROM processing_queue")).fetchall())
    assert rows == {
        exhausted.id: "failed",
        retryable.id: "pending",
        stuck.id: "pending",
        fresh.id: "processing",
        waiting.id: "pending",
    }


async def test_counts_and_prune(store_pool: AsyncConnectionPool) -> None:
    run_id = await new_run(store_pool)
    done, failed, old_done, _pending = await queue.enqueue(
        store_pool, SCOPE, run_id, chunks(4), max_attempts=1
    )
    for batch in (done, failed, old_done):
        await queue.claim(store_pool, batch.id)
    await queue.complete(store_pool, done.id, {})
    await queue.complete(store_pool, old_done.id, {})
    assert await queue.fail(store_pool, failed.id, "x", None) == "failed"
    assert await queue.counts(store_pool) == {"pending": 1, "processing": 0, "completed": 2, "failed": 1}
    async with store_pool.connection() as conn:
        await conn.execute(
            "UPDATE processing_queue SET completed_at = now() - interval '8 days' WHERE id = ANY(%s)",
            [[old_done.id, failed.id]],
        )
    assert await queue.prune(store_pool, timedelta(days=7), scope="other") == 0
    assert await queue.prune(store_pool, timedelta(days=7)) == 2
    assert await queue.counts(store_pool) == {"pending": 1, "processing": 0, "completed": 1, "failed": 0}
    async with store_pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT job_type, status, COUNT(*), AVG(processing_time_ms) >= 0 FROM processing_queue"
                " WHERE status = 'completed' GROUP BY job_type, status"
            )
        ).fetchone()
    assert row == ("timeline_processing", "completed", 1, True)
