"""Turn a set of employees into stored employments and timeline events.

The inline part of a run and a queued batch do exactly the same work, so both call
`process_employees`. One employee's bad data never fails the others: it is named in
`ProcessResult.errors` and the rest go on. What a later attempt may fix (a 5xx storm, a timeout,
a rejected token) is raised instead, so the batch is retried as a whole: every write below is
idempotent, so a retry never duplicates anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.client import EmployesClient
from employes_sync.employes.errors import (
    EmployesError,
    MalformedResponseError,
    NotFoundError,
    ResponseTooLargeError,
)
from employes_sync.settings import SyncSettings
from employes_sync.store import raw as raw_store
from employes_sync.store import timeline as timeline_store
from employes_sync.timeline import DEFAULT_LOCALE, InvalidRecord, TimelineEvent, build_timeline

log = logging.getLogger(__name__)

#: Requests in flight at once per process; the rate limiter decides when each one goes.
FETCH_CONCURRENCY = 8


@dataclass
class ProcessResult:
    employees: int = 0
    history_processed: int = 0
    events_created: int = 0
    events_updated: int = 0
    events_removed: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    raw_new: int = 0
    raw_changed: int = 0
    raw_unchanged: int = 0
    employees_with_events: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    #: Employees left for a batch (`hand_over=True`): a later attempt may fix what failed them.
    deferred: dict[str, str] = field(default_factory=dict)

    def add_written(self, written: timeline_store.WriteResult) -> None:
        self.events_created += written.inserted
        self.events_updated += written.updated
        self.events_removed += written.removed

    def to_json(self) -> dict[str, Any]:
        return {
            "employees_processed": self.employees,
            "history_processed": self.history_processed,
            "events_created": self.events_created,
            "events_updated": self.events_updated,
            "events_removed": self.events_removed,
            "events_by_type": self.events_by_type,
            "raw_new": self.raw_new,
            "raw_changed": self.raw_changed,
            "raw_unchanged": self.raw_unchanged,
            "employees_with_events": self.employees_with_events,
            "errors": self.errors,
            "deferred": self.deferred,
        }


async def fetch_employments(
    client: EmployesClient, employee_ids: Sequence[str], *, deferred: dict[str, str] | None = None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Employments per employee, and a reason per employee that could not be fetched.

    A 404 on employments means either "no employments" or "this employee is gone"; one more
    request for the employee tells them apart, and it is only paid on a 404.

    Given `deferred`, an employee whose requests still fail after the client's retries with an
    error a later attempt may fix (a 5xx, a timeout) is put there, with the reason, instead of
    failing the others: the inline part hands such employees to a batch.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(employee_id: str) -> None:
        async with gate:
            try:
                found[employee_id] = await client.get_employments(employee_id)
            except NotFoundError:
                try:
                    await client.get_employee(employee_id)
                except NotFoundError:
                    errors[employee_id] = "employee not found (404): removed since it was listed"
                    return
                found[employee_id] = []
            except (MalformedResponseError, ResponseTooLargeError) as exc:
                if exc.transient and deferred is not None:
                    deferred[employee_id] = str(exc)
                    return
                # This employee's data, and asking again returns the same: name it, spare the batch.
                errors[employee_id] = f"employments response unusable: {exc}"
            except EmployesError as exc:
                if not exc.transient or deferred is None:
                    raise
                deferred[employee_id] = str(exc)

    # Not a TaskGroup: on Python 3.11, a task of a group that fails while the caller waits at the
    # group's end leaves a cancel request on the caller for good (CPython gh-116720, fixed in 3.13).
    # The reconciler's task then counted as being cancelled for the rest of its life, which is how
    # it tells a cancellation it was asked for from a stray one (controller/reasons.py).
    tasks = [asyncio.create_task(one(employee_id)) for employee_id in employee_ids]
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # the first failure stops the others, as a TaskGroup would
        await asyncio.gather(*tasks, return_exceptions=True)
    # Callers decide by the error's class (transient or not, an API error or not), and the batch's
    # recorded reason must name it: the first failure in the employees' order, raised bare.
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
    return found, errors


def build_events(
    employees: dict[str, dict[str, Any]],
    employments: dict[str, list[dict[str, Any]] | None],
    errors: dict[str, str],
    *,
    as_of: date,
    locale: str,
) -> list[TimelineEvent]:
    """Every event of these employees; an employee whose record cannot be read is named in errors."""
    events: list[TimelineEvent] = []
    for employee_id, employee in employees.items():
        if employee_id in errors:
            continue
        try:
            events.extend(build_timeline(employee, employments.get(employee_id), as_of=as_of, locale=locale))
        except InvalidRecord as exc:
            errors[employee_id] = f"invalid record: {exc.reason}"
    return events


async def process_employees(
    client: EmployesClient,
    pool: AsyncConnectionPool,
    settings: SyncSettings,
    employee_ids: Sequence[str],
    employees: dict[str, dict[str, Any]] | None = None,
    *,
    run_id: int | None = None,
    hand_over: bool = False,
) -> ProcessResult:
    """Fetch, store and build the timelines of these employees (already stored from the list).

    `employees` may carry the employee records the caller already holds (the inline part has them
    from the first page); otherwise they are read back from the database in one statement.
    With `hand_over`, employees that failed with an error a retry may fix are returned in
    `ProcessResult.deferred` instead of raised (the inline part queues them); the rest are done.
    """
    result = ProcessResult(employees=len(employee_ids))
    if not employee_ids:
        return result
    deferred: dict[str, str] = {}
    fetched, errors = await fetch_employments(client, employee_ids, deferred=deferred if hand_over else None)
    if deferred:
        employee_ids = [e for e in employee_ids if e not in deferred]
        result.employees = len(employee_ids)
        result.deferred = deferred
        for employee_id, reason in deferred.items():
            log.info("employee %s handed to a batch: %s", employee_id, reason)
    result.history_processed = sum(len(v) for v in fetched.values())

    # Redacted once: what is stored is what the timeline is built from.
    history = {
        employee_id: raw_store.redact(items, settings.redact) for employee_id, items in fetched.items()
    }
    stored = await raw_store.store_employments(pool, settings.scope, history, redact_fields=())
    result.raw_new, result.raw_changed, result.raw_unchanged = stored.new, stored.changed, stored.unchanged

    if employees is None:
        latest = await raw_store.load_latest(pool, settings.scope, list(employee_ids))
        employees = {employee_id: pair[0] for employee_id, pair in latest.items()}
    else:
        # The caller's records are as the API sent them: timelines are built from what is stored,
        # the redacted record, or a field the resource redacts (a name) would reach its events.
        employees = {
            employee_id: raw_store.redact(employees[employee_id], settings.redact)
            for employee_id in employee_ids
            if employee_id in employees
        }
    for employee_id in employee_ids:
        if employee_id not in employees and employee_id not in errors:
            errors[employee_id] = "employee record missing from the store"

    events = build_events(employees, history, errors, as_of=settings.as_of_date, locale=settings.locale)
    written = await timeline_store.write_events(
        pool, settings.scope, [e for e in employee_ids if e not in errors], events, run_id=run_id
    )
    result.add_written(written)
    for event in events:
        result.events_by_type[event.event_type] = result.events_by_type.get(event.event_type, 0) + 1
    result.employees_with_events = len({event.employee_id for event in events})
    result.errors = errors
    for employee_id, reason in errors.items():
        log.warning("employee %s skipped: %s", employee_id, reason)
    return result


async def rebuild_timelines(
    pool: AsyncConnectionPool,
    scope: str,
    employee_ids: Sequence[str] | None = None,
    *,
    as_of: date,
    locale: str = DEFAULT_LOCALE,
    chunk: int = 500,
    run_id: int | None = None,
) -> ProcessResult:
    """Timelines again from what is stored, without one API call (after a builder fix, say; and for the
    employees an incremental run skips, see pipeline.py).

    Every stored event that differs from what the builder now derives is updated in place, so the
    counts say what a correction or an upgrade changed. With ``run_id``, the changes are the run's
    (its `timeline.changed` notifications and webhook events).
    """
    latest = await raw_store.load_latest(pool, scope, list(employee_ids) if employee_ids else None)
    result = ProcessResult(employees=len(latest))
    if employee_ids:
        for missing in set(employee_ids) - set(latest):
            result.errors[missing] = "no stored data for this employee in this scope"
    ids = sorted(latest)
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        employees = {i: latest[i][0] for i in part}
        employments = {i: latest[i][1] for i in part}
        errors: dict[str, str] = {}
        events = build_events(employees, employments, errors, as_of=as_of, locale=locale)
        written = await timeline_store.write_events(
            pool, scope, [i for i in part if i not in errors], events, run_id=run_id
        )
        result.add_written(written)
        result.employees_with_events += len({event.employee_id for event in events})
        result.errors.update(errors)
    return result
