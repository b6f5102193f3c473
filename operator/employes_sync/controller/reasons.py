"""An exception of a reconcile pass to the (reason, message) the status shows: pure, no I/O.

The reason is the conditions' and the event's `reason`; the message names the Secret, the company or the
URL, never the token or a record's value. tests/test_controller_outcomes.py covers every error class.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from employes_sync.employes import errors as api_errors
from employes_sync.kube.problem import Problem
from employes_sync.kube.spec import ResourceSpec, SpecError
from employes_sync.messages import one_line, said
from employes_sync.settings import SettingsError
from employes_sync.store import db


@dataclass(frozen=True)
class RunFailure:
    """Why a run could not start: `reason` for conditions and the run, `error` for the run's row."""

    reason: str
    error: str
    message: str

    def problem(self) -> Problem:
        return Problem(self.reason, self.message)


def run_failure(exc: BaseException, spec: ResourceSpec, namespace: str) -> RunFailure | None:
    """An error from listing and the inline part, as the status says it; None for an unexpected one.

    Messages name the Secret, the company or the URL, never the token or a record's value.
    """
    if isinstance(exc, api_errors.AuthenticationError):
        return RunFailure(
            "TokenRejected",
            "the API rejected the token",
            f"the Employes API rejected the token in Secret {namespace}/{spec.token_ref.name} "
            f"(key {spec.token_ref.key!r}): HTTP 401",
        )
    if isinstance(exc, api_errors.PermissionDeniedError):
        return RunFailure(
            "AccessDenied",
            "the token may not read this company",
            f"the token may not read company {spec.company_id}: HTTP 403",
        )
    if isinstance(exc, api_errors.NotFoundError):
        # Only the company's listing raises it here (an employee's 404 is "no employments"): the API
        # answered, so "ApiUnavailable" sent people looking at the network instead of the company id.
        return RunFailure("CompanyNotFound", one_line(exc), said(exc))
    if isinstance(exc, api_errors.EmployesError):
        # The client's messages name the host and the request already; the class name is no news.
        return RunFailure(
            "ApiUnavailable", one_line(exc), f"the Employes API at {spec.base_url} failed: {said(exc)}"
        )
    if isinstance(exc, db.DatabaseUnavailable):  # its message is one line, the password redacted
        return RunFailure("DatabaseUnavailable", one_line(exc), said(exc))
    if isinstance(exc, psycopg.Error):  # SQLSTATE and primary message only: one_line's reading
        return RunFailure("DatabaseUnavailable", one_line(exc), one_line(exc))
    return None


def problem_for(exc: BaseException) -> Problem:
    """Any exception of a reconcile pass as the Problem the status shows (ReconcileError if unknown)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, SpecError | SettingsError):
        return Problem("InvalidSpec", str(exc))
    if isinstance(exc, db.DatabaseUnavailable):
        return Problem("DatabaseUnavailable", str(exc))
    return Problem("ReconcileError", one_line(exc))


#: What the status says after a cancellation nobody asked for (see `is_stray_cancellation`).
STRAY_CANCELLATION = Problem(
    "ReconcileInterrupted",
    "the reconcile pass was interrupted by a cancellation the operator did not ask for; it starts again "
    "and resumes the open run",
)


def is_stray_cancellation(cancel_requests: int, stopping: bool) -> bool:
    """A CancelledError that reached the loop although no one cancelled its task or stopped the daemon.

    `cancel_requests` is the loop task's `cancelling()`: kopf cancelling the daemon, or the operator
    exiting, counts there. A cancellation raised out of an awaited library call for its own reasons
    does not. Re-raised, kopf takes it as the daemon exiting on its own and never starts it again, so
    the resource's open run stayed `running` for good (seen in a 200-resource start burst).
    """
    return cancel_requests == 0 and not stopping
