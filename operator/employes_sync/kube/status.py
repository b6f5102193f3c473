"""The EmployesSync status: conditions per the Kubernetes API conventions, runs, a bounded batch list.

Pure functions over plain dicts, so the rules are tested without a cluster:
- conditions are a list keyed by type; `lastTransitionTime` moves only when `status` flips, so a
  reader can tell how long something has been true;
- every condition carries the generation it was computed from;
- the status holds a summary; the full state lives in PostgreSQL (sync_runs, processing_queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from employes_sync.store.queue import STATUSES, Batch

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED)

MAX_BATCHES = 20
MAX_MESSAGE = 1000


def now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return now_iso(value.astimezone(UTC))


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """One line, bounded: a status is no place for tracebacks."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The conditions with one of them set; the transition time is kept unless the status flips."""
    value = status if isinstance(status, str) else ("True" if status else "False")
    result: list[dict[str, Any]] = []
    found = False
    for existing in conditions or ():
        if existing.get("type") != type_:
            result.append(dict(existing))
            continue
        found = True
        flipped = existing.get("status") != value
        result.append(
            _condition(
                type_,
                value,
                reason,
                message,
                generation,
                now_iso(now) if flipped else existing.get("lastTransitionTime") or now_iso(now),
            )
        )
    if not found:
        result.append(_condition(type_, value, reason, message, generation, now_iso(now)))
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(result, key=lambda c: order.get(c.get("type", ""), len(order)))


def _condition(
    type_: str, status: str, reason: str, message: str, generation: int | None, when: str
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": clip(message),
        "lastTransitionTime": when,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def get_condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> bool:
    condition = get_condition(conditions, type_)
    return condition is not None and condition.get("status") == "True"


def batch_counts(batches: Iterable[Batch]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for batch in batches:
        counts[batch.status] = counts.get(batch.status, 0) + 1
    return counts


def unfinished_batches(batches: Iterable[Batch], limit: int = MAX_BATCHES) -> list[dict[str, Any]]:
    """Batches not succeeded, the failed first (those need a person), then running, then waiting."""
    rank = {"failed": 0, "processing": 1, "pending": 2}
    open_ = sorted(
        (b for b in batches if b.status != "completed"),
        key=lambda b: (rank.get(b.status, 3), b.batch_no or 0),
    )
    result = []
    for batch in open_[:limit]:
        item: dict[str, Any] = {
            "id": batch.id,
            "state": batch.status,
            "attempts": batch.attempts,
            "maxAttempts": batch.max_attempts,
        }
        if batch.batch_no is not None:
            item["number"] = batch.batch_no
        if batch.job_name:
            item["jobName"] = batch.job_name
        if batch.error_message:
            item["lastError"] = clip(batch.error_message, 300)
        result.append(item)
    return result


def run_status(
    *,
    run_id: int,
    trigger: str,
    mode: str,
    phase: str,
    state: str,
    started_at: datetime | str | None,
    finished_at: datetime | str | None = None,
    employees: int | None = None,
    inline_processed: int | None = None,
    queued: int | None = None,
    batches: Sequence[Batch] | None = None,
    events_created: int | None = None,
    time_to_first_feedback: float | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One run as the status shows it (fields left out rather than null, so merge patches stay small)."""
    run: dict[str, Any] = {"id": run_id, "trigger": trigger, "mode": mode, "phase": phase, "state": state}
    optional: dict[str, Any] = {
        "startedAt": iso(started_at),
        "finishedAt": iso(finished_at),
        "employees": employees,
        "inlineProcessed": inline_processed,
        "queued": queued,
        "batches": batch_counts(batches) if batches is not None else None,
        "eventsCreated": events_created,
        "timeToFirstFeedbackSeconds": round(time_to_first_feedback, 3)
        if time_to_first_feedback is not None
        else None,
        "error": clip(error) if error else None,
    }
    run.update({k: v for k, v in optional.items() if v is not None})
    return run
