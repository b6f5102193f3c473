"""The reconciler's decisions as pure functions: every error to its reason, every run ending to its
conditions and event, and the status patch they make. No cluster, database or clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from employes_sync.controller import outcomes, reasons
from employes_sync.employes import errors as api_errors
from employes_sync.kube import status
from employes_sync.kube.problem import Problem
from employes_sync.kube.spec import SpecError, parse
from employes_sync.settings import SettingsError
from employes_sync.store.db import DatabaseUnavailable
from employes_sync.store.queue import Batch

SPEC = parse(
    {
        "api": {
            "companyId": "4b4c4d5e-0000-4000-8000-000000000001",
            "baseUrl": "https://connect.employes.nl/v4",
            "tokenSecretRef": {"name": "employes-token", "key": "token"},
        },
        "database": {"dsnSecretRef": {"name": "employes-db", "key": "dsn"}},
    }
)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CURRENT = status.run_status(
    run_id=7, trigger="created", mode="interactive", phase="Batches", state="running", started_at=NOW
)


def batch(no: int, state: str, attempts: int = 1, error: str | None = None) -> Batch:
    return Batch(
        id=f"b{no}", scope="ns/acme", run_id=7, employee_ids=["e"], status=state, priority=5,
        attempts=attempts, max_attempts=3, run_after=NOW, error_message=error, job_name=None, batch_no=no,
    )  # fmt: skip


# --- an exception to a (reason, message) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason", "message_part"),
    [
        (api_errors.AuthenticationError("HTTP 401", status=401), "TokenRejected", "Secret ns/employes-token"),
        (api_errors.PermissionDeniedError("HTTP 403", status=403), "AccessDenied", "company 4b4c4d5e"),
        (api_errors.ServerError("HTTP 503 from GET /employees", status=503), "ApiUnavailable", "HTTP 503"),
        (api_errors.TransportError("connection refused"), "ApiUnavailable", "connect.employes.nl"),
        (api_errors.MalformedResponseError("body is not JSON"), "ApiUnavailable", "not JSON"),
        (api_errors.RateLimitedError("HTTP 429"), "ApiUnavailable", "429"),
        (
            api_errors.NotFoundError(
                "Employes API has no company 4b4c4d5e at ... (404 for GET /employees?page=1)", status=404
            ),
            "CompanyNotFound",
            "no company 4b4c4d5e",
        ),
        (psycopg.OperationalError("server closed the connection"), "DatabaseUnavailable", "closed"),
        (DatabaseUnavailable("database at host=db is unreachable"), "DatabaseUnavailable", "unreachable"),
    ],
)
def test_every_error_of_a_start_maps_to_its_reason(exc: Exception, reason: str, message_part: str) -> None:
    failure = reasons.run_failure(exc, SPEC, "ns")
    assert failure is not None
    assert (failure.reason, failure.problem().reason) == (reason, reason)
    assert message_part in failure.message
    assert "\n" not in failure.message
    if not isinstance(exc, psycopg.Error):  # "failed: NotFoundError: ..." told a class name
        assert type(exc).__name__ not in failure.message


def test_a_rejected_token_names_the_secret_and_key_never_a_value() -> None:
    failure = reasons.run_failure(api_errors.AuthenticationError("HTTP 401"), SPEC, "ns")
    assert failure is not None
    assert failure.message == (
        "the Employes API rejected the token in Secret ns/employes-token (key 'token'): HTTP 401"
    )
    assert failure.error == "the API rejected the token"


def test_an_unexpected_error_is_not_a_run_failure_but_a_reconcile_error() -> None:
    assert reasons.run_failure(KeyError("x"), SPEC, "ns") is None
    found = reasons.problem_for(KeyError("x"))
    assert found.reason == "ReconcileError"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (SpecError("spec.api.companyId is required"), "InvalidSpec"),
        (SettingsError("page_size must be 1..1000"), "InvalidSpec"),
        (DatabaseUnavailable("no database"), "DatabaseUnavailable"),
        (Problem("SecretNotFound", "Secret ns/x does not exist"), "SecretNotFound"),
        (RuntimeError("boom\nwith a traceback line"), "ReconcileError"),
    ],
)
def test_any_error_of_a_pass_becomes_a_problem(exc: Exception, reason: str) -> None:
    found = reasons.problem_for(exc)
    assert found.reason == reason
    assert "\n" not in found.message


def test_a_problem_sets_ready_false_and_says_it_will_retry() -> None:
    publication = outcomes.problem(Problem("SecretNotFound", "Secret ns/x does not exist"))
    assert publication.ready == (False, "SecretNotFound", "Secret ns/x does not exist")
    assert publication.progressing == (
        False,
        "SecretNotFound",
        "waiting to retry: Secret ns/x does not exist",
    )


# --- every run ending to its conditions and event ------------------------------------------------------


def finished(batches: list[Batch], **kwargs: Any) -> outcomes.Publication:
    defaults: dict[str, Any] = {
        "state": "succeeded", "error": None, "finished_at": "2026-01-02T03:09:05Z",
        "summary": {"employees_processed": 12, "events_created": 30, "events_updated": 2},
    }  # fmt: skip
    return outcomes.run_finished(CURRENT, batches, **{**defaults, **kwargs})


def test_a_succeeded_run_is_ready_and_not_degraded() -> None:
    publication = finished([batch(1, "completed"), batch(2, "completed")])
    assert publication.ready is not None and publication.ready[:2] == (True, "RunSucceeded")
    assert publication.degraded == (False, "NoFailedBatches", "every batch of the last run succeeded")
    assert publication.progressing == (False, "RunFinished", "run 7 finished")
    [event] = publication.events
    assert (event.type, event.reason) == ("Normal", "RunSucceeded")
    assert event.message == "Run 7 synced 12 employees (timeline events: 30 new, 2 updated, 0 removed)"
    last = publication.changes["lastRun"]
    assert last["state"] == "succeeded" and last["finishedAt"] == "2026-01-02T03:09:05Z"
    assert publication.changes["currentRun"] is None and publication.changes["batches"] == []


def test_a_run_with_a_failed_batch_is_degraded_and_names_the_batch() -> None:
    publication = finished([batch(1, "completed"), batch(2, "failed", 3, "worker exited with code 1")])
    message = "1 of 2 batches of run 7 failed after their last attempt; batch 2: worker exited with code 1"
    assert publication.ready == (False, "BatchesFailed", message)
    assert publication.degraded == (True, "BatchesFailed", message)
    assert publication.progressing == (False, "RunFinished", "run 7 finished with failed batches")
    [event] = publication.events
    assert (event.type, event.reason, event.message) == ("Warning", "RunDegraded", message)
    assert publication.changes["failedBatches"] == 1
    assert [b["id"] for b in publication.changes["batches"]] == ["b2"]
    assert outcomes.run_outcome("failed", [batch(2, "failed", 3)]) == "degraded"


def test_an_interrupted_run_says_why_and_leaves_ready_alone() -> None:
    why = outcomes.INTERRUPTED_BEFORE_LISTED
    publication = finished([batch(1, "completed")], state="failed", error=why, interrupted=why)
    assert publication.ready is None and publication.degraded is None
    assert publication.progressing == (False, "RunInterrupted", why)
    [event] = publication.events
    assert (event.type, event.reason, event.message) == ("Warning", "RunInterrupted", f"Run 7: {why}")
    assert publication.changes["lastRun"]["error"] == why


def test_a_failed_run_found_closed_after_a_lost_write_is_told_as_failed() -> None:
    publication = finished([], state="failed", error="TokenRejected: the API rejected the token")
    assert publication.ready is None
    assert publication.progressing == (
        False, "RunFinished", "run 7 failed: TokenRejected: the API rejected the token"
    )  # fmt: skip
    [event] = publication.events
    assert (event.type, event.reason) == ("Warning", "RunFailed")
    assert event.message.startswith("Run 7 failed: TokenRejected")


def test_a_run_that_could_not_list_is_closed_as_failed() -> None:
    failure = reasons.RunFailure("TokenRejected", "the API rejected the token", "…")
    publication = outcomes.run_failed(CURRENT, failure, "2026-01-02T03:04:06Z")
    last = publication.changes["lastRun"]
    assert (last["state"], last["phase"], last["error"]) == (
        "failed", "Finished", "TokenRejected: the API rejected the token"
    )  # fmt: skip
    assert publication.changes["currentRun"] is None
    [event] = publication.events
    assert (event.type, event.reason, event.message) == (
        "Warning",
        "RunFailed",
        "Run 7 failed: TokenRejected",
    )


def test_last_run_counts_retried_batches_and_every_attempt() -> None:
    """A batch that failed once, then succeeded, leaves a trace: retried 1, attempts 3 for 2 batches."""
    publication = finished([batch(1, "completed", 1), batch(2, "completed", 2)])
    assert publication.changes["lastRun"]["batches"] == {
        "pending": 0, "processing": 0, "completed": 2, "failed": 0, "retried": 1, "attempts": 3
    }  # fmt: skip


def test_a_started_run_is_progressing_and_not_ready_until_the_first_run_ends() -> None:
    publication = outcomes.run_started(CURRENT, "created", "interactive")
    assert publication.progressing == (True, "RunStarted", "run 7 (created) is listing employees")
    assert publication.ready_while_running
    patch = outcomes.status_patch(publication, {}, generation=3, now=NOW)
    ready = status.get_condition(patch["conditions"], status.READY)
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "RunInProgress")
    # Once a run succeeded, a new one leaves Ready=True standing.
    already = {"conditions": status.set_condition([], status.READY, True, "RunSucceeded", "ok", 3, now=NOW)}
    ready = status.get_condition(
        outcomes.status_patch(publication, already, 3, NOW)["conditions"], status.READY
    )
    assert ready is not None and ready["status"] == "True"


def test_a_resumed_run_keeps_the_generation_it_synced() -> None:
    row = {
        "id": 7, "trigger": "created", "mode": "interactive", "started_at": NOW,
        "summary": {"employees_processed": 40, "immediately_processed": 5, "batches": 2},
        "settings": {"extra": {"generation": 4, "requested_at": "2026-01-01T00:00:00Z"}},
    }  # fmt: skip
    current = outcomes.run_from_row(row)
    assert (current["employees"], current["inlineProcessed"], current["queued"]) == (40, 5, 2)
    publication = outcomes.run_resumed(current, row, synced_generation=3)
    assert publication.changes["syncedGeneration"] == 4
    assert publication.changes["syncedRequest"] == "2026-01-01T00:00:00Z"
    assert [e.reason for e in publication.events] == ["RunResumed"]
    assert outcomes.was_listed(row) and not outcomes.was_listed({**row, "summary": {}})


def test_batch_events_tell_each_failed_attempt_and_a_final_failure_once() -> None:
    seen: dict[str, tuple[int, str]] = {}
    seen, events = outcomes.batch_events(seen, [batch(1, "processing", 1)])
    assert events == []  # first seen: a resumed run's earlier failures are not told again
    seen, events = outcomes.batch_events(seen, [batch(1, "pending", 1, "exit 1")])
    assert [(e.reason, e.message) for e in events] == [
        ("BatchRetried", "Batch 1 attempt 1 failed (exit 1); it will be retried")
    ]
    seen, events = outcomes.batch_events(seen, [batch(1, "pending", 1, "exit 1")])
    assert events == []  # looked at again: nothing new
    seen, events = outcomes.batch_events(seen, [batch(1, "failed", 3, "exit 1")])
    assert [(e.reason, e.message) for e in events] == [
        ("BatchFailed", "Batch 1 failed after 3 attempts: exit 1")
    ]
    seen, events = outcomes.batch_events(seen, [batch(1, "failed", 3, "exit 1")])
    assert events == []


def test_a_retry_between_two_looks_is_still_told() -> None:
    """Failed and claimed again, or even completed on the retry, before the reconciler looked again."""
    seen = {"b1": (1, "processing"), "b2": (1, "processing"), "b3": (0, "pending")}
    batches = [
        batch(1, "processing", 2, "DeadlineExceeded"),
        batch(2, "completed", 2, "Job deleted"),
        batch(3, "completed", 1),  # completed on its first attempt: nothing to tell
    ]
    seen, events = outcomes.batch_events(seen, batches)
    assert [(e.reason, e.message) for e in events] == [
        ("BatchRetried", "Batch 1 attempt 1 failed (DeadlineExceeded); attempt 2 is running"),
        ("BatchRetried", "Batch 2 attempt 1 failed (Job deleted); attempt 2 completed it"),
    ]
    seen, events = outcomes.batch_events(seen, [batch(1, "completed", 2, "DeadlineExceeded")])
    assert events == []  # the running retry completed: no new failure


def test_every_look_since_the_last_publication_is_told_not_only_the_latest() -> None:
    """Job events wake the driver, so several looks come between two publications. A Job deleted
    80 ms after it started left its batch on its second attempt by the latest look; told from the
    latest alone, the batch was first seen there, and its retry went untold (a flaky e2e test)."""
    looks = [
        [batch(1, "pending", 0), batch(2, "pending", 0)],  # the first look, before anything launched
        [batch(1, "processing", 1), batch(2, "processing", 1)],
        [batch(1, "processing", 1), batch(2, "processing", 2, "Job acme-r1-b2-a1 was deleted")],
    ]
    _, latest_only = outcomes.looks_events({}, looks[-1:])
    assert latest_only == []
    seen, events = outcomes.looks_events({}, looks)
    assert [(e.reason, e.message) for e in events] == [
        ("BatchRetried", "Batch 2 attempt 1 failed (Job acme-r1-b2-a1 was deleted); attempt 2 is running")
    ]
    assert seen == {"b1": (1, "processing"), "b2": (2, "processing")}
    assert outcomes.looks_events(seen, looks[-1:])[1] == []  # told once


def test_failed_attempts_count_all_but_the_one_running_or_done() -> None:
    assert [outcomes.failed_attempts(2, s) for s in ("pending", "processing", "completed", "failed")] == [
        2, 1, 1, 2,
    ]  # fmt: skip
    assert outcomes.failed_attempts(0, "pending") == 0 and outcomes.failed_attempts(0, "processing") == 0


def test_progress_is_published_only_when_it_changed() -> None:
    batches = [batch(1, "completed"), batch(2, "processing"), batch(3, "pending")]
    publication = outcomes.run_progress(CURRENT, batches, {})
    assert publication is not None
    assert publication.progressing == (True, "RunInProgress", "run 7: 1 of 3 batches done, 1 running")
    assert publication.changes["queued"] == 2
    published = dict(publication.changes)
    assert outcomes.run_progress(CURRENT, batches, published) is None


def test_no_progress_is_published_when_no_batch_is_left_to_run() -> None:
    # the run's finish follows and publishes every field: a progress write would say nothing new
    assert outcomes.run_progress(CURRENT, [], {}) is None
    assert outcomes.run_progress(CURRENT, [batch(1, "completed"), batch(2, "failed")], {}) is None
    assert outcomes.run_progress(CURRENT, [batch(1, "completed"), batch(2, "pending")], {}) is not None


def test_idle_restores_the_conditions_of_the_last_run_after_a_problem() -> None:
    conditions = status.set_condition([], status.READY, False, "SecretNotFound", "gone", 2, now=NOW)
    published = {"lastRun": {"id": 7, "state": "succeeded", "employees": 12}, "conditions": conditions,
                 "observedGeneration": 2}  # fmt: skip
    publication = outcomes.idle(published, generation=2)
    assert publication is not None
    assert publication.ready == (True, "RunSucceeded", "run 7 synced 12 employees")
    assert publication.progressing == (False, "RunFinished", "run 7 finished")
    settled = outcomes.status_patch(publication, published, 2, NOW)
    assert outcomes.idle({**published, **settled}, generation=2) is None


def test_suspended_says_nothing_starts() -> None:
    publication = outcomes.suspended()
    assert publication.progressing is not None and publication.progressing[:2] == (False, "Suspended")
    assert publication.ready is None and publication.events == ()


def test_status_patch_always_carries_degraded_and_the_generation() -> None:
    patch = outcomes.status_patch(outcomes.Publication(changes={"queued": 0}), {}, generation=5, now=NOW)
    assert patch["observedGeneration"] == 5 and patch["queued"] == 0
    degraded = status.get_condition(patch["conditions"], status.DEGRADED)
    assert degraded is not None and (degraded["status"], degraded["observedGeneration"]) == ("False", 5)
    assert degraded["message"] == "no run has finished yet"  # it was "": an empty Message in describe
