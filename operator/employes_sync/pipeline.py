"""One sync run: list employees page by page, process the first few inline, queue the rest.

The original design fetched every employee and every employment before it answered anyone. Here the
inline part starts as soon as the first page is stored, so the time to first feedback does not grow
with the company, and batches are queued page by page so workers start while listing goes on.

`start_run` is the part that talks to the API from the caller's process (the CLI, or the operator's
reconcile); the batches are then driven by an executor, and `finish_run` closes the run from what
the queue and the timeline say.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.client import EmployesClient, ResponseCallback, RetryNotice
from employes_sync.employes.errors import TransportError
from employes_sync.messages import one_line
from employes_sync.processing import ProcessResult, process_employees, rebuild_timelines
from employes_sync.settings import SyncSettings
from employes_sync.store import employees as employees_store
from employes_sync.store import queue as queue_store
from employes_sync.store import raw as raw_store
from employes_sync.store import runs as runs_store
from employes_sync.store import timeline as timeline_store
from employes_sync.store.ratelimit import PostgresRateLimiter, credential_key

log = logging.getLogger(__name__)

#: progress(event, fields): "page", "inline", "queued", "listed", "retry" (a request of the listing or
#: the inline part is retried: `notice` says what it waits for), "took_over"
Progress = Callable[[str, dict[str, Any]], None]
#: on_response(endpoint, status class, seconds): the client's callback (employes/client.py).
OnResponse = ResponseCallback


class ListingDeadlineExceeded(TransportError):
    """The listing (with its retries) outlived `listing_deadline_seconds`: an API that never answers."""


@dataclass
class RunStarted:
    run_id: int
    scope: str
    employees: int = 0
    inline: ProcessResult = field(default_factory=ProcessResult)
    queued_employees: int = 0
    batch_ids: list[str] = field(default_factory=list)
    raw_new: int = 0
    raw_changed: int = 0
    raw_unchanged: int = 0
    invalid_employees: dict[str, str] = field(default_factory=dict)
    time_to_first_feedback: float | None = None
    removed: list[str] = field(default_factory=list)
    #: why departures were not looked for (None: the listing was complete and they were)
    departures_skipped: str | None = None
    pages_listed: int = 0
    #: an incremental run's unchanged employees, whose timelines are built again from what is stored
    unchanged_ids: list[str] = field(default_factory=list)
    refreshed: ProcessResult = field(default_factory=ProcessResult)

    @property
    def skipped_unchanged(self) -> int:
        """Employees an incremental run fetched no employments for."""
        return len(self.unchanged_ids)


def _noop(event: str, fields: dict[str, Any]) -> None:
    return None


def make_client(
    settings: SyncSettings,
    token: str,
    pool: AsyncConnectionPool,
    on_response: OnResponse | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
) -> EmployesClient:
    """A client whose rate limit is shared, through PostgreSQL, by everything that uses this token.

    The key is the token's SHA-256, not the scope: resources and scopes sharing one credential share
    its budget. An interactive run's requests go ahead of background runs' requests on that budget.
    """
    limiter = PostgresRateLimiter(
        pool,
        credential_key(token),
        settings.requests_per_second,
        interactive=settings.mode == "interactive",
    )
    return EmployesClient(
        settings.api_url,
        settings.company_id,
        token,
        limiter=limiter,
        requests_per_second=settings.requests_per_second,
        page_size=settings.page_size,
        timeout=settings.timeout_seconds,
        on_response=on_response,
        on_retry=on_retry,
    )


async def start_run(
    settings: SyncSettings,
    pool: AsyncConnectionPool,
    token: str,
    *,
    progress: Progress | None = None,
    on_response: OnResponse | None = None,
    run_id: int | None = None,
) -> RunStarted:
    """Steps 1 to 3 of a run. Raises on anything that stops the run; the run row is then failed."""
    report = progress or _noop
    started = time.monotonic()
    if run_id is None:
        run_id = await runs_store.start_run(
            pool, settings.scope, settings.company_id, settings.trigger, settings.mode, settings.to_json()
        )
    run = RunStarted(run_id=run_id, scope=settings.scope)
    try:
        async with (
            asyncio.timeout(settings.listing_deadline_seconds),
            make_client(
                settings, token, pool, on_response, lambda notice: report("retry", {"notice": str(notice)})
            ) as client,
        ):
            waiting: list[str] = []
            first_page = True
            async for page in client.iter_employee_pages():
                stored = await raw_store.store_employees(
                    pool, settings.scope, page.employees, settings.redact
                )
                run.employees += len(page.employees)
                run.pages_listed = page.page
                run.raw_new += stored.new
                run.raw_changed += stored.changed
                run.raw_unchanged += stored.unchanged
                for index, reason in page.invalid:
                    run.invalid_employees[f"page {page.page} item {index}"] = reason
                ids = [employee["id"] for employee in page.employees]
                if settings.incremental:
                    updated = set(stored.updated_ids)
                    run.unchanged_ids.extend(i for i in ids if i not in updated)
                    ids = [i for i in ids if i in updated]
                report("page", {"page": page.page, "pages": page.pages, "employees": run.employees})

                if first_page:
                    first_page = False
                    inline_ids, ids = ids[: settings.inline_count], ids[settings.inline_count :]
                    if inline_ids:
                        by_id = {e["id"]: e for e in page.employees}
                        run.inline = await process_employees(
                            client, pool, settings, inline_ids, by_id, run_id=run_id, hand_over=True
                        )
                        # Still failing after the client's retries: queued first, retried with the rest.
                        ids = [*run.inline.deferred, *ids]
                        run.time_to_first_feedback = time.monotonic() - started
                        await runs_store.mark_first_feedback(pool, run_id, run.time_to_first_feedback)
                        report(
                            "inline",
                            {
                                "processed": run.inline.employees,
                                "seconds": run.time_to_first_feedback,
                                "handed_over": len(run.inline.deferred),
                            },
                        )

                waiting.extend(ids)
                while len(waiting) >= settings.batch_size:
                    chunk, waiting = waiting[: settings.batch_size], waiting[settings.batch_size :]
                    await _enqueue(pool, settings, run, [chunk], report)
            if waiting:
                await _enqueue(pool, settings, run, [waiting], report)
            await _departures(pool, settings, run)
        await _refresh_unchanged(pool, settings, run)
    except TimeoutError:
        exc = ListingDeadlineExceeded(
            f"listing the employees of {settings.api_url} took longer than its "
            f"{settings.listing_deadline_seconds:g} s deadline (page {run.pages_listed + 1} was next)"
        )
        await runs_store.finish_run(pool, run_id, "failed", _started_json(run), str(exc))
        await runs_store.close_batches(
            pool, run_id, f"closed: run {run_id} failed before it was fully queued"
        )
        raise exc from None
    except Exception as exc:
        # A cancellation is not a failure of the run: its owner closes it (interrupted, or resumed).
        # Batches queued before the failure are closed with it: nothing would ever run them.
        await runs_store.finish_run(pool, run_id, "failed", _started_json(run), one_line(exc))
        await runs_store.close_batches(
            pool, run_id, f"closed: run {run_id} failed before it was fully queued"
        )
        raise
    report("listed", {"employees": run.employees, "batches": len(run.batch_ids)})
    await runs_store.update_summary(pool, run_id, _started_json(run))
    return run


async def _enqueue(
    pool: AsyncConnectionPool,
    settings: SyncSettings,
    run: RunStarted,
    chunks: list[list[str]],
    report: Progress,
) -> None:
    batches = await queue_store.enqueue(
        pool,
        settings.scope,
        run.run_id,
        chunks,
        priority=settings.priority,
        max_attempts=settings.max_attempts,
        source="sync_queued",
    )
    run.batch_ids.extend(batch.id for batch in batches)
    run.queued_employees += sum(len(chunk) for chunk in chunks)
    report("queued", {"batches": len(run.batch_ids), "employees": run.queued_employees})


#: Employees whose timelines are built again in one statement, when an incremental run refreshes the
#: unchanged: small enough that building one chunk holds the operator's event loop for a moment only.
REFRESH_CHUNK = 100


async def _refresh_unchanged(pool: AsyncConnectionPool, settings: SyncSettings, run: RunStarted) -> None:
    """The timelines of the employees an incremental run skipped, built again as of the run's day.

    Skipping their employments saves the API requests, but a timeline depends on its day too: a
    planned end whose day has come must read "Employment ended", and a fixed-term contract that ran
    out since must be reported as lapsed. Left as they were, a nightly incremental sync kept saying
    "Employment ends (planned)" after the person had left, until a full sync. Nothing is fetched:
    the stored records did not change (that is why they were skipped), and rows that come out the
    same are not written.
    """
    if not run.unchanged_ids:
        return
    run.refreshed = await rebuild_timelines(
        pool,
        settings.scope,
        run.unchanged_ids,
        as_of=settings.as_of_date,
        locale=settings.locale,
        chunk=REFRESH_CHUNK,
        run_id=run.run_id,
    )
    if run.refreshed.events_created or run.refreshed.events_updated or run.refreshed.events_removed:
        log.info(
            "%s: the timelines of %d unchanged employees, as of %s: %d events new, %d updated, %d removed",
            settings.scope,
            len(run.unchanged_ids),
            settings.as_of_date,
            run.refreshed.events_created,
            run.refreshed.events_updated,
            run.refreshed.events_removed,
        )


async def _departures(pool: AsyncConnectionPool, settings: SyncSettings, run: RunStarted) -> None:
    """Every page was read and stored: who was there before and is not now has left.

    An invalid record on a page means an employee the listing could not store, so nobody can be
    called absent; neither can anyone after an empty listing, which is far likelier an API fault.
    """
    if run.invalid_employees:
        run.departures_skipped = f"{len(run.invalid_employees)} invalid records in the listing"
    elif run.employees == 0:
        run.departures_skipped = "the listing was empty"
    else:
        run.removed = await employees_store.mark_departures(pool, settings.scope, run.run_id)
        if run.removed:
            log.info("%d employees of %s no longer listed: marked removed", len(run.removed), settings.scope)


def _started_json(run: RunStarted) -> dict[str, Any]:
    return {
        "employees_processed": run.employees,
        "immediately_processed": run.inline.employees,
        "queued_for_processing": run.queued_employees,
        "skipped_unchanged": run.skipped_unchanged,
        "batches": len(run.batch_ids),
        "raw_records": {"new": run.raw_new, "changed": run.raw_changed, "unchanged": run.raw_unchanged},
        "inline": run.inline.to_json(),
        "refreshed": run.refreshed.to_json(),
        "invalid_employees": run.invalid_employees,
        "inline_handed_to_batches": run.inline.deferred,
        "time_to_first_feedback_seconds": run.time_to_first_feedback,
        **_removed_json(len(run.removed), run.removed, run.departures_skipped),
    }


def _removed_json(count: int, removed: list[str], skipped: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "employees_removed": count,
        "removed_employee_ids": removed[: employees_store.MAX_LISTED_REMOVED],
    }
    if skipped:
        data["departures_skipped"] = skipped
    return data


@dataclass
class RunSummary:
    run_id: int
    status: str
    summary: dict[str, Any]
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


async def finish_run(
    pool: AsyncConnectionPool, run_id: int, batches: list[queue_store.Batch] | None = None
) -> RunSummary:
    """Close a run from what its batches say: the response shape of the original design, and more.

    `batches` are the run's batches as its driver's last read found them, every one finished after
    the listing had ended: nothing of the run changes them any more, so they are not read again.
    """
    summary, open_batches, failed = await summarize(pool, run_id, batches)
    if open_batches:
        raise RuntimeError(f"run {run_id} still has {open_batches} open batches")
    status: runs_store.RunStatus = "failed" if failed else "succeeded"
    error = None
    if failed:
        error = f"{len(failed)} of {summary['batches']['total']} batches failed; first: {failed[0]['error']}"
    await runs_store.finish_run(pool, run_id, status, summary, error)
    return RunSummary(run_id=run_id, status=status, summary=summary, error=error)


async def interrupt_run(pool: AsyncConnectionPool, run_id: int, reason: str) -> RunSummary:
    """Close a run that is stopping unfinished (a signal, a lost owner), and its unfinished batches.

    The batches are closed, not handed on: the next run of the scope lists every employee again and
    queues them anew, so nothing is lost, and `queue` never shows work that nothing will do.
    """
    # The summary goes on the row with the status, which is when run.finished and the run.* webhooks
    # read it: written afterwards, they reported every interrupted run with 0 events and 0 batches.
    # The open batches count as closed, as they are once `interrupt` returns; the summary is then
    # written again from what the batches say.
    projected, _, _ = await summarize(pool, run_id, closing=True)
    closed = await runs_store.interrupt(pool, run_id, reason, projected)
    summary, _, _ = await summarize(pool, run_id)
    if closed is not None:
        await runs_store.update_summary(pool, run_id, summary)
    run = await runs_store.get_run(pool, run_id)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    assert run is not None
    return RunSummary(run_id=run_id, status=run["status"], summary=summary, error=run["error"])


async def summarize(
    pool: AsyncConnectionPool,
    run_id: int,
    batches: list[queue_store.Batch] | None = None,
    *,
    closing: bool = False,
) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """The run's summary from its stored start and its batches (read here unless given); also its
    open and failed batches. `closing`: count the open batches as closed (the run is being closed)."""
    run = await runs_store.get_run(pool, run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    started: dict[str, Any] = dict(run.get("summary") or {})
    inline = started.get("inline") or {}
    run_settings: dict[str, Any] = dict(run.get("settings") or {})
    if batches is None:
        batches = await queue_store.run_batches(pool, run_id)
    by_status: dict[str, int] = {}
    refreshed = started.get("refreshed") or {}  # an incremental run's unchanged employees
    counted = ("history_processed", "events_created", "events_updated", "events_removed")
    totals = {key: inline.get(key, 0) + refreshed.get(key, 0) for key in counted}
    raw = dict(started.get("raw_records") or {"new": 0, "changed": 0, "unchanged": 0})
    for key in ("new", "changed", "unchanged"):
        raw[key] = raw.get(key, 0) + inline.get(f"raw_{key}", 0)
    errors: dict[str, str] = {**(refreshed.get("errors") or {}), **(inline.get("errors") or {})}
    failed: list[dict[str, Any]] = []
    employees_failed = 0
    for batch in batches:
        state = batch.status
        if batch.closed or (closing and batch.status in ("pending", "processing")):
            state = "closed"
        by_status[state] = by_status.get(state, 0) + 1
        result = batch.result or {}
        for key in counted:
            totals[key] += result.get(key, 0)
        for key in ("new", "changed", "unchanged"):
            raw[key] += result.get(f"raw_{key}", 0)
        errors.update(result.get("errors") or {})
        if batch.status == "failed" and not batch.closed:
            employees_failed += len(batch.employee_ids)
            failed.append(
                {
                    "id": batch.id,
                    "batch_no": batch.batch_no,
                    "employees": len(batch.employee_ids),
                    "attempts": batch.attempts,
                    "error": batch.error_message,
                }
            )
    open_batches = by_status.get("pending", 0) + by_status.get("processing", 0)
    listed = started.get("employees_processed", 0)
    unfinished = sum(
        len(b.employee_ids) for b in batches if b.closed or b.status in ("pending", "processing")
    )
    summary = {
        "employees_processed": listed,
        "employees_synced": max(listed - employees_failed - unfinished - len(errors), 0),
        "employees_failed": employees_failed + len(errors),
        "employees_unfinished": unfinished,
        "history_processed": totals["history_processed"],
        "immediately_processed": started.get("immediately_processed", 0),
        "queued_for_processing": started.get("queued_for_processing", 0),
        "skipped_unchanged": started.get("skipped_unchanged", 0),
        "events_created": totals["events_created"],
        "events_updated": totals["events_updated"],
        "events_removed": totals["events_removed"],
        "timeline_as_of": run_settings.get("as_of"),
        "timeline_locale": run_settings.get("locale", "en"),
        "employees_with_timelines": await timeline_store.employees_with_events(pool, run["scope"]),
        "raw_records": raw,
        "batches": {"total": len(batches), **by_status},
        "failed_batches": failed,
        "employee_errors": errors,
        "invalid_employees": dict(started.get("invalid_employees") or {}),
        "inline_handed_to_batches": dict(started.get("inline_handed_to_batches") or {}),
        "time_to_first_feedback_seconds": started.get("time_to_first_feedback_seconds"),
        **_removed_json(
            int(started.get("employees_removed") or 0),
            list(started.get("removed_employee_ids") or []),
            started.get("departures_skipped"),
        ),
        "hybrid_processing": {
            "immediate": started.get("immediately_processed", 0),
            "queued": started.get("queued_for_processing", 0),
            "mode": run.get("mode"),
        },
    }
    if run.get("took_over") is not None:
        old = await runs_store.get_run(pool, int(run["took_over"]))
        summary["took_over"] = {"run_id": run["took_over"], "error": (old or {}).get("error")}
    return summary, open_batches, failed
