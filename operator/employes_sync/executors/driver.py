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
from datetime import UTC, datetime
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

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


async def drive(
    pool: AsyncConnectionPool,
    run_id: int,
    launcher: Launcher,
    settings: DriverSettings,
    *,
    listing_done: asyncio.Event | None = None,
    on_tick: OnTick | None = None,
) -> list[Batch]:
    """Run every batch of `run_id` until each is completed or failed; returns the final batches."""
    try:
        while True:
            for ended in await launcher.ended():
                await settle(pool, ended, settings)
            await queue_store.rescue_expired(
                pool, backoff_base=settings.backoff_seconds, backoff_max=settings.backoff_max_seconds
            )
            batches = await queue_store.run_batches(pool, run_id)
            if on_tick:
                on_tick(batches)
            running = launcher.running()
            open_batches = [b for b in batches if b.status in ("pending", "processing")]
            listed = listing_done is None or listing_done.is_set()
            if listed and not open_batches and not running:
                return batches
            free = settings.parallelism - len(running)
            for batch in due(batches, running, datetime.now(UTC))[: max(free, 0)]:
                name = await launcher.launch(batch, batch.attempts + 1)
                log.info("batch %s attempt %d started as %s", batch.id, batch.attempts + 1, name)
            await asyncio.sleep(settings.poll_seconds)
    except BaseException:
        await launcher.close()
        raise
