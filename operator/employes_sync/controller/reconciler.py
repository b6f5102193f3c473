"""The reconcile loop: one `Reconciler` per EmployesSync, woken by changes to it (its Jobs wake its run).

Each resource gets a kopf daemon (registration.py) running `Reconciler.run`, a loop that, every time it wakes:
1. reads the spec; when suspended it starts nothing and spawns no Job;
2. reads the Secrets and opens the database (a problem there is a condition, a Warning event and a
   retry with backoff, never a crash);
3. resumes the scope's unfinished run if there is one (the run state is in PostgreSQL), else starts a
   run if the object asks for one (see triggers.py), doing the inline part right here;
4. drives the run's batches as Jobs through the shared driver, publishing progress to the status.
Everything it needs to decide is in the object, its status and the database, so a restarted operator
carries on where the last one stopped.

The loop and its retries are here; the parts it calls live beside it: resource.py (the spec, the status
and events), connection.py (Secrets, pool, webhooks), ownership.py (whose run it is, the lease) and
runs.py (start, resume, drive, finish).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import kopf

from employes_sync.controller import outcomes, reasons
from employes_sync.controller.connection import Connection
from employes_sync.controller.context import OperatorContext
from employes_sync.controller.ownership import Ownership
from employes_sync.controller.resource import Resource
from employes_sync.controller.runs import Runs
from employes_sync.kube import triggers
from employes_sync.kube.problem import Problem
from employes_sync.messages import one_line, traceback_text
from employes_sync.store import runs as runs_store


class Reconciler:
    """The loop behind one EmployesSync (see the module docstring)."""

    def __init__(
        self, ctx: OperatorContext, body: kopf.Body, logger: logging.Logger | logging.LoggerAdapter[Any]
    ):
        self.ctx = ctx
        self.resource = Resource(ctx, body, logger)
        self.scope = self.resource.scope
        self.logger = logger
        self.wake = ctx.waker(self.resource.namespace, self.resource.name)
        self.last_problem: tuple[str, str] | None = None
        self.failures = 0
        self.stopped: kopf.DaemonStopped | None = None
        self.connection = Connection(self.resource)
        self.ownership = Ownership(self.resource, self.sleep)
        self.runs = Runs(self.resource, self.connection, self.ownership)

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
                self.connection.forget()
                await self.report_problem(problem)
                await self.sleep(self.retry_delay(), stopped)
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if not reasons.is_stray_cancellation(task.cancelling() if task else 1, bool(stopped)):
                    raise
                self.connection.forget()
                self.logger.error(
                    "reconcile of %s was cancelled by nothing that asked to: %s",
                    self.scope,
                    traceback_text(exc),
                )
                await self.report_problem(reasons.STRAY_CANCELLATION)
                await self.sleep(self.retry_delay(), stopped)
            except Exception as exc:
                # Not exc_info: its last line is str(exc), which for a database error quotes records.
                self.connection.forget()
                self.logger.error("reconcile of %s failed: %s", self.scope, traceback_text(exc))
                await self.report_problem(reasons.problem_for(exc))
                await self.sleep(self.retry_delay(), stopped)

    def retry_delay(self) -> float:
        self.failures += 1
        config = self.ctx.config
        delay = min(config.retry_max_seconds, config.retry_base_seconds * 2.0 ** (self.failures - 1))
        return delay * random.uniform(0.8, 1.0)

    async def sleep(self, seconds: float, stopped: kopf.DaemonStopped | None = None) -> None:
        """Wait for a change of the object or a notification for it, the daemon stopping, or `seconds`."""
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

    async def step(self) -> bool:
        """One pass; returns True when it ended by waiting (nothing to do for now)."""
        # Whatever woke this pass is in what it reads next: kopf updates the body before it tells the
        # change. Left set, a wake from before a run (its creation, say) made one more pass after it.
        self.wake.clear()
        resource, runs = self.resource, self.runs
        spec = resource.spec()
        if spec.suspend:
            await resource.publish(outcomes.suspended())
            await self.sleep(self.ctx.config.idle_seconds)
            return True
        resource.refuse_unless_allowed(spec)
        began = time.monotonic()
        pool, token = await self.connection.connect(spec, reuse=True)
        latest, asked = await runs_store.latest_run_and_requests(pool, self.scope)  # one statement
        if latest is not None and latest["status"] == "running":
            if not await self.ownership.take(pool, latest):
                return True  # someone else's live run: coalesced, looked at again later
            await runs.resume(pool, spec, latest)
            return False
        if latest is not None and (resource.status.get("currentRun") or {}).get("id") == latest["id"]:
            await runs.closed_meanwhile(pool, latest)  # the status missed the run's end (see there)
            return False
        trigger = triggers.wanted(resource.body.metadata, resource.status)
        if trigger is None:
            trigger = triggers.sql_requested(
                resource.body.metadata, resource.status, asked.count, asked.interactive
            )
        if trigger is None:
            await self.idle()
            await self.sleep(self.ctx.config.idle_seconds)
            return True
        # A run reads its Secrets now (a rotated token, a new DSN), unless this pass just did.
        pool, token = await self.connection.connect(spec, fresh_since=began)
        await runs.start(pool, spec, token, trigger)
        return False

    # --- quiet states ---------------------------------------------------------------------------

    async def idle(self) -> None:
        """Nothing to run: make the conditions say what the last run says (after a problem is fixed)."""
        publication = outcomes.idle(self.resource.status, self.resource.generation)
        if publication is not None:
            await self.resource.publish(publication)

    async def report_problem(self, problem: Problem) -> None:
        key = (problem.reason, problem.message)
        if key != self.last_problem:
            self.logger.warning("%s: %s", problem.reason, problem.message)
            self.resource.event("Warning", problem.reason, problem.message)
        self.last_problem = key
        try:
            await self.resource.publish(outcomes.problem(problem))
        except Exception as exc:  # the status is best effort while something is already wrong
            self.logger.warning("could not write the status of %s: %s", self.scope, one_line(exc))
