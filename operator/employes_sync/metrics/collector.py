"""Metrics read from PostgreSQL at scrape time: the queue, batches, runs, stored events.

Worker processes and Job pods are short-lived and push nothing; everything they do ends up in
`processing_queue` and `sync_runs`, so the database is where those numbers are read. Queue gauges
are the table's state now. The `_total` counters are totals over the rows the database still holds:
monotonic as long as rows are kept. Pruning finished batches (`employes-sync queue
--prune-older-than`) lowers the batch counters, which Prometheus reads as a counter reset (rate()
and increase() then count the remaining value as new); the run-based counters
(employees, raw records, events created) come from `sync_runs`, which nothing prunes.

A scrape never waits on the database for long: values are cached for `ttl` seconds, a refresh runs
in a background thread, and a scrape waits at most `wait_seconds` for it before serving the last
values it has. Every statement runs under a statement timeout. A database that does not answer shows
as `employes_sync_database_up 0`, never as a failed scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from employes_sync.metrics.definitions import ENDPOINTS, STATUS_CLASSES, scope_labels
from employes_sync.store.queries import Q
from employes_sync.store.queue import STATUSES

log = logging.getLogger(__name__)

#: dsn -> the scopes to read from it (None: every scope the database holds).
Targets = Callable[[], Mapping[str, Sequence[str] | None]]
Resource = tuple[str, str]

QUEUE_STATES = STATUSES
BATCH_OUTCOMES = ("completed", "failed")
RAW_RESULTS = ("new", "changed", "unchanged")
BATCH_DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


@dataclass
class ResourceData:
    """One resource's numbers; several local scopes share the local labels, so they add up."""

    queue: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUEUE_STATES, 0))
    oldest_pending_age: float = 0.0
    attempts: int = 0
    retries: int = 0
    duration_buckets: list[int] = field(default_factory=lambda: [0] * len(BATCH_DURATION_BUCKETS))
    duration_count: int = 0
    duration_sum: float = 0.0
    employees: int = 0
    raw: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RAW_RESULTS, 0))
    events_created: int = 0
    events_updated: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    last_success: float | None = None
    last_run_failed: bool | None = None
    worker_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox_pending: int = 0
    outbox_oldest_pending: float = 0.0

    def merge(self, other: ResourceData) -> None:
        for state, n in other.queue.items():
            self.queue[state] = self.queue.get(state, 0) + n
        self.oldest_pending_age = max(self.oldest_pending_age, other.oldest_pending_age)
        self.attempts += other.attempts
        self.retries += other.retries
        self.duration_buckets = [
            a + b for a, b in zip(self.duration_buckets, other.duration_buckets, strict=True)
        ]
        self.duration_count += other.duration_count
        self.duration_sum += other.duration_sum
        self.employees += other.employees
        for result, n in other.raw.items():
            self.raw[result] += n
        self.events_created += other.events_created
        self.events_updated += other.events_updated
        for event_type, n in other.events_by_type.items():
            self.events_by_type[event_type] = self.events_by_type.get(event_type, 0) + n
        if other.last_success is not None:
            self.last_success = max(self.last_success or 0.0, other.last_success)
        if other.last_run_failed is not None:
            self.last_run_failed = bool(self.last_run_failed) or other.last_run_failed
        for key, n in other.worker_requests.items():
            self.worker_requests[key] = self.worker_requests.get(key, 0) + n
        self.outbox_pending += other.outbox_pending
        self.outbox_oldest_pending = max(self.outbox_oldest_pending, other.outbox_oldest_pending)


@dataclass
class Snapshot:
    resources: dict[Resource, ResourceData]
    up: bool
    read_at: float  # time.time() of the read these values come from; 0 = never read


