"""The PostgreSQL-shared rate limit: processes acquiring at once get evenly spaced slots."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.store.ratelimit import PostgresRateLimiter
from tests.fixtures.store import acquire_in_process, migrated_pool

TOLERANCE = timedelta(microseconds=1)


def test_processes_share_one_even_spacing(database_url: str) -> None:
    import asyncio

    async def setup() -> None:
        async with migrated_pool(database_url):
            pass

    asyncio.run(setup())
    rate, per_process, processes = 20.0, 5, 4
    interval = timedelta(seconds=1 / rate)
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 1.5
    with ctx.Pool(processes) as procs:
        results = procs.starmap(
            acquire_in_process, [(database_url, "ns/acme", rate, per_process, start_at)] * processes
        )
    slots = sorted(slot for per in results for slot, _ in per)
    assert len(slots) == len(set(slots)) == processes * per_process
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= interval - TOLERANCE, "two requests closer than 1/rate"
    # every acquire returned only once its slot had come, by the database's clock
    for per in results:
        for slot, after in per:
            assert after >= slot - timedelta(milliseconds=5)
    # in 1 s of contention the 20 slots are packed: about 1/rate apart, not idling
    assert slots[-1] - slots[0] <= interval * (len(slots) - 1) + timedelta(seconds=0.5)


async def test_keys_are_independent(store_pool: AsyncConnectionPool) -> None:
    a = PostgresRateLimiter(store_pool, "ns/a", 1.0)
    b = PostgresRateLimiter(store_pool, "ns/b", 1.0)
    first_a, second_a, first_b = await a.reserve(), await a.reserve(), await b.reserve()
    assert first_a.wait_seconds == 0 and first_b.wait_seconds == 0
    assert second_a.slot - first_a.slot == timedelta(seconds=1)
    assert 0.9 < second_a.wait_seconds <= 1.0


async def test_idle_key_does_not_bank_a_burst(store_pool: AsyncConnectionPool) -> None:
    limiter = PostgresRateLimiter(store_pool, "ns/a", 50.0)
    await limiter.acquire()
    await limiter.acquire()
    async with store_pool.connection() as conn:
        await conn.execute("UPDATE rate_limits SET next_slot = next_slot - interval '1 hour'")
    fresh = await limiter.reserve()
    assert fresh.wait_seconds == 0
    following = await limiter.reserve()
    assert following.slot - fresh.slot == timedelta(seconds=0.02)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PostgresRateLimiter(None, "k", 0)  # type: ignore[arg-type]
