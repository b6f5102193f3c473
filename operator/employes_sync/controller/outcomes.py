"""What the reconciler publishes, decided by pure functions: no I/O, no clock unless one is passed.

The reconciler does the I/O; these functions decide the words. Each takes what the loop knows (a
Problem, a run row, the run's batches, the cached status) and returns a `Publication`: the status
changes, the conditions to set and the event to post (which reason an exception is: reasons.py).
tests/test_controller_outcomes.py covers every way a run ends to its conditions and event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from employes_sync.controller.reasons import RunFailure
from employes_sync.kube import status
from employes_sync.kube.problem import Problem
from employes_sync.store.queue import Batch

#: A condition to set: (status, reason, message).
Condition = tuple[bool, str, str]


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Publication:
    """One status merge patch with the conditions it sets, and the events that go with it."""

    changes: Mapping[str, Any] = field(default_factory=dict)
    ready: Condition | None = None
    progressing: Condition | None = None
    degraded: Condition | None = None
    #: Ready=False RunInProgress unless Ready is already True (the first run of a resource).
    ready_while_running: bool = False
    events: tuple[Event, ...] = ()


def problem(found: Problem) -> Publication:
    return Publication(
        ready=(False, found.reason, found.message),
        progressing=(False, found.reason, f"waiting to retry: {found.message}"),
    )


# --- a run row to the run's status ---------------------------------------------------------------------


def batch_summary(batches: Sequence[Batch]) -> dict[str, int]:
    """Batches by state, plus how many needed more than one attempt and how many attempts there were.

    After a nightly run whose batch failed once and then succeeded, `retried` and `attempts` are the
    only trace of the retry left in the status (no batch is unfinished any more).
    """
    counts = status.batch_counts(batches)
    counts["retried"] = sum(1 for b in batches if b.attempts > 1)
    counts["attempts"] = sum(b.attempts for b in batches)
    return counts


def run_from_row(row: Mapping[str, Any], queued: int | None = None) -> dict[str, Any]:
    """A running run from its `sync_runs` row (after an operator restart, or after a lost write)."""
    summary = row.get("summary") or {}
    return status.run_status(
        run_id=int(row["id"]), trigger=row["trigger"], mode=row["mode"], phase="Batches", state="running",
        started_at=row["started_at"], employees=summary.get("employees_processed"),
        inline_processed=summary.get("immediately_processed"),
        queued=queued if queued is not None else summary.get("batches"),
        time_to_first_feedback=row.get("time_to_first_feedback_seconds"),
    )  # fmt: skip


def was_listed(row: Mapping[str, Any]) -> bool:
    """Whether every employee of the run was listed and queued before the operator stopped."""
    return "employees_processed" in (row.get("summary") or {})


INTERRUPTED_BEFORE_LISTED = (
    "the operator stopped before every employee was listed and queued; a new run follows"
)


# --- what a run publishes as it goes -------------------------------------------------------------------


def run_started(current: Mapping[str, Any], trigger: str, mode: str) -> Publication:
    run_id = current["id"]
    return Publication(
        changes={"currentRun": dict(current), "queued": 0, "employees": None, "failedBatches": 0},
        progressing=(True, "RunStarted", f"run {run_id} ({trigger}) is listing employees"),
        ready_while_running=True,
        events=(Event("Normal", "RunStarted", f"Run {run_id} started ({trigger}, {mode})"),),
    )


def run_resumed(
    current: Mapping[str, Any], row: Mapping[str, Any], synced_generation: int | None
) -> Publication:
    """A restarted operator carries on with the scope's unfinished run."""
    run_id = current["id"]
    changes: dict[str, Any] = {"currentRun": dict(current)}
    extra = (row.get("settings") or {}).get("extra") or {}
    if was_listed(row) and extra.get("generation") is not None:
        changes["syncedGeneration"] = max(int(extra["generation"]), int(synced_generation or 0))
        if extra.get("requested_at"):
            changes["syncedRequest"] = extra["requested_at"]
    return Publication(
        changes=changes,
        progressing=(True, "RunResumed", f"run {run_id} resumed after an operator restart"),
        events=(Event("Normal", "RunResumed", f"Run {run_id} resumed"),),
    )


def run_failed(current: Mapping[str, Any], failure: RunFailure, finished_at: str) -> Publication:
    """The run could not list: it is closed as failed; the Problem that follows sets the conditions."""
    finished = {
        **current, "phase": "Finished", "state": "failed", "finishedAt": finished_at,
        "error": status.clip(f"{failure.reason}: {failure.error}"),
    }  # fmt: skip
    return Publication(
        changes={"currentRun": None, "lastRun": finished, "queued": 0},
        events=(Event("Warning", "RunFailed", f"Run {current['id']} failed: {failure.reason}"),),
    )