def read_database(
    conn: psycopg.Connection[Any], scopes: Sequence[str] | None
) -> dict[Resource, ResourceData]:
    """Every metric value one database holds for these scopes, keyed by (namespace, name)."""
    by_scope: dict[str, ResourceData] = {}
    params: dict[str, Any] = {"scopes": list(scopes) if scopes is not None else None}
    for scope in scopes or ():
        by_scope[scope] = ResourceData()  # a resource with no rows yet still shows its zeros

    for scope, status, batches, attempts, retries, oldest_age in conn.execute(Q.metrics_queue, params):
        data = by_scope.setdefault(scope, ResourceData())
        data.queue[status] = int(batches)
        data.attempts += int(attempts)
        data.retries += int(retries)
        if status == "pending":
            data.oldest_pending_age = max(0.0, float(oldest_age or 0.0))

    rows = conn.execute(Q.metrics_batch_durations, {**params, "buckets": list(BATCH_DURATION_BUCKETS)})
    for scope, le, cumulative, count, total in rows:
        data = by_scope.setdefault(scope, ResourceData())
        data.duration_buckets[BATCH_DURATION_BUCKETS.index(float(le))] = int(cumulative)
        data.duration_count, data.duration_sum = int(count), float(total)

    for row in conn.execute(Q.metrics_run_totals, params):
        scope, employees, raw_new, raw_changed, raw_unchanged, events, updated, last_success, last_failed = (
            row
        )
        data = by_scope.setdefault(scope, ResourceData())
        data.employees = int(employees)
        data.raw = {"new": int(raw_new), "changed": int(raw_changed), "unchanged": int(raw_unchanged)}
        data.events_created = int(events)
        data.events_updated = int(updated)
        data.last_success = float(last_success) if last_success is not None else None
        data.last_run_failed = last_failed

    for scope, event_type, events in conn.execute(Q.metrics_timeline_events, params):
        by_scope.setdefault(scope, ResourceData()).events_by_type[event_type] = int(events)

    for scope, endpoint, status_class, requests in conn.execute(Q.metrics_worker_api_requests, params):
        by_scope.setdefault(scope, ResourceData()).worker_requests[(endpoint, status_class)] = int(requests)

    for scope, pending, oldest_seconds in conn.execute(Q.metrics_outbox, params):
        data = by_scope.setdefault(scope, ResourceData())
        data.outbox_pending = int(pending)
        data.outbox_oldest_pending = max(0.0, float(oldest_seconds or 0.0))

    resources: dict[Resource, ResourceData] = {}
    for scope, data in by_scope.items():
        resources.setdefault(scope_labels(scope), ResourceData()).merge(data)
    return resources


