"""A resource's run from the operator's side: start it (the inline part right here), resume it, drive
its batches as Jobs and finish it, publishing progress to the status on the way.

The start/drive/finish steps themselves are the ones `sync_locally` uses (executors/orchestration.py);
this module adds what Kubernetes adds: Jobs, the live spec read mid-run, the lease, the status.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync import metrics
from employes_sync.controller import outcomes, reasons
from employes_sync.controller.connection import Connection
from employes_sync.controller.ownership import Ownership
from employes_sync.controller.resource import Resource
from employes_sync.executors.driver import DriverSettings
from employes_sync.executors.orchestration import RunOrchestration
from employes_sync.kube import jobs, status, triggers
from employes_sync.kube.launcher import KubernetesLauncher
from employes_sync.kube.problem import Problem
from employes_sync.kube.spec import ResourceSpec
from employes_sync.settings import SettingsError, SyncSettings
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store.queue import Batch


class Runs:
    """Starts, resumes, drives and finishes the runs of one resource."""

    def __init__(self, resource: Resource, connection: Connection, ownership: Ownership):
        self.resource = resource
        self.connection = connection
        self.ownership = ownership
        self.batch_seen: dict[str, tuple[int, str]] = {}

    def job_manifest(self, run_id: int, batch: Batch, attempt: int) -> dict[str, Any]:
        resource = self.resource
        config = resource.ctx.config
        spec = resource.spec()
        resource.refuse_unless_allowed(spec)
        checked = self.connection.checked_refs
        if checked is not None:
            # A Job's pod reads its Secrets itself: only ever the ones whose label was checked. A spec
            # naming others mid-run is noticed by the drive loop, which goes back to check them.
            spec = dataclasses.replace(spec, token_ref=checked[0], dsn_ref=checked[1])
        return jobs.job_manifest(
            resource.body, spec, run_id, batch, attempt,
            default_image=config.worker_image,
            default_service_account=config.worker_service_account,
            default_image_pull_policy=config.worker_image_pull_policy,
            allowed_api_urls=sorted(config.allowlists.api_urls),
            allowed_database_hosts=sorted(config.allowlists.database_hosts),
            proxy_env=config.proxy_env,
            extra_ca_pem=config.extra_ca_pem,
        )  # fmt: skip

    async def start(
        self, pool: AsyncConnectionPool, spec: ResourceSpec, token: str, trigger: triggers.Trigger
    ) -> None:
        config = self.resource.ctx.config
        try:
            settings = spec.settings(
                self.resource.scope, trigger=trigger.reason, mode=trigger.mode, extra=trigger.extra()
            )
        except SettingsError as exc:
            raise reasons.problem_for(exc) from None
        try:
            run_id = await runs_store.start_run(
                pool, self.resource.scope, settings.company_id, settings.trigger, settings.mode,
                settings.to_json(), owner=config.owner, lease_seconds=config.run_lease_seconds,
            )  # fmt: skip
        except runs_store.RunAlreadyRunning:
            return  # started elsewhere since we looked: the next step coalesces with it
        async with self.ownership.holding(pool, run_id):
            await self._run(pool, spec, token, trigger, settings, run_id)

    async def _run(
        self,
        pool: AsyncConnectionPool,
        spec: ResourceSpec,
        token: str,
        trigger: triggers.Trigger,
        settings: SyncSettings,
        run_id: int,
    ) -> None:
        resource = self.resource
        current = status.run_status(
            run_id=run_id, trigger=trigger.reason, mode=trigger.mode, phase="Starting", state="running",
            started_at=datetime.now(UTC),
        )  # fmt: skip
        await resource.publish(outcomes.run_started(current, trigger.reason, trigger.mode))
        run = RunOrchestration.begin(pool, run_id, settings)
        try:
            started = await run.start(
                settings, token, on_response=metrics.api_response_observer(resource.namespace, resource.name)
            )
        except Exception as exc:
            failure = reasons.run_failure(exc, spec, resource.namespace)
            if failure is None:
                raise
            await resource.publish(outcomes.run_failed(current, failure, status.now_iso()))
            run.finished("failed")
            raise failure.problem() from None
        current = status.run_status(
            run_id=run_id, trigger=trigger.reason, mode=trigger.mode, phase="Batches", state="running",
            started_at=current["startedAt"], employees=started.employees,
            inline_processed=started.inline.employees, queued=len(started.batch_ids),
            time_to_first_feedback=started.time_to_first_feedback,
        )  # fmt: skip
        synced = {"syncedGeneration": trigger.generation, "syncedRequest": trigger.requested_at}
        if not started.batch_ids:
            # All done inline: the run closes at once, and its end says all of this a moment later.
            # Written here too, it was one more status write and one more watch event for every
            # client of the resource, in each of the three a run made (200 resources: 200 of 600).
            await self.drive(run, spec, current, also=synced)
            return
        await resource.publish(outcomes.Publication(changes={
            "currentRun": current, "employees": started.employees, "queued": len(started.batch_ids),
            **synced,
        }))  # fmt: skip
        await self.drive(run, spec, current)

    async def resume(self, pool: AsyncConnectionPool, spec: ResourceSpec, row: Mapping[str, Any]) -> None:
        """Finish the scope's unfinished run: its batches are in the queue, its Jobs in the cluster."""
        run_id = int(row["id"])
        current = outcomes.run_from_row(row)
        await self.resource.publish(
            outcomes.run_resumed(current, row, self.resource.status.get("syncedGeneration"))
        )
        interrupted = None if outcomes.was_listed(row) else outcomes.INTERRUPTED_BEFORE_LISTED
        async with self.ownership.holding(pool, run_id):
            await self.drive(RunOrchestration.resume(pool, row), spec, current, interrupted=interrupted)

    async def drive(
        self,
        run: RunOrchestration,
        spec: ResourceSpec,
        current: dict[str, Any],
        *,
        interrupted: str | None = None,
        also: Mapping[str, Any] | None = None,
    ) -> None:
        """Run the batches as Jobs until each is done or failed for good, then close the run.

        `also`: status fields the run's end writes with its own (a run done all inline).
        """
        resource = self.resource
        config = resource.ctx.config
        pool, run_id = run.pool, run.run_id
        changes = resource.ctx.watch_jobs(resource.namespace, resource.name)
        launcher = KubernetesLauncher(
            resource.ctx.api, pool, resource.namespace, resource.name, run_id,
            lambda batch, attempt: self.job_manifest(run_id, batch, attempt),
            changes=changes, resync_seconds=config.idle_seconds,
        )  # fmt: skip
        settings = DriverSettings(
            parallelism=spec.parallelism, backoff_seconds=spec.backoff_seconds,
            backoff_max_seconds=spec.backoff_max_seconds, poll_seconds=config.poll_seconds,
        )  # fmt: skip
        ticks: list[list[Batch]] = []
        task = asyncio.create_task(run.drive(launcher, settings, on_tick=ticks.append, wake=changes.event))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=config.poll_seconds)
                if ticks:
                    looks = ticks[:]
                    ticks.clear()
                    await self.progress(current, looks)
                now = resource.spec()
                if now.suspend:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    await resource.publish(outcomes.suspended())
                    return  # the run stays open; it resumes when unsuspended
                resource.refuse_unless_allowed(now)  # changed mid-run: stop launching (the run stays open)
                if (now.token_ref, now.dsn_ref) != self.connection.checked_refs:
                    task.cancel()  # other Secrets named: back to step(), which checks their labels first
                    await asyncio.gather(task, return_exceptions=True)
                    return
                if self.ownership.lost():
                    raise Problem(
                        "RunTakenOver",
                        f"run {run_id} was taken over elsewhere: its lease was not renewed in time",
                    )
            batches = task.result()
            for _ in launcher.created:
                metrics.record_job_created(resource.namespace, resource.name)
        finally:
            resource.ctx.unwatch_jobs(resource.namespace, resource.name, changes)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.progress(current, [*ticks, batches])  # the looks since the last publication too
        await self.finish(run, current, batches, interrupted, also)

    async def progress(self, current: dict[str, Any], looks: list[list[Batch]]) -> None:
        """Events from every look at the run's batches since the last call, and the status from the
        latest (only when something changed)."""
        self.batch_seen, events = outcomes.looks_events(self.batch_seen, looks)
        for event in events:
            self.resource.event(event.type, event.reason, event.message)
        publication = outcomes.run_progress(current, looks[-1], self.resource.status)
        if publication is not None:
            await self.resource.publish(publication)

    async def finish(
        self,
        run: RunOrchestration,
        current: dict[str, Any],
        batches: list[Batch],
        interrupted: str | None,
        also: Mapping[str, Any] | None = None,
    ) -> None:
        result = await run.finish(interrupted=interrupted)
        # The status tells an interrupted run as failed with its reason (the CRD's states).
        state = "failed" if result.status == "interrupted" else result.status
        error = result.error
        finished = outcomes.run_finished(
            current, batches, state=state, error=error, summary=result.summary,
            finished_at=status.now_iso(), interrupted=interrupted,
        )  # fmt: skip
        if also:
            finished = dataclasses.replace(finished, changes={**also, **finished.changes})
        await self.resource.publish(finished)

    async def closed_meanwhile(self, pool: AsyncConnectionPool, row: Mapping[str, Any]) -> None:
        """The status shows as current a run PostgreSQL has closed: an operator died while writing its end.

        `finish` closes the run in the database first, then writes the status; killed in between, the
        restarted operator found no running run, nothing wanted, and left `currentRun` and
        Ready=False RunInProgress standing for good. Write the end from the closed run instead.
        """
        batches = await queue_store.run_batches(pool, int(row["id"]))
        await self.resource.publish(outcomes.run_finished(
            outcomes.run_from_row(row, queued=len(batches)), batches, state=row["status"],
            error=row.get("error"), summary=row.get("summary") or {},
            finished_at=status.iso(row.get("finished_at")) or status.now_iso(),
        ))  # fmt: skip
