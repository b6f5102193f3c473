"""Drive a run's batches to an end, whatever runs them.

A launcher starts one attempt of one batch (a local process, or a Kubernetes Job) and says when an
attempt has ended. The driver owns the policy both share: at most `parallelism` attempts at once,
higher priority and older batches first, a batch whose backoff has not run out waits, an attempt that
died without telling the database is counted as failed, and leases that ran out are rescued.
The queue in PostgreSQL is the only state: a driver that restarts picks up where the last one was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from employes_sync.cancelling import wait_event
from employes_sync.messages import one_line
from employes_sync.store import queue as queue_store
from employes_sync.store.queue import Batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ended:
    """One attempt of one batch that has ended, as its launcher saw it."""

    batch_id: str
    attempt: int
    succeeded: bool
    reason: str = ""


class Launcher(Protocol):
    async def launch(self, batch: Batch, attempt: int) -> str:
        """Start `attempt` of `batch`; return the attempt's name (a Job name, a process id)."""

    async def ended(self) -> list[Ended]:
        """Attempts that ended since the last call."""

    def running(self) -> set[str]:
        """Ids of the batches with an attempt under way."""

    async def close(self) -> None:
        """Stop whatever is still running (the driver is being cancelled)."""


@dataclass(frozen=True)
class DriverSettings:
    parallelism: int = 2
    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 600.0
    poll_seconds: float = 0.5
    #: How long the database may be unreachable before the run gives up; workers keep going meanwhile.
    outage_seconds: float = 300.0


OnTick = Callable[[list[Batch]], None]


async def settle(pool: AsyncConnectionPool, ended: Ended, settings: DriverSettings) -> None:
    """Record an attempt that ended without a word to the database (killed, or never started).

    A worker that failed cleanly has already recorded its failure; then the batch is no longer
    processing this attempt and nothing changes here. One that died before claiming the batch
    (a pod that never started) still used up an attempt: it is claimed and failed in its name.
    """
    if ended.succeeded:
        return
    batch = await queue_store.get(pool, ended.batch_id)
    if batch is None:
        return
    reason = ended.reason or "worker ended without a result"
    if batch.status == "pending" and batch.attempts == ended.attempt - 1:
        if await queue_store.claim(pool, ended.batch_id, lease_seconds=60) is None:
            return
    elif not (batch.status == "processing" and batch.attempts == ended.attempt):
        return
    outcome = await queue_store.fail(
        pool,
        ended.batch_id,
        reason,
        {"attempt": ended.attempt, "source": "executor"},
        backoff_base=settings.backoff_seconds,
        backoff_max=settings.backoff_max_seconds,
    )
    log.warning("batch %s attempt %d: %s (%s)", ended.batch_id, ended.attempt, reason, outcome)


def due(batches: list[Batch], running: set[str], now: datetime) -> list[Batch]:
    ready = [
        b
        for b in batches
        if b.status == "pending" and b.id not in running and (b.run_after is None or b.run_after <= now)
    ]
    return sorted(ready, key=lambda b: (-b.priority, b.batch_no or 0))


def lease_lapsed(batches: list[Batch], by: datetime) -> bool:
    """Whether a batch of the run is processing on a lease that has run out by `by`.

    Only then is the queue asked to rescue it: every run's driver rescuing the whole queue at every
    look was one UPDATE per running run per poll (100 a second at 200 runs) that found nothing. `by`
    is a poll ahead of this clock, so a database clock somewhat ahead of ours is not waited for; the
    statement itself compares with the database's own time.
    """
    return any(
        b.status == "processing" and b.lease_expires_at is not None and b.lease_expires_at <= by
        for b in batches
    )


async def drive(
    pool: AsyncConnectionPool,
    run_id: int,
    launcher: Launcher,
    settings: DriverSettings,
    *,
    listing_done: asyncio.Event | None = None,
    on_tick: OnTick | None = None,
    wake: asyncio.Event | None = None,
) -> list[Batch]:
    """Run every batch of `run_id` until each is completed or failed; returns the final batches.

    Between looks at the queue the driver sleeps `poll_seconds`, or less when a batch's backoff ends
    sooner; a launcher that can tell when an attempt ends (and a lister that queued new batches)
    sets `wake`, so the next attempt starts at once instead of at the next poll, and an idle run
    costs the database a few statements per poll, not per employee.

    A database that goes away for a while does not end the run: attempts in flight go on (their
    workers retry their own writes, or fail and are retried), and the driver picks up from the
    queue once the database answers again, unless it stays away longer than `outage_seconds`.
    """
    outage_since: float | None = None
    unsettled: list[Ended] = []  # ended attempts not yet recorded (kept across a database outage)
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                batches, next_due = await _tick(pool, run_id, launcher, settings, on_tick, unsettled)
                if outage_since is not None:
                    log.warning("database reachable again after %.0f s", loop.time() - outage_since)
                    outage_since = None
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if outage_since is None:
                    outage_since = loop.time()
                    log.warning("database unreachable, the run waits for it: %s", one_line(exc))
                elif loop.time() - outage_since > settings.outage_seconds:
                    raise
                await asyncio.sleep(settings.poll_seconds)
                continue
            listed = listing_done is None or listing_done.is_set()
            if batches is not None and listed:
                return batches
            pause = settings.poll_seconds if next_due is None else min(settings.poll_seconds, next_due)
            await _pause(pause, wake)
    except BaseException:
        await launcher.close()
        raise


async def _tick(
    pool: AsyncConnectionPool,
    run_id: int,
    launcher: Launcher,
    settings: DriverSettings,
    on_tick: OnTick | None,
    unsettled: list[Ended],
) -> tuple[list[Batch] | None, float | None]:
    """One look at the run: settle ended attempts, rescue its lapsed leases, start what is due.

    Returns the batches when nothing is open or running any more (else None), and the seconds until
    the next pending batch's backoff ends (None when none is waiting for one).
    """
    unsettled.extend(await launcher.ended())
    while unsettled:
        await settle(pool, unsettled[0], settings)
        unsettled.pop(0)
    batches = await queue_store.run_batches(pool, run_id)
    if batches and lease_lapsed(batches, datetime.now(UTC) + timedelta(seconds=settings.poll_seconds)):
        await queue_store.rescue_expired(
            pool, batches[0].scope,
            backoff_base=settings.backoff_seconds, backoff_max=settings.backoff_max_seconds,
        )  # fmt: skip
        batches = await queue_store.run_batches(pool, run_id)
    if on_tick:
        on_tick(batches)
    running = launcher.running()
    if not running and not any(b.status in ("pending", "processing") for b in batches):
        return batches, None
    now = datetime.now(UTC)
    free = settings.parallelism - len(running)
    for batch in due(batches, running, now)[: max(free, 0)]:
        name = await launcher.launch(batch, batch.attempts + 1)
        log.info("batch %s attempt %d started as %s", batch.id, batch.attempts + 1, name)
    waits = [
        (b.run_after - now).total_seconds()
        for b in batches
        if b.status == "pending" and b.run_after is not None and b.run_after > now
    ]
    return None, (max(min(waits), 0.05) if waits else None)


async def _pause(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    await wait_event(wake, seconds)
    wake.clear()
