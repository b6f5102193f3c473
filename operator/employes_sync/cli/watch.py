"""`employes-sync watch`: print the `employes_sync` notifications of a database as they arrive.

Beside `sync --demo` it shows the first timelines change within about a second, then each batch. It
listens on its own connection and reconnects when the database goes away (the embedded server stops
with the `sync` that started it), so it can be left running across syncs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
import psycopg

from employes_sync.cli.common import database_option, fail, resolve_database, run, warn
from employes_sync.controller.listener import parse_payload
from employes_sync.store import db
from employes_sync.store.db import redact_dsn
from employes_sync.store.queries import Q


def describe(payload: dict[str, Any]) -> str:
    """One line for a person; the --json form prints the payload itself."""
    kind = payload.get("type")
    head = f"{str(payload.get('at', ''))[11:23]:<12} {kind:<18} {payload.get('scope')}"
    run = f"run {payload.get('run_id')}"
    if kind == "run.started":
        requests = payload.get("request_ids") or []
        serving = f", serving request {', '.join(map(str, requests))}" if requests else ""
        return f"{head}  {run} ({payload.get('trigger')}, {payload.get('mode')}{serving})"
    if kind == "run.first_feedback":
        return f"{head}  {run}: first timelines after {float(payload.get('seconds') or 0):.2f} s"
    if kind == "timeline.changed":
        ids = payload.get("employee_ids") or []
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        return f"{head}  {run}: {len(ids)} employees ({shown})"
    if kind == "batch.finished":
        status = "closed with its run" if payload.get("closed") else payload.get("status")
        return (
            f"{head}  {run}: batch {payload.get('batch_no')} {status} "
            f"({payload.get('employees')} employees, attempt {payload.get('attempts')})"
        )
    if kind == "run.finished":
        # Whose removal each count is: "0 removed" after "events new" read as events, and was employees.
        return (
            f"{head}  {run} {payload.get('status')}: {payload.get('employees')} employees "
            f"({payload.get('employees_removed')} removed), events {payload.get('events_created')} new, "
            f"{payload.get('events_updated')} updated, {payload.get('events_removed', 0)} removed; "
            f"batches {payload.get('batches_failed')} failed of {payload.get('batches')}"
        )
    if kind == "sync.requested":
        return f"{head}  request {payload.get('request_id')} ({payload.get('mode')})"
    return f"{head}  {json.dumps(payload, sort_keys=True)}"


@click.command()
@click.option("--scope", help="Only this scope (local/<companyId>, or <namespace>/<name>).")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print each payload as one line of JSON.")
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after this many notifications.")
def watch(scope: str | None, database_url: str | None, as_json: bool, count: int | None) -> None:
    """Print sync notifications (runs, batches, changed timelines) as they arrive."""
    with resolve_database(database_url) as dsn:
        try:
            run(_watch(dsn, scope, as_json, count))
        except KeyboardInterrupt:
            pass


async def _warn_unknown_scope(dsn: str, scope: str) -> None:
    """Say once when --scope names no scope of this database: a mistyped one (`payroll/acme` for a
    local sync's `local/<companyId>`) otherwise printed nothing, for ever, like a quiet database.

    Only a warning: a resource the operator has not seen yet becomes known later, and is then shown."""
    try:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            cur = await conn.execute(Q.known_scopes)
            known = [row[0] for row in await cur.fetchall()]
    except psycopg.errors.UndefinedTable:
        known = []  # no sync has used this database yet
    except psycopg.Error:
        return  # says nothing of the scope; the listener reports a lost database itself
    if scope not in known:
        names = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        warn(
            f"no scope {scope!r} in this database yet (known: {names or 'none'}); "
            "waiting for its notifications"
        )


async def _watch(dsn: str, scope: str | None, as_json: bool, count: int | None) -> None:
    # A database that does not answer at the start is a mistyped URL or a server not started: one
    # line, as every other command says it. Reconnecting is for a database that went away later.
    try:
        await db.check_connection(dsn)
    except db.DatabaseUnavailable as exc:
        fail(str(exc))
    if scope:
        await _warn_unknown_scope(dsn, scope)
    seen = 0
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, connect_timeout=10
            ) as conn:
                await conn.execute("LISTEN employes_sync")
                if failures:
                    click.echo(f"# listening again at {redact_dsn(dsn)}", err=True)
                failures = 0
                async for message in conn.notifies():
                    payload = parse_payload(message.payload)
                    if payload is None or (scope and payload.get("scope") != scope):
                        continue
                    click.echo(json.dumps(payload, sort_keys=True) if as_json else describe(payload))
                    seen += 1
                    if count is not None and seen >= count:
                        return
        except psycopg.OperationalError as exc:
            failures += 1
            if failures == 1:
                click.echo(f"# database connection lost ({type(exc).__name__}); reconnecting", err=True)
            if failures > 60:
                fail(f"database unreachable at {redact_dsn(dsn)} for a minute")
            await asyncio.sleep(1.0)
