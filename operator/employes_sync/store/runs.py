"""Sync runs in ``sync_runs``: one row per run, the record a person or a dashboard reads afterwards.

The run also carries its non-secret settings, so a worker given only a batch id finds how to behave
(API URL, rate, redaction) through the batch's run instead of through its command line.

One run per scope is running at a time, and PostgreSQL says so (a partial unique index), not one
process's memory: two `employes-sync sync` of one company, or two operators during an upgrade, meet
here. A run has an owner that renews its heartbeat; a starter that meets a running run with a live
heartbeat gets `RunAlreadyRunning`, one whose heartbeat expired (or whose CLI process on this machine
is gone) takes it over: the old run is closed as interrupted together with its unfinished batches, and
the new run records which one it took over.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from employes_sync.processes import pid_alive

from .queries import Q
from .sync_requests import OpenRequests

RunStatus = Literal["running", "succeeded", "failed", "degraded", "interrupted"]
FINAL_STATUSES = ("succeeded", "failed", "degraded", "interrupted")

#: How long a run stays owned without a heartbeat; the owner renews it every third of that.
DEFAULT_RUN_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class Owner:
    """Who drives a run: `id` decides who may renew or resume it, `name` is what a person reads."""

    id: str
    name: str

    @classmethod
    def this_process(cls, kind: str = "employes-sync sync") -> Owner:
        host, pid = socket.gethostname(), os.getpid()
        return cls(id=f"{kind}@{host}:{pid}", name=f"{host} pid {pid} ({kind})")

    @staticmethod
    def process_of(owner_id: str | None) -> tuple[str, int] | None:
        """(host, pid) of an id `this_process` made; None for an operator's or anything else."""
        kind, at, where = (owner_id or "").rpartition("@")
        host, colon, pid = where.rpartition(":")
        if not at or not colon or not kind.startswith("employes-sync ") or not pid.isdigit():
            return None
        return host, int(pid)

    @classmethod
    def operator(cls, instance: str | None = None) -> Owner:
        """An operator replica: the same `instance` (its pod name) after a restart is the same owner,
        so a restarted operator resumes its runs at once instead of waiting for their leases."""
        instance = instance or os.environ.get("POD_NAME") or socket.gethostname()
        return cls(id=f"operator@{instance}", name=f"operator {instance} pid {os.getpid()}")

    @property
    def is_operator(self) -> bool:
        return self.id.startswith("operator@")


class RunAlreadyRunning(Exception):
    """The scope has a running run whose owner is alive (its heartbeat has not expired)."""

    def __init__(self, scope: str, run_id: int, started_at: datetime, owner: str | None) -> None:
        self.scope, self.run_id, self.started_at, self.owner = scope, run_id, started_at, owner
        super().__init__(
            f"a sync of {scope} is already running (run {run_id}, started "
            f"{started_at:%Y-%m-%d %H:%M:%S %Z}, on {owner or 'an unknown owner'})"
        )


def owner_gone(
    owner_id: str | None, *, host: str | None = None, pid_alive: Callable[[int], bool] = pid_alive
) -> bool:
    """Whether a run's owner is a CLI process of this very machine that no longer exists.

    Such a run (a `sync` killed with SIGKILL, a crash) is taken over at once, instead of after its
    heartbeat expires: the user who reruns it straight away would otherwise be told that it is "already
    running" on a pid that is gone. Anything else (an operator, another host, a live pid, a reused one)
    keeps waiting for its heartbeat.
    """
    process = Owner.process_of(owner_id)
    if process is None:
        return False
    owner_host, pid = process
    return owner_host == (host or socket.gethostname()) and pid > 0 and not pid_alive(pid)


@dataclass(frozen=True)
class TakenOver:
    """An expired run (or one whose process on this machine is gone) that the new run closed first."""

    run_id: int
    owner: str | None
    heartbeat_at: datetime | None
    batches_closed: int
    #: its owner was a process of this machine that no longer exists (see owner_gone)
    process_gone: bool = False

    @property
    def reason(self) -> str:
        if self.process_gone:
            return f"taken over: its owner ({self.owner or 'unknown'}) no longer runs on this machine"
        beat = f"{self.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}" if self.heartbeat_at else "never"
        return (
            f"taken over: its owner ({self.owner or 'unknown'}) stopped renewing its heartbeat (last {beat})"
        )


