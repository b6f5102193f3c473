"""Batches as local processes: `employes-sync worker --batch-id ID`, the command a Job pod runs.

Secrets reach the worker through its environment, never its command line, so they don't show in
`ps`. The last lines a worker wrote to stderr become the reason of an attempt that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from employes_sync.allowlist import API_URL_ENV, API_URLS_ENV, DATABASE_HOSTS_ENV
from employes_sync.executors.driver import DriverSettings, Ended, OnTick
from employes_sync.executors.lease import Heartbeat
from employes_sync.executors.orchestration import RunOrchestration
from employes_sync.pipeline import OnResponse, RunSummary
from employes_sync.settings import (
    WORKER_COMPANY_ENV,
    WORKER_DATABASE_ENV,
    WORKER_REDACT_ENV,
    WORKER_TOKEN_ENV,
    SyncSettings,
)
from employes_sync.store import runs as runs_store
from employes_sync.store.queue import Batch

log = logging.getLogger(__name__)

WORKER_COMMAND = [sys.executable, "-m", "employes_sync", "worker"]
#: Set in a local worker's environment: the worker asks the kernel for SIGTERM when this process dies
#: (see `cli/worker.py`, which reads the same name).
PARENT_ENV = "EMPLOYES_SYNC_PARENT_PID"
#: What a Job's environment tells its worker in place of the run's stored settings (kube/jobs.py). A
#: local worker takes them from the run, as the command that started it did: the same names exported
#: in the user's shell (EMPLOYES_COMPANY_ID is a natural one) would point its requests elsewhere. The
#: database host list makes a worker dial its DSN as a resource's (without libpq's environment): a
#: local worker's DSN and environment are its user's own.
JOB_ONLY_ENV = frozenset(
    {API_URL_ENV, API_URLS_ENV, DATABASE_HOSTS_ENV, WORKER_COMPANY_ENV, WORKER_REDACT_ENV}
)
#: How long stopped workers get to exit before they are killed.
STOP_GRACE_SECONDS = 5.0


@dataclass
class _Attempt:
    batch_id: str
    attempt: int
    process: asyncio.subprocess.Process
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    reader: asyncio.Task[None] | None = None


class LocalLauncher:
    def __init__(
        self,
        database_url: str,
        token: str,
        *,
        extra_env: dict[str, str] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._env = {
            **{name: value for name, value in os.environ.items() if name not in JOB_ONLY_ENV},
            **(extra_env or {}),
            WORKER_DATABASE_ENV: database_url,
            WORKER_TOKEN_ENV: token,
            PARENT_ENV: str(os.getpid()),
        }
        self._attempts: dict[str, _Attempt] = {}
        self._on_exit = on_exit

    async def launch(self, batch: Batch, attempt: int) -> str:
        process = await asyncio.create_subprocess_exec(
            *WORKER_COMMAND,
            "--batch-id",
            batch.id,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        running = _Attempt(batch.id, attempt, process)
        running.reader = asyncio.create_task(self._watch(running))
        self._attempts[batch.id] = running
        return f"pid {process.pid}"

    async def _watch(self, attempt: _Attempt) -> None:
        """Keep the last lines the worker wrote, and tell the driver the moment it exits."""
        assert attempt.process.stderr is not None
        async for line in attempt.process.stderr:
            text = line.decode(errors="replace").strip()
            if text:
                attempt.stderr.append(text)
        await attempt.process.wait()
        if self._on_exit is not None:
            self._on_exit()

    async def ended(self) -> list[Ended]:
        done: list[Ended] = []
        for batch_id, attempt in list(self._attempts.items()):
            code = attempt.process.returncode
            if code is None:
                continue
            if attempt.reader:
                await attempt.reader
            del self._attempts[batch_id]
            reason = ""
            if code != 0:
                last = attempt.stderr[-1] if attempt.stderr else ""
                how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
                reason = f"worker {how}" + (f": {last}" if last else "")
            done.append(Ended(batch_id, attempt.attempt, code == 0, reason))
        return done

    def running(self) -> set[str]:
        return set(self._attempts)

    async def close(self) -> None:
        """Stop every worker: SIGTERM, then SIGKILL for one still there after the grace period."""
        attempts = list(self._attempts.values())
        for attempt in attempts:
            with contextlib.suppress(ProcessLookupError):
                attempt.process.terminate()
        waits = [asyncio.ensure_future(a.process.wait()) for a in attempts]
        if waits:
            _, late = await asyncio.wait(waits, timeout=STOP_GRACE_SECONDS)
            for attempt in attempts:
                if attempt.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        attempt.process.kill()
            if late:
                await asyncio.wait(late, timeout=STOP_GRACE_SECONDS)
        for attempt in attempts:
            if attempt.reader is not None:
                attempt.reader.cancel()
        self._attempts.clear()


class ProgressSink(Protocol):
    def event(self, name: str, fields: dict[str, Any]) -> None: ...
    def batches(self, batches: list[Batch]) -> None: ...


class RunLost(RuntimeError):
    """Another sync took this run over: its heartbeat was not renewed in time (a suspended laptop)."""


async def sync_locally(
    settings: SyncSettings,
    pool: AsyncConnectionPool,
    dsn: str,
    token: str,
    *,
    workers: int = 2,
    progress: ProgressSink | None = None,
    on_response: OnResponse | None = None,
    poll_seconds: float = 2.0,
    stop: asyncio.Event | None = None,
    stop_reason: Callable[[], str] = lambda: "stopped",
    owner: runs_store.Owner | None = None,
) -> RunSummary:
    """A whole run on this machine: listing and the inline part here, batches in worker processes.

    Workers start on the first queued batch, while listing still goes on. Raises `RunAlreadyRunning`
    when another live process runs this scope. When `stop` is set (SIGINT, SIGTERM), the workers are
    stopped and the run is closed as interrupted with its unfinished batches, and its summary
    returned; the next run syncs those employees again.
    """
    owner = owner or runs_store.Owner.this_process()
    claimed = await runs_store.claim_run(
        pool, settings.scope, settings.company_id, settings.trigger, settings.mode, settings.to_json(),
        owner=owner, lease_seconds=settings.run_lease_seconds,
    )  # fmt: skip
    run_id = claimed.run_id
    run = RunOrchestration.begin(pool, run_id, settings)
    listing_done = asyncio.Event()
    wake = asyncio.Event()  # a worker exited, or batches were queued: look at the queue now
    on_tick: OnTick | None = progress.batches if progress else None

    def report(name: str, fields: dict[str, Any]) -> None:
        if name in ("queued", "listed"):
            wake.set()
        if progress:
            progress.event(name, fields)

    if claimed.took_over is not None:
        report("took_over", {"run_id": claimed.took_over.run_id, "reason": claimed.took_over.reason})

    async def collect() -> None:
        try:
            await run.start(settings, token, progress=report, on_response=on_response)
        finally:
            listing_done.set()
            wake.set()

    driver_settings = DriverSettings(
        parallelism=workers,
        backoff_seconds=settings.backoff_seconds,
        backoff_max_seconds=settings.backoff_max_seconds,
        poll_seconds=poll_seconds,  # a safety net: worker exits and queued batches wake the driver at once
        lazy_reads=True,  # every worker's exit wakes the driver (on_exit), so busy workers need no polling
    )
    launcher = LocalLauncher(dsn, token, on_exit=wake.set)
    collector = asyncio.create_task(collect())
    driver = asyncio.create_task(
        run.drive(launcher, driver_settings, listing_done=listing_done, on_tick=on_tick, wake=wake)
    )
    async with Heartbeat(pool, owner, settings.run_lease_seconds).holding(run_id) as heartbeat:
        stopped: asyncio.Task[Any] | None = asyncio.create_task(stop.wait()) if stop is not None else None

        async def work() -> None:
            await collector
            await driver

        whole = asyncio.create_task(work())
        tasks: list[asyncio.Task[Any]] = [whole, collector, driver, *([stopped] if stopped else [])]
        try:
            await asyncio.wait(
                [t for t in (whole, heartbeat, stopped) if t], return_when=asyncio.FIRST_COMPLETED
            )
            if not whole.done():
                for task in (whole, collector, driver):
                    task.cancel()
                await asyncio.gather(whole, collector, driver, return_exceptions=True)
                if heartbeat.done():
                    raise RunLost(
                        f"run {run_id} was taken over by another sync: its heartbeat was not renewed within "
                        f"{settings.run_lease_seconds:g} s"
                    )
                return await run.interrupt(stop_reason())
            whole.result()  # the listing's error (the run is already closed as failed), or the driver's
            return await run.finish(batches=driver.result())  # its last read: all finished, after listing
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            run.finished("failed")  # counted already unless the run ended by an error
