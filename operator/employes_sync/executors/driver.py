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
    #: Read the queue only when the read can change what the driver does (`quiet_seconds`): the local
    #: run's choice, whose launcher wakes the driver the moment a worker exits and whose progress line
    #: has nothing new to show between those reads. The operator reads at every poll and Job event: its
    #: status shows a batch done as soon as the database has it, before the Job's end is seen.
    lazy_reads: bool = False


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


def quiet_seconds(
    batches: list[Batch], running: set[str], parallelism: int, now: datetime, poll_seconds: float
) -> float | None:
    """How long the driver may leave the queue unread after reading `batches` and starting what was
    due, unless an attempt ends or, with a slot free, the lister wakes it; None: read at the poll.

    Between two reads a run's batches change by its attempts (a claim; heartbeats, which only move a
    lease on; a result, after which the attempt ends and the launcher says so), by its lister (which
    wakes the driver) and by time (a backoff or a lease runs out). Once the last read showed every
    running attempt's claim, a read before one of those would show nothing to act on (in a local
    re-sync most of the run's reads of its batches were such: a poll every 2 s and a wake per queued
    batch while both workers were busy). An attempt whose claim the last read did not show yet is
    read for at the poll (its lease is not known; the progress shows the claim). A lease that runs
    out within a poll was asked to be rescued by this very look (`lease_lapsed` looks a poll ahead);
    still standing, the database's clock is behind ours, so the next look is a poll later, not at once.
    """
    by_id = {b.id: b for b in batches}
    for batch_id in running:
        seen = by_id.get(batch_id)
        if seen is None or seen.status != "processing" or seen.lease_expires_at is None:
            return None
    free = parallelism - len(running)
    waits: list[float] = []
    for b in batches:
        if b.status == "pending" and b.id not in running:
            if b.run_after is None or b.run_after <= now:
                if free > 0:
                    return None  # due with a slot free: it was not started, so do not wait on it
                continue  # due, waiting for a slot: an attempt's end frees one
            waits.append(max((b.run_after - now).total_seconds(), 0.05))
        elif b.status == "processing" and b.lease_expires_at is not None:
            left = (b.lease_expires_at - now).total_seconds()
            waits.append(left if left > poll_seconds else poll_seconds)
    return min(waits) if waits else None


@dataclass(frozen=True)
class _Look:
    """What one read of the queue found: the batches when the run is done, when to look again."""

    final: list[Batch] | None
    next_due: float | None  # seconds until a pending batch's backoff ends
    quiet: float | None  # `quiet_seconds` (only with lazy_reads)
    listed: bool  # the listing had ended before the read


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
    costs the database a few statements per poll, not per employee. With `lazy_reads` (and `wake`)
    a wake or a poll reads the queue only when the read can change what the driver does: an attempt
    ended, the lister woke it with a slot free, a backoff or lease ran out, or an attempt's claim is
    still to be seen (`quiet_seconds`); and a run still being listed is first read at the lister's
    first wake.

    A database that goes away for a while does not end the run: attempts in flight go on (their
    workers retry their own writes, or fail and are retried), and the driver picks up from the
    queue once the database answers again, unless it stays away longer than `outage_seconds`.
    """
    outage_since: float | None = None
    unsettled: list[Ended] = []  # ended attempts not yet recorded (kept across a database outage)
    loop = asyncio.get_running_loop()
    lazy = settings.lazy_reads and wake is not None
    last: _Look | None = None
    read_at = 0.0  # lazy: loop time of the next read nothing but the clock asks for
    woken = False
    try:
        if lazy and wake is not None and listing_done is not None and not listing_done.is_set():
            # A run still being listed has no batch until its lister queues one, and the lister
            # wakes the driver when it does (or when it ends): a look before that reads nothing.
            await wake.wait()
            wake.clear()
        while True:
            try:
                unsettled.extend(await launcher.ended())
                if (
                    lazy
                    and last is not None
                    and not _must_read(
                        last, unsettled, woken, read_at, loop.time(), launcher.running(), settings.parallelism
                    )
                ):
                    woken = await _pause(read_at - loop.time(), wake)
                    continue
                listed = listing_done is None or listing_done.is_set()
                last = await _tick(pool, run_id, launcher, settings, on_tick, unsettled, listed)
                if outage_since is not None:
                    log.warning("database reachable again after %.0f s", loop.time() - outage_since)
                    outage_since = None
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if outage_since is None:
                    outage_since = loop.time()
                    log.warning("database unreachable, the run waits for it: %s", one_line(exc))
                elif loop.time() - outage_since > settings.outage_seconds:
                    raise
                read_at = 0.0  # lazy: the look that failed is made again, whatever it was for
                await asyncio.sleep(settings.poll_seconds)
                continue
            # Done only if the listing had ended before the read: a batch queued during it is not in it.
            if last.final is not None and last.listed:
                return last.final
            next_due = last.next_due
            pause = settings.poll_seconds if next_due is None else min(settings.poll_seconds, next_due)
            if lazy and last.quiet is not None:
                pause = last.quiet
            read_at = loop.time() + pause
            woken = await _pause(pause, wake)
    except BaseException:
        await launcher.close()
        raise


def _must_read(
    last: _Look,
    ended: list[Ended],
    woken: bool,
    read_at: float,
    now: float,
    running: set[str],
    parallelism: int,
) -> bool:
    """Lazy reads: whether this look reads the queue (an attempt ended, its time came, or the lister
    may have queued a batch a free slot can start)."""
    if ended or now >= read_at:
        return True
    return woken and not last.listed and len(running) < parallelism


async def _tick(
    pool: AsyncConnectionPool,
    run_id: int,
    launcher: Launcher,
    settings: DriverSettings,
    on_tick: OnTick | None,
    unsettled: list[Ended],
    listed: bool,
) -> _Look:
    """One look at the run: settle ended attempts, rescue its lapsed leases, start what is due.

    Its `final` batches are set when nothing is open or running any more; `next_due` is the seconds
    until the next pending batch's backoff ends (None when none is waiting for one).
    """
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
        return _Look(batches, None, None, listed)
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
    quiet = None
    if settings.lazy_reads:
        quiet = quiet_seconds(batches, launcher.running(), settings.parallelism, now, settings.poll_seconds)
    return _Look(None, (max(min(waits), 0.05) if waits else None), quiet, listed)


async def _pause(seconds: float, wake: asyncio.Event | None) -> bool:
    """Sleep `seconds` or until `wake` is set; whether it was."""
    if wake is None:
        await asyncio.sleep(seconds)
        return False
    woken = await wait_event(wake, max(seconds, 0.0))
    wake.clear()
    return woken
