"""The reconcile loop: one `Reconciler` per EmployesSync, woken by changes to it and to its Jobs.

Each resource gets a kopf daemon (registration.py) running `Reconciler.run`, a loop that, every time it wakes:
1. reads the spec; when suspended it starts nothing and spawns no Job;
2. reads the Secrets and opens the database (a problem there is a condition, a Warning event and a
   retry with backoff, never a crash);
3. resumes the scope's unfinished run if there is one (the run state is in PostgreSQL), else starts a
   run if the object asks for one (see triggers.py), doing the inline part right here;
4. drives the run's batches as Jobs through the shared driver, publishing progress to the status.
Everything it needs to decide is in the object, its status and the database, so a restarted operator
carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from psycopg_pool import AsyncConnectionPool

from employes_sync import metrics
from employes_sync.controller import outcomes
from employes_sync.controller.context import OperatorContext
from employes_sync.executors.driver import DriverSettings
from employes_sync.executors.lease import keep_run
from employes_sync.executors.orchestration import RunOrchestration
from employes_sync.kube import jobs, status, triggers
from employes_sync.kube.launcher import KubernetesLauncher
from employes_sync.kube.problem import Problem
from employes_sync.kube.secrets import read_secret_value
from employes_sync.kube.spec import ResourceSpec, SecretRef, SpecError, parse
from employes_sync.messages import one_line, traceback_text
from employes_sync.settings import SettingsError, SyncSettings
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store import sync_requests
from employes_sync.store.queue import Batch
from employes_sync.webhooks.delivery import Receiver
from employes_sync.webhooks.signing import WebhookConfigError, check_url, parse_secret

log = logging.getLogger(__name__)


def until_lease_ends(expires_at: datetime | None, lease_seconds: float, now: datetime | None = None) -> float:
    """How long to wait before looking at another owner's run again: until its lease runs out.

    Waiting a whole lease instead would add up to one more lease to a failover (the standby finds the
    dead replica's run a moment before its lease ends, and then slept another 20 s).
    """
    if expires_at is None:
        return lease_seconds
    left = (expires_at - (now or datetime.now(UTC))).total_seconds()
    return min(lease_seconds, max(0.5, left + 0.5))


#: How long an idle pass may use Secrets read before; a run always reads them afresh.
SECRETS_REUSE_SECONDS = 300.0


class Reconciler:
    """The loop behind one EmployesSync (see the module docstring)."""

    def __init__(
        self, ctx: OperatorContext, body: kopf.Body, logger: logging.Logger | logging.LoggerAdapter[Any]
    ):
        self.ctx = ctx
        self.body = body  # kopf keeps a daemon's body current
        self.namespace: str = body.metadata.namespace or ""
        self.name: str = body.metadata.name or ""
        self.scope = f"{self.namespace}/{self.name}"
        self.logger = logger
        self.status: dict[str, Any] = dict(body.get("status") or {})
        self.wake = ctx.waker(self.namespace, self.name)
        self.last_problem: tuple[str, str] | None = None
        self.failures = 0
        self.batch_seen: dict[str, tuple[int, str]] = {}
        self.stopped: kopf.DaemonStopped | None = None
        #: The token and DSN Secrets whose label the last connect() checked (the only ones Jobs name).
        self.checked_refs: tuple[SecretRef, SecretRef] | None = None
        self.registered = False
        self.webhook_problems: dict[str, str] = {}
        #: (references, token, DSN, when read) of the last Secret read, for idle passes (see connect)
        self.secrets: tuple[tuple[SecretRef, SecretRef], str, str, float] | None = None
        self.beat: asyncio.Task[None] | None = None  # the lease of the run being driven (holding())

    # --- the loop -------------------------------------------------------------------------------

    async def run(self, stopped: kopf.DaemonStopped) -> None:
        self.stopped = stopped
        while not stopped:
            try:
                waited = await self.step()
                self.failures = 0
                self.last_problem = None
                if not waited:
                    continue
            except Problem as problem:
                # The fix is often a new Secret value (a working DSN, a new token): read it next time.
                self.secrets = None
                await self.report_problem(problem)
                await self.sleep(self.retry_delay(), stopped)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Not exc_info: its last line is str(exc), which for a database error quotes records.
                self.secrets = None
                self.logger.error("reconcile of %s failed: %s", self.scope, traceback_text(exc))
                await self.report_problem(outcomes.problem_for(exc))
                await self.sleep(self.retry_delay(), stopped)

    def retry_delay(self) -> float:
        self.failures += 1
        config = self.ctx.config
        delay = min(config.retry_max_seconds, config.retry_base_seconds * 2.0 ** (self.failures - 1))
        return delay * random.uniform(0.8, 1.0)

    async def sleep(self, seconds: float, stopped: kopf.DaemonStopped | None = None) -> None:
        """Wait for a change of the object or its Jobs, the daemon being stopped, or `seconds`."""
        stopped = stopped if stopped is not None else self.stopped
        waiters: set[asyncio.Task[Any]] = {asyncio.create_task(self.wake.wait())}
        if stopped is not None:
            waiters.add(asyncio.create_task(self._until_stopped(stopped)))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        self.wake.clear()

    @staticmethod
    async def _until_stopped(stopped: kopf.DaemonStopped) -> None:
        await stopped.wait()

    @property
    def generation(self) -> int:
        return int(self.body.metadata.get("generation") or 1)

    def spec(self) -> ResourceSpec:
        try:
            return parse(self.body.get("spec") or {})
        except SpecError as exc:
            raise outcomes.problem_for(exc) from None

    async def step(self) -> bool:
        """One pass; returns True when it ended by waiting (nothing to do for now)."""
        spec = self.spec()
        if spec.suspend:
            await self.suspended()
            await self.sleep(self.ctx.config.idle_seconds)
            return True
        self.refuse_unless_allowed(spec)
        pool, token = await self.connect(spec, reuse=True)
        latest = await runs_store.latest_run(pool, self.scope)
        if latest is not None and latest["status"] == "running":
            if not await self.take(pool, latest):
                return True  # someone else's live run: coalesced, looked at again later
            await self.resume(pool, spec, latest)
            return False
        if latest is not None and (self.status.get("currentRun") or {}).get("id") == latest["id"]:
            await self.closed_meanwhile(pool, latest)  # the status missed the run's end (see there)
            return False
        trigger = triggers.wanted(self.body.metadata, self.status)
        if trigger is None:
            asked = await sync_requests.open_requests(pool, self.scope)
            trigger = triggers.sql_requested(self.body.metadata, self.status, asked.count, asked.interactive)
        if trigger is None:
            await self.idle()
            await self.sleep(self.ctx.config.idle_seconds)
            return True
        pool, token = await self.connect(spec)  # a run reads its Secrets now (a rotated token, a new DSN)
        await self.start(pool, spec, token, trigger)
        return False

    def refuse_unless_allowed(self, spec: ResourceSpec) -> None:
        """The API URL, worker image and ServiceAccount must be on the operator's lists.

        Checked before a Secret is read (the token's destination decides whether it may be read at
        all), and again before each Job, since the spec may change while a run drives its batches.
        """
        refusal = self.ctx.config.allowlists.refusal(
            spec.base_url, spec.worker.image, spec.worker.service_account_name
        )
        if refusal is not None:
            raise Problem(refusal.reason, refusal.message)

    def job_manifest(self, run_id: int, batch: Batch, attempt: int) -> dict[str, Any]:
        spec = self.spec()
        self.refuse_unless_allowed(spec)
        if self.checked_refs is not None:
            # A Job's pod reads its Secrets itself: only ever the ones whose label was checked. A spec
            # naming others mid-run is noticed by the drive loop, which goes back to check them.
            spec = dataclasses.replace(spec, token_ref=self.checked_refs[0], dsn_ref=self.checked_refs[1])
        return jobs.job_manifest(
            self.body, spec, run_id, batch, attempt,
            default_image=self.ctx.config.worker_image,
            default_service_account=self.ctx.config.worker_service_account,
            allowed_api_urls=sorted(self.ctx.config.allowlists.api_urls),
        )  # fmt: skip

    async def connect(self, spec: ResourceSpec, *, reuse: bool = False) -> tuple[AsyncConnectionPool, str]:
        """The pool and token of the resource's Secrets.

        `reuse`: an idle pass only looks at the database, so it may use what was read less than
        SECRETS_REUSE_SECONDS ago, for the same Secret references. Reading both Secrets (four GETs with
        the label checks) on every idle pass of every resource was most of the idle operator's work.
        """
        refs = (spec.token_ref, spec.dsn_ref)
        kept = self.secrets
        if (
            reuse
            and kept is not None
            and kept[0] == refs
            and time.monotonic() - kept[3] < SECRETS_REUSE_SECONDS
        ):
            token, dsn = kept[1], kept[2]
        else:
            # Both at once (a run waits for them); a problem with the token is told first, as before.
            token_read, dsn_read = await asyncio.gather(
                read_secret_value(self.ctx.api, self.namespace, spec.token_ref, "API token"),
                read_secret_value(self.ctx.api, self.namespace, spec.dsn_ref, "database DSN"),
                return_exceptions=True,
            )
            for read in (token_read, dsn_read):
                if isinstance(read, BaseException):
                    raise read
            assert isinstance(token_read, str) and isinstance(dsn_read, str)
            token, dsn = token_read, dsn_read
            self.secrets = (refs, token, dsn, time.monotonic())
        self.checked_refs = refs  # these labels were checked when read (the only Secrets Jobs name)
        pool = await self.ctx.pools.get(dsn)
        self.ctx.dsns.set(self.scope, dsn)
        self.ctx.listeners.ensure(dsn)
        await self.configure_webhooks(spec, dsn, pool)
        if not self.registered:
            await sync_requests.register_scope(pool, self.scope)  # request_sync() knows it from now on
            self.registered = True
        return pool, token

    async def configure_webhooks(self, spec: ResourceSpec, dsn: str, pool: AsyncConnectionPool) -> None:
        """Hand this resource's receivers to its database's deliverer; a bad one is skipped and told once."""
        receivers: list[Receiver] = []
        problems: dict[str, str] = {}
        for hook in spec.webhooks:
            try:
                url = await read_secret_value(self.ctx.api, self.namespace, hook.url_ref, "webhook URL")
                secret = await read_secret_value(
                    self.ctx.api, self.namespace, hook.signing_ref, "webhook signing secret"
                )
                receivers.append(
                    Receiver(
                        self.scope,
                        hook.name,
                        check_url(url, hook.name, allow_insecure=hook.allow_insecure),
                        parse_secret(secret, hook.name),
                    )
                )
            except (Problem, WebhookConfigError) as exc:
                problems[hook.name] = exc.message if isinstance(exc, Problem) else str(exc)
        self.ctx.webhooks.configure(dsn, pool, self.scope, receivers)
        for name, message in problems.items():
            if self.webhook_problems.get(name) != message:
                self.logger.warning("webhook %s of %s not delivered: %s", name, self.scope, message)
                self.event("Warning", "WebhookInvalid", status.clip(message, 500))
        self.webhook_problems = problems

    # --- runs -----------------------------------------------------------------------------------

    async def take(self, pool: AsyncConnectionPool, row: Mapping[str, Any]) -> bool:
        """Become the owner of the scope's running run, or coalesce while another live owner drives it.

        Ours (this replica, restarted) or expired: adopted and resumed. Driven by a live owner (the
        other replica during an upgrade, another operator on the same database): nothing starts here;
        the request stays wanted and is looked at again when that run ends or its lease runs out.
        """
        run_id = int(row["id"])
        config = self.ctx.config
        if await runs_store.adopt(pool, run_id, config.owner, config.run_lease_seconds):
            if row.get("owner_id") not in (None, config.owner.id):
                self.logger.info("run %d of %s taken over from %s", run_id, self.scope, row.get("owner"))
            return True
        message = (
            f"run {run_id} of {self.scope} is being driven by {row.get('owner') or 'another owner'}; "
            "a sync requested meanwhile follows it"
        )
        shown = status.get_condition(self.status.get("conditions") or [], status.PROGRESSING) or {}
        if (shown.get("reason"), shown.get("message")) != ("RunElsewhere", message):  # our patch wakes us
            await self.patch({}, progressing=(True, "RunElsewhere", message))
            self.event("Normal", "RunElsewhere", message)
        await self.sleep(until_lease_ends(row.get("heartbeat_expires_at"), config.run_lease_seconds))
        return False

    @contextlib.asynccontextmanager
    async def holding(self, pool: AsyncConnectionPool, run_id: int) -> AsyncIterator[asyncio.Task[None]]:
        """Renew the run's lease while the block runs; the task ends if the run stops being ours."""
        config = self.ctx.config
        beat = asyncio.create_task(keep_run(pool, run_id, config.owner, config.run_lease_seconds))
        self.beat = beat
        try:
            yield beat
        finally:
            self.beat = None
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    async def start(
        self, pool: AsyncConnectionPool, spec: ResourceSpec, token: str, trigger: triggers.Trigger
    ) -> None:
        try:
            settings = spec.settings(
                self.scope, trigger=trigger.reason, mode=trigger.mode, extra=trigger.extra()
            )
        except SettingsError as exc:
            raise outcomes.problem_for(exc) from None
        try:
            run_id = await runs_store.start_run(
                pool, self.scope, settings.company_id, settings.trigger, settings.mode, settings.to_json(),
                owner=self.ctx.config.owner, lease_seconds=self.ctx.config.run_lease_seconds,
            )  # fmt: skip
        except runs_store.RunAlreadyRunning:
            return  # started elsewhere since we looked: the next step coalesces with it
        async with self.holding(pool, run_id):
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
        current = status.run_status(
            run_id=run_id, trigger=trigger.reason, mode=trigger.mode, phase="Starting", state="running",
            started_at=datetime.now(UTC),
        )  # fmt: skip
        await self.publish(outcomes.run_started(current, trigger.reason, trigger.mode))
        run = RunOrchestration.begin(pool, run_id, settings)
        try:
            started = await run.start(
                settings, token, on_response=metrics.api_response_observer(self.namespace, self.name)
            )
        except Exception as exc:
            failure = outcomes.run_failure(exc, spec, self.namespace)
            if failure is None:
                raise
            await self.publish(outcomes.run_failed(current, failure, status.now_iso()))
            run.finished("failed")
            raise failure.problem() from None
        current = status.run_status(
            run_id=run_id, trigger=trigger.reason, mode=trigger.mode, phase="Batches", state="running",
            started_at=current["startedAt"], employees=started.employees,
            inline_processed=started.inline.employees, queued=len(started.batch_ids),
            time_to_first_feedback=started.time_to_first_feedback,
        )  # fmt: skip
        await self.publish(outcomes.Publication(changes={
            "currentRun": current, "employees": started.employees, "queued": len(started.batch_ids),
            "syncedGeneration": trigger.generation, "syncedRequest": trigger.requested_at,
        }))  # fmt: skip
        await self.drive(run, spec, current)

    async def resume(self, pool: AsyncConnectionPool, spec: ResourceSpec, row: Mapping[str, Any]) -> None:
        """Finish the scope's unfinished run: its batches are in the queue, its Jobs in the cluster."""
        run_id = int(row["id"])
        current = outcomes.run_from_row(row)
        await self.publish(outcomes.run_resumed(current, row, self.status.get("syncedGeneration")))
        interrupted = None if outcomes.was_listed(row) else outcomes.INTERRUPTED_BEFORE_LISTED
        async with self.holding(pool, run_id):
            await self.drive(RunOrchestration.resume(pool, row), spec, current, interrupted=interrupted)

    async def drive(
        self,
        run: RunOrchestration,
        spec: ResourceSpec,
        current: dict[str, Any],
        *,
        interrupted: str | None = None,
    ) -> None:
        """Run the batches as Jobs until each is done or failed for good, then close the run."""
        pool, run_id = run.pool, run.run_id
        launcher = KubernetesLauncher(
            self.ctx.api, pool, self.namespace, self.name, run_id,
            lambda batch, attempt: self.job_manifest(run_id, batch, attempt),
        )  # fmt: skip
        settings = DriverSettings(
            parallelism=spec.parallelism, backoff_seconds=spec.backoff_seconds,
            backoff_max_seconds=spec.backoff_max_seconds, poll_seconds=self.ctx.config.poll_seconds,
        )  # fmt: skip
        ticks: list[list[Batch]] = []
        task = asyncio.create_task(run.drive(launcher, settings, on_tick=ticks.append))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self.ctx.config.poll_seconds)
                if ticks:
                    await self.progress(current, ticks[-1])
                    ticks.clear()
                now = self.spec()
                if now.suspend:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    await self.suspended()
                    return  # the run stays open; it resumes when unsuspended
                self.refuse_unless_allowed(now)  # changed mid-run: stop launching (the run stays open)
                if (now.token_ref, now.dsn_ref) != self.checked_refs:
                    task.cancel()  # other Secrets named: back to step(), which checks their labels first
                    await asyncio.gather(task, return_exceptions=True)
                    return
                if self.beat is not None and self.beat.done():
                    raise Problem(
                        "RunTakenOver",
                        f"run {run_id} was taken over elsewhere: its lease was not renewed in time",
                    )
            batches = task.result()
            for _ in launcher.created:
                metrics.record_job_created(self.namespace, self.name)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.progress(current, batches)
        await self.finish(run, current, batches, interrupted)

    async def progress(self, current: dict[str, Any], batches: list[Batch]) -> None:
        """Status and events from one look at the run's batches (only when something changed)."""
        self.batch_seen, events = outcomes.batch_events(self.batch_seen, batches)
        for event in events:
            self.event(event.type, event.reason, event.message)
        publication = outcomes.run_progress(current, batches, self.status)
        if publication is not None:
            await self.publish(publication)

    async def finish(
        self, run: RunOrchestration, current: dict[str, Any], batches: list[Batch], interrupted: str | None
    ) -> None:
        result = await run.finish(interrupted=interrupted)
        # The status tells an interrupted run as failed with its reason (the CRD's states).
        state = "failed" if result.status == "interrupted" else result.status
        error = result.error
        await self.publish(outcomes.run_finished(
            current, batches, state=state, error=error, summary=result.summary,
            finished_at=status.now_iso(), interrupted=interrupted,
        ))  # fmt: skip

    async def closed_meanwhile(self, pool: AsyncConnectionPool, row: Mapping[str, Any]) -> None:
        """The status shows as current a run PostgreSQL has closed: an operator died while writing its end.

        `finish` closes the run in the database first, then writes the status; killed in between, the
        restarted operator found no running run, nothing wanted, and left `currentRun` and
        Ready=False RunInProgress standing for good. Write the end from the closed run instead.
        """
        batches = await queue_store.run_batches(pool, int(row["id"]))
        await self.publish(outcomes.run_finished(
            outcomes.run_from_row(row, queued=len(batches)), batches, state=row["status"],
            error=row.get("error"), summary=row.get("summary") or {},
            finished_at=status.iso(row.get("finished_at")) or status.now_iso(),
        ))  # fmt: skip

    # --- quiet states ---------------------------------------------------------------------------

    async def suspended(self) -> None:
        await self.publish(outcomes.suspended())

    async def idle(self) -> None:
        """Nothing to run: make the conditions say what the last run says (after a problem is fixed)."""
        publication = outcomes.idle(self.status, self.generation)
        if publication is not None:
            await self.publish(publication)

    async def report_problem(self, problem: Problem) -> None:
        key = (problem.reason, problem.message)
        if key != self.last_problem:
            self.logger.warning("%s: %s", problem.reason, problem.message)
            self.event("Warning", problem.reason, problem.message)
        self.last_problem = key
        try:
            await self.publish(outcomes.problem(problem))
        except Exception as exc:  # the status is best effort while something is already wrong
            self.logger.warning("could not write the status of %s: %s", self.scope, one_line(exc))

    # --- writing --------------------------------------------------------------------------------

    async def patch(
        self,
        changes: Mapping[str, Any],
        *,
        ready: outcomes.Condition | None = None,
        progressing: outcomes.Condition | None = None,
        degraded: outcomes.Condition | None = None,
        ready_while_running: bool = False,
    ) -> None:
        """`publish` without events, for a status change no outcome function names."""
        await self.publish(outcomes.Publication(
            changes=changes, ready=ready, progressing=progressing, degraded=degraded,
            ready_while_running=ready_while_running,
        ))  # fmt: skip

    async def publish(self, publication: outcomes.Publication) -> None:
        """Merge-patch the status (conditions recomputed from the cached ones), then post the events."""
        body = outcomes.status_patch(publication, self.status, self.generation)
        await self.ctx.api.patch_status(self.namespace, self.name, body)
        for key, value in body.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value
        for event in publication.events:
            self.event(event.type, event.reason, event.message)

    def event(self, type_: str, reason: str, message: str) -> None:
        try:
            kopf.event(self.body, type=type_, reason=reason, message=status.clip(message, 1000))
        except Exception as exc:  # events are nice to have; never let one stop a run
            self.logger.debug("event %s not posted: %s", reason, exc)
