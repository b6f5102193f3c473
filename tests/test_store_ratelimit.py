"""The PostgreSQL-shared rate limit: processes acquiring at once get evenly spaced slots."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import multiprocessing
import time
from datetime import datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.store.ratelimit import INTERACTIVE_HOLD, PostgresRateLimiter, Reservation, credential_key
from tests.fixtures.store import acquire_in_process, migrated_pool

TOLERANCE = timedelta(microseconds=1)


def test_processes_share_one_even_spacing(database_url: str) -> None:
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
    slots = sorted(slot for per in results for slot, _, _ in per)
    assert len(slots) == len(set(slots)) == processes * per_process
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= interval - TOLERANCE, "two requests closer than 1/rate"
    # every acquire returned only once its slot had come, by the database's clock
    for per in results:
        for slot, after, _ in per:
            assert after >= slot - timedelta(milliseconds=5)
    # packed, not idling: a slot more than 1/rate after the one before was free when asked (no wait), so
    # nobody was held back while a slot stood empty (how fast the processes arrive is the machine's)
    waited = {slot: wait for per in results for slot, _, wait in per}
    late = [b for a, b in itertools.pairwise(slots) if b - a > interval + TOLERANCE]
    assert all(waited[slot] == 0 for slot in late), [(slot, waited[slot]) for slot in late]
    assert any(wait > 0 for wait in waited.values()), "nobody was ever held back: no contention tested"


async def test_keys_are_independent(store_pool: AsyncConnectionPool) -> None:
    a = PostgresRateLimiter(store_pool, "ns/a", 1.0)
    b = PostgresRateLimiter(store_pool, "ns/b", 1.0)
    first_a, second_a, first_b = await a.reserve(), await a.reserve(), await b.reserve()
    assert first_a.wait_seconds == 0 and first_b.wait_seconds == 0
    assert second_a.slot - first_a.slot == timedelta(seconds=1)
    assert 0 < second_a.wait_seconds <= 1.0  # a waits for its slot (how long: the clock between calls)


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


def test_credential_key_is_a_digest_of_the_token_never_the_token() -> None:
    token = "secret-token-123"
    key = credential_key(token)
    assert key == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert token not in key
    assert credential_key(token + "\n") == key, "a Secret file's newline is the same credential"
    assert credential_key("another-token") != key


async def test_background_takes_only_a_slot_that_is_due(store_pool: AsyncConnectionPool) -> None:
    background = PostgresRateLimiter(store_pool, "k", 1.0, interactive=False)
    first = await background.try_reserve_due()
    assert isinstance(first, Reservation) and first.wait_seconds == 0
    # the next slot is a whole interval away: a background request does not queue for it
    second = await background.try_reserve_due()
    assert isinstance(second, float) and 0.8 < second <= 0.9
    # an interactive request does, and is next
    interactive = PostgresRateLimiter(store_pool, "k", 1.0)
    taken = await interactive.reserve()
    assert taken.slot - first.slot == timedelta(seconds=1)


async def test_background_waits_behind_every_queued_interactive_request(
    store_pool: AsyncConnectionPool,
) -> None:
    interactive = PostgresRateLimiter(store_pool, "k", 1.0)
    background = PostgresRateLimiter(store_pool, "k", 1.0, interactive=False)
    for _ in range(3):
        await interactive.reserve()
    pause = await background.try_reserve_due()
    # until the third one's slot plus the hold (1 s) that keeps background requests behind interactive ones
    assert isinstance(pause, float) and 2.9 < pause <= 3.0, pause


async def test_interactive_requests_go_ahead_of_a_busy_background_loop(
    store_pool: AsyncConnectionPool,
) -> None:
    rate = 20.0
    background = PostgresRateLimiter(store_pool, "shared", rate, interactive=False)
    interactive = [PostgresRateLimiter(store_pool, "shared", rate) for _ in range(6)]
    taken_in_background: list[datetime] = []
    counted = {5: asyncio.Event(), 10: asyncio.Event()}

    async def background_loop() -> None:
        while True:
            await background.acquire()
            assert background.last is not None
            taken_in_background.append(background.last.slot)
            if len(taken_in_background) in counted:
                counted[len(taken_in_background)].set()

    loop = asyncio.create_task(background_loop())
    try:
        await asyncio.wait_for(counted[5].wait(), 30)  # the background run owns the budget
        await asyncio.gather(*(limiter.acquire() for limiter in interactive))
        await asyncio.wait_for(counted[10].wait(), 30)  # and gets it back afterwards
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    slots = sorted(limiter.last.slot for limiter in interactive if limiter.last is not None)
    interval = timedelta(seconds=1 / rate)
    assert [b - a for a, b in itertools.pairwise(slots)] == [interval] * 5, "no background slot between"
    assert not [t for t in taken_in_background if slots[0] < t < slots[-1]]
    # every slot of the key is still one interval apart from the next
    every = sorted([*slots, *taken_in_background])
    assert min(b - a for a, b in itertools.pairwise(every)) >= interval - TOLERANCE


async def test_an_interactive_request_holds_background_ones_back_for_a_moment(
    store_pool: AsyncConnectionPool,
) -> None:
    """An interactive run's requests come in bursts with gaps; background ones must not fill the gaps."""
    interactive = PostgresRateLimiter(store_pool, "k", 10.0)
    background = PostgresRateLimiter(store_pool, "k", 10.0, interactive=False)
    await interactive.reserve()  # slot now; the next slot is due in 0.1 s
    pause = await background.try_reserve_due()
    assert isinstance(pause, float) and 0.9 < pause <= INTERACTIVE_HOLD, pause
    async with store_pool.connection() as conn:  # the hold has passed
        await conn.execute(
            "UPDATE rate_limits SET next_slot = now(), interactive_until = now() - interval '1 s'"
        )
    assert isinstance(await background.try_reserve_due(), Reservation)


