"""One run's start, drive and finish, shared by `sync_locally` (executors/local.py) and the operator's
reconciler (controller/runs.py), so the two cannot drift apart.

Either caller claims the run row itself (each holds it in its own way) and then:
1. `start` lists the employees, does the inline part and queues the batches (`pipeline.start_run`),
   and observes the time to first feedback;
2. `drive` runs the batches through the shared driver with the caller's launcher (worker processes
   or Jobs);
3. `finish` closes the run from what its batches say, or `interrupt` closes it unfinished;
   either way the run is counted once in the metrics, with one rule for its outcome.
What differs between the two is what they show meanwhile (a progress line, a status) and how they
stop (a signal, `spec.suspend`); that stays with them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync import metrics
from employes_sync.executors.driver import DriverSettings, Launcher, OnTick, drive
from employes_sync.pipeline import (
    OnResponse,
    Progress,
    RunStarted,
    RunSummary,
    finish_run,
    interrupt_run,
    start_run,
)
from employes_sync.settings import SyncSettings
from employes_sync.store import runs as runs_store
from employes_sync.store.queue import Batch


def run_outcome(summary: RunSummary) -> str:
    """The outcome label of a closed run: degraded when a batch failed for good, else its status."""
    if summary.status in ("succeeded", "failed") and (summary.summary.get("batches") or {}).get("failed"):
        return "degraded"
    return summary.status


@dataclass
class RunOrchestration:
    pool: AsyncConnectionPool
    run_id: int
    scope: str
    trigger: str
    #: When the run began (wall clock): a run resumed by a restarted operator counts from its start.
    began: float = field(default_factory=time.time)
    counted: bool = False
    #: Batches `start` queued (None: not started here, a resumed run or a start still listing).
    queued: int | None = None

    @classmethod
    def begin(cls, pool: AsyncConnectionPool, run_id: int, settings: SyncSettings) -> RunOrchestration:
        """A run just claimed: its counters start from zero (see `metrics.record_run_started`)."""
        metrics.record_run_started(*metrics.scope_labels(settings.scope), settings.trigger)
        return cls(pool, run_id, settings.scope, settings.trigger)

    @classmethod
    def resume(cls, pool: AsyncConnectionPool, row: Mapping[str, Any]) -> RunOrchestration:
        """A run left open by a process that stopped, picked up from its `sync_runs` row."""
        started = row.get("started_at")
        began = started.timestamp() if isinstance(started, datetime) else time.time()
        return cls(pool, int(row["id"]), str(row["scope"]), str(row["trigger"]), began)

    async def start(
        self,
        settings: SyncSettings,
        token: str,
        *,
        progress: Progress | None = None,
        on_response: OnResponse | None = None,
    ) -> RunStarted:
        started = await start_run(
            settings, self.pool, token, progress=progress, on_response=on_response, run_id=self.run_id
        )
        if started.time_to_first_feedback is not None:
            labels = metrics.scope_labels(self.scope)
            metrics.observe_time_to_first_feedback(*labels, started.time_to_first_feedback)
        self.queued = len(started.batch_ids)
        return started

    async def drive(
        self,
        launcher: Launcher,
        settings: DriverSettings,
        *,
        listing_done: asyncio.Event | None = None,
        on_tick: OnTick | None = None,
        wake: asyncio.Event | None = None,
    ) -> list[Batch]:
        """The run's batches through the driver, once each is done or failed for good.

        A run whose start queued none (all of it inline) has no batch and so no Job or worker: the
        driver would only list Jobs, rescue leases and read an empty queue to find that out.
        """
        if self.queued == 0:
            return []
        return await drive(
            self.pool, self.run_id, launcher, settings, listing_done=listing_done, on_tick=on_tick, wake=wake
        )

    async def finish(
        self, *, interrupted: str | None = None, batches: list[Batch] | None = None
    ) -> RunSummary:
        """Close the run from its batches (all done or failed for good); `interrupted` closes it as such
        with every batch done (a run whose listing never completed: a new one follows). `batches`:
        what `drive` returned, so the summary does not read them again."""
        summary = await finish_run(self.pool, self.run_id, batches)
        if interrupted:
            await runs_store.finish_run(self.pool, self.run_id, "interrupted", summary.summary, interrupted)
            summary = replace(summary, status="interrupted", error=interrupted)
        self.finished(run_outcome(summary))
        return summary

    async def interrupt(self, reason: str) -> RunSummary:
        """Close the run unfinished, its open batches with it (a signal, a lost lease)."""
        summary = await interrupt_run(self.pool, self.run_id, reason)
        self.finished("interrupted")
        return summary

    def finished(self, outcome: str) -> None:
        """Count the run once, whichever way it ended (failed to list, closed, interrupted)."""
        if self.counted:
            return
        self.counted = True
        labels = metrics.scope_labels(self.scope)
        metrics.record_run_finished(*labels, self.trigger, outcome, time.time() - self.began)