class DatabaseCollector(Collector):
    """A prometheus-client collector over one or more databases (the operator: one per resource)."""

    def __init__(
        self,
        targets: Targets,
        *,
        ttl: float = 3.0,
        wait_seconds: float = 0.8,
        statement_timeout_ms: int = 800,
        connect_timeout: int = 2,
    ) -> None:
        self._targets = targets
        self.ttl = ttl
        self.wait_seconds = wait_seconds
        self._statement_timeout_ms = statement_timeout_ms
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._snapshot = Snapshot({}, up=False, read_at=0.0)  # up only once a read has succeeded
        self._refreshed_at = float("-inf")  # monotonic
        self._refresh: threading.Event | None = None  # set when the refresh in flight is done
        self._refresh_started = 0.0
        self._by_dsn: dict[str, dict[Resource, ResourceData]] = {}
        self._connections: dict[str, psycopg.Connection[Any]] = {}
        self._closed = False

    # --- scrape side ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The freshest values available within `wait_seconds`; starts a refresh when they are old."""
        with self._lock:
            if self._refresh is None and time.monotonic() - self._refreshed_at >= self.ttl:
                self._refresh = threading.Event()
                self._refresh_started = time.monotonic()
                threading.Thread(
                    target=self._run_refresh, args=(self._refresh,), name="metrics-db", daemon=True
                ).start()
            refresh = self._refresh
        if refresh is not None:
            refresh.wait(self.wait_seconds)
        with self._lock:
            snapshot = self._snapshot
            stalled = self._refresh is not None and (
                time.monotonic() - self._refresh_started >= self.wait_seconds
            )
        if stalled:  # not answering within a scrape's budget is down, whatever it said last
            return Snapshot(snapshot.resources, up=False, read_at=snapshot.read_at)
        return snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot()
        yield from families(snapshot)

    def describe(self) -> Iterator[Metric]:
        # Registering must not query the database; the names are fixed, the values come at scrape.
        yield from families(Snapshot({}, up=True, read_at=0.0))

    # --- refresh side (one thread at a time) ---------------------------------------------------

    def _run_refresh(self, done: threading.Event) -> None:
        up = True
        try:
            targets = dict(self._targets())
        except Exception:
            log.exception("metrics: the target provider failed")
            targets, up = {}, False
        for dsn in list(self._by_dsn):
            if dsn not in targets:  # a resource (or its database) went away
                del self._by_dsn[dsn]
                self._close(dsn)
        for dsn, scopes in targets.items():
            try:
                self._by_dsn[dsn] = self._read(dsn, scopes)
            except psycopg.errors.UndefinedTable:
                self._by_dsn[dsn] = {}  # reachable, not migrated yet: nothing to show, nothing wrong
            except Exception as exc:
                up = False
                self._close(dsn)
                log.warning(
                    "metrics: database not readable (%s); serving the last values", type(exc).__name__
                )
        resources: dict[Resource, ResourceData] = {}
        for part in self._by_dsn.values():
            for labels, data in part.items():
                resources.setdefault(labels, ResourceData()).merge(data)
        with self._lock:
            read_at = time.time() if up else self._snapshot.read_at
            self._snapshot = Snapshot(resources, up=up, read_at=read_at)
            self._refreshed_at = time.monotonic()
            self._refresh = None
        done.set()
        if self._closed:
            self.close()

    def _read(self, dsn: str, scopes: Sequence[str] | None) -> dict[Resource, ResourceData]:
        conn = self._connections.get(dsn)
        if conn is None or conn.closed:
            conn = psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name="employes-sync-metrics",
                # A database that vanished mid-query (no RST) must not hold the refresh for minutes.
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=2,
                tcp_user_timeout=5000,
            )
            conn.execute(Q.metrics_session, {"statement_timeout_ms": self._statement_timeout_ms})
            self._connections[dsn] = conn
        return read_database(conn, scopes)

    def _close(self, dsn: str) -> None:
        conn = self._connections.pop(dsn, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("metrics: closing a broken connection failed", exc_info=True)

    def close(self) -> None:
        """Close the connections (a refresh in flight closes them when it ends)."""
        self._closed = True
        with self._lock:
            busy = self._refresh is not None
        if not busy:
            for dsn in list(self._connections):
                self._close(dsn)


def families(snapshot: Snapshot) -> Iterator[Metric]:
    """The metric families of one snapshot; every resource gets every series, zeros included."""
    labels = ["namespace", "name"]
    up = GaugeMetricFamily(
        "employes_sync_database_up",
        "1 when every database of the served resources answered the last read, else 0.",
        value=1.0 if snapshot.up else 0.0,
    )
    age = GaugeMetricFamily(
        "employes_sync_database_read_age_seconds",
        "Seconds since the database values in this scrape were read (grows while the database is down).",
        value=time.time() - snapshot.read_at if snapshot.read_at else 0.0,
    )
    queue = GaugeMetricFamily(
        "employes_sync_queue_batches", "Batches in processing_queue by state.", labels=[*labels, "state"]
    )
    oldest = GaugeMetricFamily(
        "employes_sync_queue_oldest_pending_age_seconds",
        "Seconds since the oldest pending batch was queued (0 when none is pending).",
        labels=labels,
    )
    finished = CounterMetricFamily(
        "employes_sync_batches_finished",
        "Batches that reached a final state, by outcome (from the queue rows still held).",
        labels=[*labels, "outcome"],
    )
    attempts = CounterMetricFamily(
        "employes_sync_batch_attempts",
        "Batch attempts started (a Job or worker process each).",
        labels=labels,
    )
    retries = CounterMetricFamily(
        "employes_sync_batch_retries", "Batch attempts after the first one.", labels=labels
    )
    durations = HistogramMetricFamily(
        "employes_sync_batch_duration_seconds",
        "Duration of finished batches' last attempt (claim to completion or final failure).",
        labels=labels,
    )
    employees = CounterMetricFamily(
        "employes_sync_employees_synced", "Employees listed and stored, summed over runs.", labels=labels
    )
    raw = CounterMetricFamily(
        "employes_sync_raw_records",
        "Raw API responses stored, by result: new, changed, or unchanged (deduplicated by SHA-256).",
        labels=[*labels, "result"],
    )
    created = CounterMetricFamily(
        "employes_sync_timeline_events_created", "Timeline events inserted by runs.", labels=labels
    )
    updated = CounterMetricFamily(
        "employes_sync_timeline_events_updated",
        "Stored timeline events runs corrected in place (changed upstream, a planned event whose day came).",
        labels=labels,
    )
    stored = GaugeMetricFamily(
        "employes_sync_timeline_events",
        "Timeline events stored now, by event type.",
        labels=[*labels, "event_type"],
    )
    last_success = GaugeMetricFamily(
        "employes_sync_last_success_timestamp_seconds",
        "Unix time the resource's last successful run finished (absent until one has).",
        labels=labels,
    )
    last_failed = GaugeMetricFamily(
        "employes_sync_last_run_failed",
        "1 when the resource's most recent finished run failed or was degraded, else 0.",
        labels=labels,
    )
    worker_requests = CounterMetricFamily(
        "employes_sync_worker_api_requests",
        "Employes API HTTP attempts made by worker processes and Job pods (recorded per batch attempt).",
        labels=[*labels, "endpoint", "status_class"],
    )
    outbox_pending = GaugeMetricFamily(
        "employes_sync_outbox_pending",
        "Webhook events in the outbox not delivered yet (nor dead-lettered).",
        labels=labels,
    )
    outbox_oldest = GaugeMetricFamily(
        "employes_sync_outbox_oldest_pending_seconds",
        "Seconds since the oldest undelivered webhook event was written (0 when none is pending).",
        labels=labels,
    )
    for (namespace, name), data in sorted(snapshot.resources.items()):
        resource = [namespace, name]
        outbox_pending.add_metric(resource, data.outbox_pending)
        outbox_oldest.add_metric(resource, data.outbox_oldest_pending)
        for endpoint in ENDPOINTS:  # every series from zero, so rate() sees the first requests
            for status_class in STATUS_CLASSES:
                count = data.worker_requests.get((endpoint, status_class), 0)
                worker_requests.add_metric([*resource, endpoint, status_class], count)
        for state in QUEUE_STATES:
            queue.add_metric([*resource, state], data.queue.get(state, 0))
        oldest.add_metric(resource, data.oldest_pending_age)
        for outcome in BATCH_OUTCOMES:
            finished.add_metric([*resource, outcome], data.queue.get(outcome, 0))
        attempts.add_metric(resource, data.attempts)
        retries.add_metric(resource, data.retries)
        buckets = [(_le(le), n) for le, n in zip(BATCH_DURATION_BUCKETS, data.duration_buckets, strict=True)]
        durations.add_metric(resource, [*buckets, ("+Inf", data.duration_count)], data.duration_sum)
        employees.add_metric(resource, data.employees)
        for result in RAW_RESULTS:
            raw.add_metric([*resource, result], data.raw[result])
        created.add_metric(resource, data.events_created)
        updated.add_metric(resource, data.events_updated)
        for event_type, n in sorted(data.events_by_type.items()):
            stored.add_metric([*resource, event_type], n)
        if data.last_success is not None:
            last_success.add_metric(resource, data.last_success)
        if data.last_run_failed is not None:
            last_failed.add_metric(resource, 1.0 if data.last_run_failed else 0.0)
    yield from (up, age, queue, oldest, finished, attempts, retries, durations, employees, raw, created)
    yield from (updated, stored, last_success, last_failed, worker_requests, outbox_pending, outbox_oldest)


def _le(bound: float) -> str:
    return repr(float(bound))