async def test_interactive_callers_asking_together_share_one_statement(
    store_pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's employment requests start together: they take consecutive slots in one statement."""
    limiter = PostgresRateLimiter(store_pool, "k", 5.0)
    statements: list[int] = []
    reserve_slots = limiter._reserve_slots

    async def counted(slots: int) -> tuple[datetime, datetime]:
        statements.append(slots)
        return await reserve_slots(slots)

    monkeypatch.setattr(limiter, "_reserve_slots", counted)
    reservations = await asyncio.gather(*(limiter.reserve() for _ in range(10)))
    assert statements == [10]
    interval = timedelta(seconds=0.2)
    assert [b.slot - a.slot for a, b in itertools.pairwise(reservations)] == [interval] * 9  # as asked
    assert reservations[0].wait_seconds == 0
    waits = [r.wait_seconds for r in reservations]
    assert waits == sorted(waits) and 1.0 < waits[-1] <= 1.8  # the tenth waits nine intervals, less the trip
    # The key's row moved past all ten: the next caller, alone, gets the slot after them.
    following = await limiter.reserve()
    assert following.slot - reservations[-1].slot == interval and statements == [10, 1]
    # Asked while a statement is on its way: served together by the next one.
    first = asyncio.ensure_future(limiter.reserve())
    await asyncio.sleep(0)  # the first statement is sent
    later = [asyncio.ensure_future(limiter.reserve()) for _ in range(3)]
    await asyncio.gather(first, *later)
    assert statements == [10, 1, 1, 3]


async def test_a_caller_cancelled_before_its_statement_takes_no_slot(store_pool: AsyncConnectionPool) -> None:
    limiter = PostgresRateLimiter(store_pool, "k", 5.0)
    a, b, c = (asyncio.ensure_future(limiter.reserve()) for _ in range(3))
    b.cancel()
    got_a, got_c = await a, await c
    assert b.cancelled() and got_c.slot - got_a.slot == timedelta(seconds=0.2)


async def test_a_failed_reservation_reaches_every_caller_and_the_next_ones_work(
    store_pool: AsyncConnectionPool,
) -> None:
    limiter = PostgresRateLimiter(store_pool, "k", 5.0)
    async with store_pool.connection() as conn:
        await conn.execute("ALTER TABLE rate_limits RENAME TO rate_limits_away")
    try:
        results = await asyncio.gather(*(limiter.reserve() for _ in range(3)), return_exceptions=True)
    finally:
        async with store_pool.connection() as conn:
            await conn.execute("ALTER TABLE rate_limits_away RENAME TO rate_limits")
    assert all(isinstance(r, Exception) and "rate_limits" in str(r) for r in results), results
    assert (await limiter.reserve()).wait_seconds == 0
