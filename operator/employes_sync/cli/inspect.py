"""Look at and repair what is stored: an employee's timeline, the queue, a rebuild without the API."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import click

from employes_sync.cli.common import (
    database_option,
    echo_json,
    fail,
    open_database,
    plural,
    resolve_database,
    run,
)
from employes_sync.cli.lookup import resolve_employees, resolve_scope, scope_option
from employes_sync.processing import rebuild_timelines
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store import timeline as timeline_store


@click.command()
@click.argument("employee")
@scope_option
@database_option
@click.option("--json", "as_json", is_flag=True)
def timeline(employee: str, scope: str | None, database_url: str | None, as_json: bool) -> None:
    """Show one employee's timeline, oldest first. EMPLOYEE is an id or an employee number."""

    async def main() -> tuple[str, list[dict[str, Any]]]:
        async with open_database(dsn) as pool:
            chosen = await resolve_scope(pool, scope)
            [employee_id] = await resolve_employees(pool, chosen, [employee])
            return employee_id, await timeline_store.events_for(pool, chosen, employee_id)

    with resolve_database(database_url) as dsn:
        employee_id, events = run(main())
    if as_json:
        echo_json(events)
        return
    if not events:
        named = employee if employee_id == employee else f"{employee} ({employee_id})"
        fail(f"no timeline events for employee {named} (`employes-sync employees` lists ids and numbers)")
    for event in events:
        click.echo(f"{event['event_date']}  {event['event_title']}")
        if event.get("event_description"):
            click.echo(f"            {event['event_description']}")


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not an age like 30m, 12h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{_UNITS[unit]: amount})


@click.command()
@click.option("--scope", help="Only this scope.")
@database_option
@click.option(
    "--prune-older-than", "prune", help="Delete completed and failed batches older than this (e.g. 7d)."
)
@click.option("--json", "as_json", is_flag=True)
def queue(scope: str | None, database_url: str | None, prune: str | None, as_json: bool) -> None:
    """Show the batch queue by status, or prune finished batches."""
    age = _parse_age(prune) if prune is not None else None

    async def main() -> dict[str, Any]:
        async with open_database(dsn) as pool:
            if scope is not None:
                await resolve_scope(pool, scope)  # a mistyped scope is no empty queue: one line, exit 2
            pruned = await queue_store.prune(pool, age, scope) if age is not None else None
            counts = await queue_store.counts(pool, scope)
            closed = await queue_store.closed_count(pool, scope)
            return {"counts": counts, "closed": closed, "pruned": pruned}

    with resolve_database(database_url) as dsn:
        result = run(main())
    if as_json:
        echo_json(result)
        return
    if result["pruned"] is not None:
        click.echo(f"pruned {result['pruned']} finished batches older than {prune}")
    click.echo(f"{'status':<12} {'batches':>8}")
    for status in queue_store.STATUSES:
        line = f"{status:<12} {result['counts'].get(status, 0):>8}"
        if status == "failed" and result["closed"]:
            line += f"  ({result['closed']} closed with an interrupted run, never retried)"
        click.echo(line)


@click.command()
@click.option(
    "--employee", "employees", multiple=True, help="Only this employee, by id or number (repeatable)."
)
@scope_option
@database_option
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Build the timelines as of this day (YYYY-MM-DD): what has lapsed, what is planned. Default: today.",
)
@click.option(
    "--locale",
    type=click.Choice(["en", "nl"]),
    default=None,
    help="Language of titles and descriptions. Default: the one the scope's last sync used.",
)
@click.option("--json", "as_json", is_flag=True)
def rebuild(
    employees: tuple[str, ...],
    scope: str | None,
    database_url: str | None,
    as_of: datetime | None,
    locale: str | None,
    as_json: bool,
) -> None:
    """Rebuild timelines from the stored raw data, without calling the API.

    Every stored event that differs from what the builder derives now is corrected in place; the
    summary counts the events new, updated and removed.
    """
    day = as_of.date() if as_of is not None else date.today()

    async def main() -> dict[str, Any]:
        async with open_database(dsn) as pool:
            resolved = await resolve_scope(pool, scope)
            language = locale or await _last_locale(pool, resolved)
            ids = await resolve_employees(pool, resolved, employees)
            result = await rebuild_timelines(pool, resolved, ids or None, as_of=day, locale=language)
            return {**result.to_json(), "as_of": day.isoformat(), "locale": language}

    with resolve_database(database_url) as dsn:
        result = run(main())
    if as_json:
        echo_json(result)
    else:
        click.echo(
            f"rebuilt {plural(result['employees_processed'], 'employee')} as of {result['as_of']}: "
            f"{plural(result['events_created'], 'event')} new, {result['events_updated']} updated, "
            f"{result['events_removed']} removed"
        )
        for employee_id, reason in sorted(result["errors"].items()):
            click.echo(f"  employee {employee_id}: {reason}")
    if result["errors"]:
        fail(not_rebuilt(result["errors"]))


def not_rebuilt(errors: dict[str, str], shown: int = 3) -> str:
    """The one stderr line of a rebuild that left employees out (the summary on stdout lists them all)."""
    items = sorted(errors.items())
    text = "; ".join(f"{employee_id}: {reason}" for employee_id, reason in items[:shown])
    more = f"; and {len(items) - shown} more" if len(items) > shown else ""
    unknown = any("no stored data" in reason for _, reason in items)
    hint = " (`employes-sync employees` lists ids and numbers)" if unknown else ""
    return f"could not rebuild {plural(len(items), 'employee')}: {text}{more}{hint}"


async def _last_locale(pool: Any, scope: str) -> str:
    """The locale the scope's timelines were last written in, so a rebuild keeps their language."""
    run = await runs_store.latest_run(pool, scope)
    settings = (run or {}).get("settings") or {}
    locale = settings.get("locale")
    return locale if locale in ("en", "nl") else "en"