def failed_attempts(attempts: int, state: str) -> int:
    """How many of a batch's attempts have failed: all of them, but for the one running or that completed."""
    return attempts if state in ("pending", "failed") else max(0, attempts - 1)


def batch_events(
    seen: Mapping[str, tuple[int, str]], batches: Iterable[Batch]
) -> tuple[dict[str, tuple[int, str]], list[Event]]:
    """Events for batches that failed for good or had an attempt fail since `seen`; the new `seen`.

    Counted by failed attempts, not by state: between two looks a batch can fail and be claimed again
    (processing 1, then processing 2) or even complete its retry, and that failure is still told.
    A batch first seen now (a resumed run) tells nothing: its earlier failures were told by whoever
    watched them.
    """
    now: dict[str, tuple[int, str]] = dict(seen)
    events: list[Event] = []
    for batch in batches:
        before = seen.get(batch.id)
        state = (batch.attempts, batch.status)
        now[batch.id] = state
        if before is None or before == state:
            continue
        error = status.clip(batch.error_message or "unknown error", 300)
        if batch.status == "failed" and before[1] != "failed":
            message = f"Batch {batch.batch_no} failed after {batch.attempts} attempts: {error}"
            events.append(Event("Warning", "BatchFailed", message))
            continue
        failed = failed_attempts(batch.attempts, batch.status)
        if failed <= failed_attempts(*before):
            continue
        then = {
            "pending": "it will be retried",
            "processing": f"attempt {failed + 1} is running",
            "completed": f"attempt {failed + 1} completed it",
        }.get(batch.status, "it will be retried")
        events.append(Event(
            "Warning", "BatchRetried", f"Batch {batch.batch_no} attempt {failed} failed ({error}); {then}"
        ))  # fmt: skip
    return now, events


def looks_events(
    seen: Mapping[str, tuple[int, str]], looks: Iterable[Iterable[Batch]]
) -> tuple[dict[str, tuple[int, str]], list[Event]]:
    """`batch_events` over every look at the batches since the last, in order.

    A Job's events wake the driver, so several looks can come between two publications; one that
    told only the last would miss a retry that happened between them (a Job deleted 80 ms after it
    started: its batch first seen already on its second attempt tells nothing).
    """
    now: dict[str, tuple[int, str]] = dict(seen)
    events: list[Event] = []
    for batches in looks:
        now, told = batch_events(now, batches)
        events += told
    return now, events


def run_progress(
    current: Mapping[str, Any], batches: Sequence[Batch], published: Mapping[str, Any]
) -> Publication | None:
    """The status of a running run's batches; None when it says what `published` says already.

    None too when no batch is left to run (none queued, or every one done or failed for good): the
    run's finish follows at once and publishes all of it, so a write here would be one more status
    write, and one more watch event for every client, that says nothing new.
    """
    counts = status.batch_counts(batches)
    if counts["pending"] + counts["processing"] == 0:
        return None
    changes = {
        "currentRun": {**current, "batches": counts},
        "queued": counts["pending"] + counts["processing"],
        "failedBatches": counts["failed"],
        "batches": status.unfinished_batches(batches),
    }
    if all(published.get(k) == v for k, v in changes.items()):
        return None
    done = counts["completed"] + counts["failed"]
    return Publication(
        changes=changes,
        progressing=(
            True, "RunInProgress",
            f"run {current['id']}: {done} of {len(batches)} batches done, {counts['processing']} running",
        ),
    )  # fmt: skip


# --- what a finished run publishes ---------------------------------------------------------------------


def run_outcome(state: str, batches: Sequence[Batch]) -> str:
    """The outcome label of the runs metric: degraded when a batch failed for good."""
    return "degraded" if any(b.status == "failed" for b in batches) else state