@dataclass(frozen=True)
class StartedRun:
    run_id: int
    took_over: TakenOver | None = None


async def start_run(
    pool: AsyncConnectionPool,
    scope: str,
    company_id: str,
    trigger: str,
    mode: str,
    settings: Mapping[str, Any] | None = None,
    *,
    owner: Owner | None = None,
    lease_seconds: float = DEFAULT_RUN_LEASE_SECONDS,
) -> int:
    """Open a run (see `claim_run`); ``settings`` must hold no secret (anyone reading the table sees them)."""
    started = await claim_run(
        pool, scope, company_id, trigger, mode, settings, owner=owner, lease_seconds=lease_seconds
    )
    return started.run_id


async def claim_run(
    pool: AsyncConnectionPool,
    scope: str,
    company_id: str,
    trigger: str,
    mode: str,
    settings: Mapping[str, Any] | None = None,
    *,
    owner: Owner | None = None,
    lease_seconds: float = DEFAULT_RUN_LEASE_SECONDS,
) -> StartedRun:
    """Open a run owned by `owner` (default: this process), taking over an expired one of the scope.

    Raises `RunAlreadyRunning` when the scope's running run has a live heartbeat. The check and the
    takeover happen in one transaction, with the running row locked, so two starters that meet the
    same expired run cannot both take it over.
    """
    owner = owner or Owner.this_process()
    params: dict[str, Any] = {
        "scope": scope,
        "company_id": str(company_id),
        "trigger": trigger,
        "mode": mode,
        "settings": Jsonb(dict(settings or {})),
        "owner": owner.name,
        "owner_id": owner.id,
        "lease_seconds": lease_seconds,
        "took_over": None,
    }
    for _ in range(5):  # the running run may end between the insert and the lock: look again
        async with pool.connection() as conn, conn.transaction():
            cur = await conn.execute(Q.start_run, params)
            row = await cur.fetchone()
            if row is not None:
                return StartedRun(int(row[0]))
            found = conn.cursor(row_factory=dict_row)
            await found.execute(Q.lock_running_run, {"scope": scope})
            running = await found.fetchone()
            if running is None:
                continue
            process_gone = not running["expired"] and owner_gone(running["owner_id"])
            if not running["expired"] and not process_gone:
                raise RunAlreadyRunning(scope, running["id"], running["started_at"], running["owner"])
            old = int(running["id"])
            gone = TakenOver(old, running["owner"], running["heartbeat_at"], 0, process_gone)
            closed = await _close(conn, old, gone.reason, {"taken_over": True})
            gone = TakenOver(old, gone.owner, gone.heartbeat_at, closed or 0, process_gone)
            cur = await conn.execute(Q.start_run, {**params, "took_over": old})
            row = await cur.fetchone()
            assert row is not None  # the scope's running row is the one closed above, under lock
            return StartedRun(int(row[0]), gone)
    raise RuntimeError(f"could not start a run of {scope}: its running run kept changing")


async def renew(pool: AsyncConnectionPool, run_id: int, owner: Owner, lease_seconds: float) -> bool:
    """The owner's heartbeat; False when the run is no longer running or no longer the owner's."""
    return run_id in await renew_all(pool, [run_id], owner, lease_seconds)


async def renew_all(
    pool: AsyncConnectionPool, run_ids: Collection[int], owner: Owner, lease_seconds: float
) -> set[int]:
    """The owner's heartbeat of several runs in one statement: the ids of those still its own."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            Q.renew_runs,
            {"run_ids": list(run_ids), "owner_id": owner.id, "lease_seconds": lease_seconds},
        )
        return {int(row[0]) for row in await cur.fetchall()}


async def adopt(pool: AsyncConnectionPool, run_id: int, owner: Owner, lease_seconds: float) -> bool:
    """Own a running run that is ours or expired; False otherwise (someone else's, or over)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            Q.adopt_run,
            {"run_id": run_id, "owner": owner.name, "owner_id": owner.id, "lease_seconds": lease_seconds},
        )
        return await cur.fetchone() is not None


