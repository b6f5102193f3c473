"""Prometheus metrics: what this process counts itself, and what it reads from PostgreSQL.

- `definitions`: in-process metrics (API requests, runs, time to first feedback, Jobs created) and
  the functions the operator and `employes-sync sync` call to update them;
- `collector`: queue, batch, run and event metrics read from the database at scrape time, because
  worker processes and Job pods push nothing;
- `server`: the `/metrics` endpoint in a daemon thread.

docs/internals.md ("Metrics") lists every metric and where it is counted.
"""

from employes_sync.metrics.collector import DatabaseCollector, Snapshot, read_database
from employes_sync.metrics.definitions import (
    LOCAL_LABELS,
    METRICS,
    api_response_observer,
    observe_api_response,
    observe_time_to_first_feedback,
    record_job_created,
    record_run_finished,
    record_run_started,
    record_webhook_delivery,
    scope_labels,
)
from employes_sync.metrics.server import MetricsServer, serve_metrics, start_metrics_server

__all__ = [
    "LOCAL_LABELS",
    "METRICS",
    "DatabaseCollector",
    "MetricsServer",
    "Snapshot",
    "api_response_observer",
    "observe_api_response",
    "observe_time_to_first_feedback",
    "read_database",
    "record_job_created",
    "record_run_finished",
    "record_run_started",
    "record_webhook_delivery",
    "scope_labels",
    "serve_metrics",
    "start_metrics_server",
]