def run_finished(
    current: Mapping[str, Any],
    batches: Sequence[Batch],
    *,
    state: str,
    error: str | None,
    summary: Mapping[str, Any],
    finished_at: str,
    interrupted: str | None = None,
) -> Publication:
    """The status, conditions and event of a closed run: succeeded, degraded, interrupted or failed."""
    run_id = current["id"]
    counts = batch_summary(batches)
    last = {
        **current, "phase": "Finished", "state": state, "finishedAt": finished_at, "batches": counts,
        "eventsCreated": int(summary.get("events_created") or 0),
        "eventsUpdated": int(summary.get("events_updated") or 0),
        "eventsRemoved": int(summary.get("events_removed") or 0),
        "employees": int(summary.get("employees_processed") or 0),
        "employeesRemoved": int(summary.get("employees_removed") or 0),
        "removedEmployeeIds": list(summary.get("removed_employee_ids") or [])[:20],
    }  # fmt: skip
    if error:
        last["error"] = status.clip(error)
    changes: dict[str, Any] = {
        "currentRun": None, "lastRun": last, "lastSyncTime": finished_at, "queued": 0,
        "failedBatches": counts["failed"], "employees": last["employees"],
        "batches": status.unfinished_batches(batches),
    }  # fmt: skip
    if counts["failed"]:
        first = next(b for b in batches if b.status == "failed")
        message = (
            f"{counts['failed']} of {len(batches)} batches of run {run_id} failed after their last "
            f"attempt; batch {first.batch_no}: {first.error_message}"
        )
        return Publication(
            changes=changes,
            ready=(False, "BatchesFailed", message),
            degraded=(True, "BatchesFailed", message),
            progressing=(False, "RunFinished", f"run {run_id} finished with failed batches"),
            events=(Event("Warning", "RunDegraded", status.clip(message, 500)),),
        )
    if interrupted:
        return Publication(
            changes=changes,
            progressing=(False, "RunInterrupted", interrupted),
            events=(Event("Warning", "RunInterrupted", f"Run {run_id}: {interrupted}"),),
        )
    if state != "succeeded":  # a failed run's end, found after a lost status write
        message = f"run {run_id} failed: {error or 'unknown error'}"
        return Publication(
            changes=changes,
            progressing=(False, "RunFinished", message),
            events=(Event("Warning", "RunFailed", status.clip(_sentence(message), 500)),),
        )
    message = (
        f"run {run_id} synced {last['employees']} employees "
        f"(timeline events: {last['eventsCreated']} new, {last['eventsUpdated']} updated, "
        f"{last['eventsRemoved']} removed)"
    )
    return Publication(
        changes=changes,
        ready=(True, "RunSucceeded", message),
        degraded=(False, "NoFailedBatches", "every batch of the last run succeeded"),
        progressing=(False, "RunFinished", f"run {run_id} finished"),
        events=(Event("Normal", "RunSucceeded", _sentence(message)),),
    )


# --- quiet states --------------------------------------------------------------------------------------


def suspended() -> Publication:
    return Publication(
        progressing=(False, "Suspended", "spec.suspend is true: no run starts and no Job is created")
    )


def idle(published: Mapping[str, Any], generation: int) -> Publication | None:
    """Nothing to run: the conditions the last run implies (after a problem is fixed); None if current."""
    last = published.get("lastRun") or {}
    conditions = published.get("conditions") or []
    ready = status.get_condition(conditions, status.READY) or {}
    progressing = status.get_condition(conditions, status.PROGRESSING) or {}
    want_ready: Condition | None = None
    if last.get("state") == "succeeded":
        want_ready = (
            True,
            "RunSucceeded",
            f"run {last.get('id')} synced {last.get('employees', 0)} employees",
        )
    elif (last.get("batches") or {}).get("failed"):
        message = ready.get("message") if ready.get("reason") == "BatchesFailed" else None
        want_ready = (False, "BatchesFailed", message or f"run {last.get('id')} ended with failed batches")
    want_progressing: Condition | None = (
        (False, "RunFinished", f"run {last.get('id')} finished") if last else None
    )
    stale = published.get("observedGeneration") != generation
    if want_ready and (ready.get("status"), ready.get("reason")) != (str(want_ready[0]), want_ready[1]):
        stale = True
    if want_progressing and (progressing.get("status"), progressing.get("reason")) != (
        "False",
        "RunFinished",
    ):
        stale = True
    return Publication(ready=want_ready, progressing=want_progressing) if stale else None


# --- the status body of a publication ------------------------------------------------------------------


#: Degraded's message until a run has ended.
NO_RUN_FINISHED = "no run has finished yet"


def status_patch(
    publication: Publication, published: Mapping[str, Any], generation: int, now: datetime | None = None
) -> dict[str, Any]:
    """The merge patch for `publication`, its conditions recomputed from the `published` ones."""
    conditions = list(published.get("conditions") or [])
    ready = publication.ready
    if publication.ready_while_running and not status.is_true(conditions, status.READY):
        ready = (False, "RunInProgress", "the first run has not finished yet")
    for type_, value in (
        (status.READY, ready),
        (status.PROGRESSING, publication.progressing),
        (status.DEGRADED, publication.degraded),
    ):
        if value is not None:
            conditions = status.set_condition(
                conditions, type_, value[0], value[1], value[2], generation, now=now
            )
    if status.get_condition(conditions, status.DEGRADED) is None:
        # Before any run has ended; `kubectl describe` showed an empty Message under Degraded.
        conditions = status.set_condition(
            conditions, status.DEGRADED, False, "NoFailedBatches", NO_RUN_FINISHED, generation, now=now
        )
    return {**publication.changes, "conditions": conditions, "observedGeneration": generation}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