async def interrupt(
    pool: AsyncConnectionPool, run_id: int, reason: str, summary: Mapping[str, Any] | None = None
) -> int | None:
    """Close a run that ended without finishing, and its unfinished batches, in one transaction.

    The batches become failed with `closed: run N <reason>` and are never retried: the next run of
    the scope lists every employee again and queues them anew. Returns how many batches were closed,
    or None when the run was no longer running (finished, or taken over, meanwhile).
    """
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(Q.get_run, {"run_id": run_id})
        if await cur.fetchone() is None:
            raise LookupError(f"no run {run_id}")
        return await _close(conn, run_id, reason, summary or {})


async def close_batches(pool: AsyncConnectionPool, run_id: int, reason: str) -> int:
    """Close a finished run's pending and processing batches with `reason` (never retried)."""
    async with pool.connection() as conn:
        cur = await conn.execute(Q.close_run_batches, {"run_id": run_id, "reason": reason})
        return len(await cur.fetchall())


async def _close(conn: Any, run_id: int, reason: str, summary: Mapping[str, Any]) -> int | None:
    """The batches first, then the run (its row locked from the start): so a listener hears each
    closed batch's batch.finished before the run's run.finished, as in a run that finishes."""
    cur = await conn.execute(Q.lock_run_to_interrupt, {"run_id": run_id})
    if await cur.fetchone() is None:
        return None
    cur = await conn.execute(
        Q.close_run_batches, {"run_id": run_id, "reason": f"closed: run {run_id} was interrupted ({reason})"}
    )
    closed = len(await cur.fetchall())
    await conn.execute(
        Q.interrupt_run,
        {"run_id": run_id, "error": f"interrupted: {reason}", "summary": Jsonb(dict(summary))},
    )
    return closed


async def mark_first_feedback(pool: AsyncConnectionPool, run_id: int, seconds: float) -> bool:
    """Record the time to first feedback; only the first call counts (returns whether this one did)."""
    async with pool.connection() as conn:
        cur = await conn.execute(Q.mark_first_feedback, {"run_id": run_id, "seconds": seconds})
        return await cur.fetchone() is not None


async def update_summary(pool: AsyncConnectionPool, run_id: int, summary: Mapping[str, Any]) -> None:
    """Replace the summary of a run in progress, so a reader sees progress before the end."""
    async with pool.connection() as conn:
        await conn.execute(Q.update_run_summary, {"run_id": run_id, "summary": Jsonb(dict(summary))})


async def finish_run(
    pool: AsyncConnectionPool,
    run_id: int,
    status: RunStatus,
    summary: Mapping[str, Any],
    error: str | None = None,
) -> None:
    if status not in FINAL_STATUSES:
        raise ValueError(f"a run finishes as one of {FINAL_STATUSES}, not {status!r}")
    async with pool.connection() as conn:
        cur = await conn.execute(
            Q.finish_run,
            {"run_id": run_id, "status": status, "summary": Jsonb(dict(summary)), "error": error},
        )
        if await cur.fetchone() is None:
            raise LookupError(f"no run {run_id}")


async def get_run(pool: AsyncConnectionPool, run_id: int) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.get_run, {"run_id": run_id})
        return await cur.fetchone()


async def latest_run(pool: AsyncConnectionPool, scope: str) -> dict[str, Any] | None:
    """The scope's most recent run (an operator resuming after a restart starts here)."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.latest_run, {"scope": scope})
        return await cur.fetchone()


async def latest_run_and_requests(
    pool: AsyncConnectionPool, scope: str
) -> tuple[dict[str, Any] | None, OpenRequests]:
    """`latest_run` and `sync_requests.open_requests` in one statement: a reconcile pass asks both, and
    at 200 idle resources their round trips were most of what the operator did."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.latest_run_and_requests, {"scope": scope})
        row = await cur.fetchone()
    assert row is not None
    asked = OpenRequests(
        count=int(row.pop("open_requests_n")),
        interactive=bool(row.pop("open_requests_interactive")),
        oldest=row.pop("open_requests_oldest"),
    )
    return (row if row["id"] is not None else None), asked


async def scopes(pool: AsyncConnectionPool) -> list[str]:
    """The scopes with data stored here (`local/<companyId>`, `<namespace>/<name>`).

    A scope exists once something of it is stored: a first run that failed (a mistyped company id's
    404) leaves a failed run row, but no scope for `timeline` or `rebuild` to trip over.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(Q.scopes)
        return [row[0] for row in await cur.fetchall()]
