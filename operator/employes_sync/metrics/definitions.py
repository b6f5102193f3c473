"""The metrics this process updates itself: API requests, runs, time to first feedback, Jobs created.

Only what happens inside the process that runs the listing and the inline part (the operator, or
`employes-sync sync`) is counted here. Worker processes and Job pods push nothing: what they do
reaches the metrics through PostgreSQL (see `collector.py`): their API requests are
`employes_sync_worker_api_requests_total`, recorded once per batch attempt, not in
`employes_sync_api_requests_total`.

Every label value is bounded: a resource is `namespace`/`name`, never a company or employee id, and
triggers/outcomes outside the known vocabulary become "other".
"""

from __future__ import annotations

import re

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from employes_sync.employes.client import ResponseCallback

# The `_created` series double every counter for no use on a dashboard.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: The namespace/name labels of `employes-sync sync`: its scope is "local/<companyId>", and a company
#: id must never become a label.
LOCAL_LABELS = ("local", "local")

ENDPOINTS = ("employees", "employee", "employments")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "429", "5xx", "error")
OUTCOMES = ("succeeded", "failed", "degraded", "interrupted")
#: delivered: a 2xx; failed: an attempt that will be retried; dead: dead-lettered after its max age
DELIVERY_RESULTS = ("delivered", "failed", "dead")

API_DURATION_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RUN_DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
FEEDBACK_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)

_LABEL_WORD = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

OnResponse = ResponseCallback  # defined once, by the client that calls it


def scope_labels(scope: str) -> tuple[str, str]:
    """(namespace, name) for a scope: "<namespace>/<name>" of a resource; the local scope is fixed."""
    namespace, _, name = scope.partition("/")
    if namespace == "local" or not name:
        return LOCAL_LABELS
    return namespace, name


def _word(value: str, known: tuple[str, ...] | None = None) -> str:
    """Keep a free-text label value bounded: unknown shapes collapse into "other"."""
    if known is not None:
        return value if value in known else "other"
    return value if _LABEL_WORD.match(value) else "other"


class InProcessMetrics:
    """The process-local metrics, on one registry (the default one unless a test passes its own)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        resource = ["namespace", "name"]
        self.api_requests = Counter(
            "employes_sync_api_requests",
            "Employes API HTTP attempts made by this process (not by worker processes or Job pods).",
            [*resource, "endpoint", "status_class"],
            registry=registry,
        )
        self.api_request_duration = Histogram(
            "employes_sync_api_request_duration_seconds",
            "Duration of one Employes API HTTP attempt made by this process.",
            [*resource, "endpoint"],
            buckets=API_DURATION_BUCKETS,
            registry=registry,
        )
        self.runs = Counter(
            "employes_sync_runs",
            "Sync runs finished by this process, by what triggered them and how they ended.",
            [*resource, "trigger", "outcome"],
            registry=registry,
        )
        self.run_duration = Histogram(
            "employes_sync_run_duration_seconds",
            "Wall time of a sync run, from its start until its last batch settled.",
            resource,
            buckets=RUN_DURATION_BUCKETS,
            registry=registry,
        )
        self.time_to_first_feedback = Histogram(
            "employes_sync_time_to_first_feedback_seconds",
            "From a run's start until the inline employees' timelines were written.",
            resource,
            buckets=FEEDBACK_BUCKETS,
            registry=registry,
        )
        self.jobs_created = Counter(
            "employes_sync_jobs_created",
            "Kubernetes Jobs created for batch attempts (always 0 for `employes-sync sync`).",
            resource,
            registry=registry,
        )

        self.webhook_deliveries = Counter(
            "employes_sync_webhook_deliveries",
            "Webhook delivery attempts made by this process, by result (delivered, failed, dead).",
            [*resource, "result"],
            registry=registry,
        )

    def prepare(self, namespace: str, name: str, trigger: str | None = None) -> None:
        """Create a resource's series at zero before anything happens.

        rate() and increase() only see a change between two scrapes, so a series born at 1 hides its
        first event, and a 429 panel with no series shows "no data" instead of 0.
        """
        for endpoint in ENDPOINTS:
            self.api_request_duration.labels(namespace, name, endpoint)
            for status_class in STATUS_CLASSES:
                self.api_requests.labels(namespace, name, endpoint, status_class)
        self.run_duration.labels(namespace, name)
        self.time_to_first_feedback.labels(namespace, name)
        self.jobs_created.labels(namespace, name)
        for result in DELIVERY_RESULTS:
            self.webhook_deliveries.labels(namespace, name, result)
        if trigger is not None:
            for outcome in OUTCOMES:
                self.runs.labels(namespace, name, _word(trigger), outcome)


METRICS = InProcessMetrics()


def _observe(namespace: str, name: str, endpoint: str, status_class: str, seconds: float) -> None:
    endpoint = _word(endpoint, ENDPOINTS)
    METRICS.api_requests.labels(namespace, name, endpoint, _word(status_class, STATUS_CLASSES)).inc()
    METRICS.api_request_duration.labels(namespace, name, endpoint).observe(max(seconds, 0.0))


def api_response_observer(namespace: str, name: str) -> OnResponse:
    """An `EmployesClient(on_response=...)` callback that counts one resource's API attempts."""
    METRICS.prepare(namespace, name)

    def observe(endpoint: str, status_class: str, seconds: float) -> None:
        _observe(namespace, name, endpoint, status_class, seconds)

    return observe


def observe_api_response(endpoint: str, status_class: str, seconds: float) -> None:
    """The `on_response` callback of `employes-sync sync` (one process, one local resource)."""
    _observe(*LOCAL_LABELS, endpoint, status_class, seconds)


def record_run_started(namespace: str, name: str, trigger: str) -> None:
    """Call when a run starts, so its outcome and durations are counted from zero (see `prepare`)."""
    METRICS.prepare(namespace, name, trigger)


def record_run_finished(namespace: str, name: str, trigger: str, outcome: str, seconds: float) -> None:
    """Count a finished run (outcome: succeeded, failed, degraded or interrupted) and observe its duration."""
    METRICS.runs.labels(namespace, name, _word(trigger), _word(outcome, OUTCOMES)).inc()
    METRICS.run_duration.labels(namespace, name).observe(max(seconds, 0.0))


def observe_time_to_first_feedback(namespace: str, name: str, seconds: float) -> None:
    """Observe once per run with an inline part (a background run has no first feedback)."""
    METRICS.time_to_first_feedback.labels(namespace, name).observe(max(seconds, 0.0))


def record_job_created(namespace: str, name: str) -> None:
    """Count a batch-attempt Job the operator created (not one it found already existing)."""
    METRICS.jobs_created.labels(namespace, name).inc()


def record_webhook_delivery(scope: str, result: str) -> None:
    """Count one webhook delivery attempt of a scope's event (result: delivered, failed or dead)."""
    METRICS.webhook_deliveries.labels(*scope_labels(scope), _word(result, DELIVERY_RESULTS)).inc()
