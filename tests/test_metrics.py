"""Metrics: the values read from PostgreSQL, the in-process ones, names and labels, and outages.

The database collector is checked against rows made through the store's own functions, through a
real HTTP scrape; outages are real too (a server that accepts and never answers, a refused port, a
table locked by another session).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.simulator import Simulator
from employes_sync.metrics import (
    DatabaseCollector,
    api_response_observer,
    observe_api_response,
    record_job_created,
    record_run_finished,
    scope_labels,
    serve_metrics,
    start_metrics_server,
)
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store import timeline as timeline_store
from tests.fixtures.kube import wait_for
from tests.fixtures.network import free_port

LOCAL_COMPANY = "7d5a8f0e-1b2c-4d3e-9f40-123456789abc"
ALLOWED_LABELS = {"namespace", "name", "state", "outcome", "trigger", "endpoint", "status_class"}
ALLOWED_LABELS |= {"event_type", "result", "le"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int, timeout: float = 5.0) -> tuple[Samples, str]:
    """({(sample name, labels): value}, raw text) of one real HTTP scrape."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
    assert response.status_code == 200
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return samples, response.text


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


# --- labels and in-process metrics ----------------------------------------------------------------


def test_scope_labels_never_carry_a_company_id() -> None:
    assert scope_labels("payroll/acme") == ("payroll", "acme")
    assert scope_labels(f"local/{LOCAL_COMPANY}") == ("local", "local")
    assert scope_labels("oddity") == ("local", "local")


def test_api_responses_are_counted_with_bounded_labels() -> None:
    def requests(namespace: str, name: str, endpoint: str, status_class: str) -> float:
        labels = {"namespace": namespace, "name": name, "endpoint": endpoint, "status_class": status_class}
        return REGISTRY.get_sample_value("employes_sync_api_requests_total", labels) or 0.0

    before = requests("local", "local", "employments", "2xx")
    observe_api_response("employments", "2xx", 0.05)
    assert requests("local", "local", "employments", "2xx") == before + 1

    observe = api_response_observer("payroll", "labels-test")
    assert requests("payroll", "labels-test", "employees", "429") == 0.0  # created at zero, not absent
    observe("/employees/123/employments", "418", 0.1)  # unknown shapes never become label values
    assert requests("payroll", "labels-test", "other", "other") == 1.0


def test_runs_and_jobs_are_counted() -> None:
    labels = {"namespace": "payroll", "name": "runs-test"}
    record_run_finished("payroll", "runs-test", "a trigger with spaces", "succeeded", 12.5)
    assert (
        REGISTRY.get_sample_value(
            "employes_sync_runs_total", {**labels, "trigger": "other", "outcome": "succeeded"}
        )
        == 1.0
    )
    assert REGISTRY.get_sample_value("employes_sync_run_duration_seconds_sum", labels) == 12.5
    record_job_created("payroll", "runs-test")
    assert REGISTRY.get_sample_value("employes_sync_jobs_created_total", labels) == 1.0


# --- values read from the database ------------------------------------------------------------


async def _populate(pool: AsyncConnectionPool) -> None:
    """payroll/acme mid-run; a local company with a succeeded then a failed run; payroll/gone unserved."""
    run = await runs_store.start_run(pool, "payroll/acme", "c-acme", "created", "interactive")
    await runs_store.update_summary(
        pool,
        run,
        {
            "employees_processed": 10,
            "raw_records": {"new": 10, "changed": 0, "unchanged": 0},
            "inline": {"raw_new": 1, "events_created": 3, "events_updated": 1},
            "batches": 3,
        },
    )
    done, retrying, _waiting = await queue_store.enqueue(pool, "payroll/acme", run, [["e1"], ["e2"], ["e3"]])
    assert await queue_store.claim(pool, done.id)
    assert await queue_store.complete(pool, done.id, {"raw_new": 2, "events_created": 5, "events_updated": 2})
    assert await queue_store.claim(pool, retrying.id)
    assert await queue_store.fail(pool, retrying.id, "boom", backoff_base=60) == "retrying"
    events = [
        {
            "employee_id": "e1",
            "event_type": event_type,
            "event_date": date(2024, 1, day),
            "event_title": event_type,
            "event_description": None,
            "event_data": {},
            "event_key": f"k{day}",
        }
        for day, event_type in [(1, "contract_started"), (2, "contract_started"), (3, "salary_increase")]
    ]
    await timeline_store.write_events(pool, "payroll/acme", ["e1"], events)

    local = f"local/{LOCAL_COMPANY}"
    final = {
        "employees_processed": 4,
        "raw_records": {"new": 4, "changed": 1, "unchanged": 2},
        "events_created": 7,
        "events_updated": 4,
        "batches": {"total": 0},
    }
    first = await runs_store.start_run(pool, local, LOCAL_COMPANY, "cli", "interactive")
    await runs_store.finish_run(pool, first, "succeeded", final)
    second = await runs_store.start_run(pool, local, LOCAL_COMPANY, "cli", "interactive")
    await runs_store.finish_run(pool, second, "failed", final, "1 of 1 batches failed")

    await runs_store.start_run(pool, "payroll/gone", "c-gone", "created", "interactive")


async def test_database_values_per_resource(database_url: str, store_pool: AsyncConnectionPool) -> None:
    await _populate(store_pool)
    served = {
        "payroll/acme": database_url,
        f"local/{LOCAL_COMPANY}": database_url,
        "payroll/new": database_url,
    }
    server = start_metrics_server(0, lambda: served, addr="127.0.0.1")
    try:
        samples, text = scrape(server.port)
    finally:
        server.close()

    acme = {"namespace": "payroll", "name": "acme"}
    assert value(samples, "employes_sync_database_up") == 1
    assert value(samples, "employes_sync_queue_batches", **acme, state="pending") == 2
    assert value(samples, "employes_sync_queue_batches", **acme, state="completed") == 1
    assert value(samples, "employes_sync_queue_batches", **acme, state="processing") == 0
    assert value(samples, "employes_sync_queue_oldest_pending_age_seconds", **acme) >= 0
    assert value(samples, "employes_sync_batches_finished_total", **acme, outcome="completed") == 1
    assert value(samples, "employes_sync_batches_finished_total", **acme, outcome="failed") == 0
    assert value(samples, "employes_sync_batch_attempts_total", **acme) == 2
    assert value(samples, "employes_sync_batch_retries_total", **acme) == 0
    assert value(samples, "employes_sync_batch_duration_seconds_count", **acme) == 1
    assert value(samples, "employes_sync_batch_duration_seconds_bucket", **acme, le="+Inf") == 1
    # a running run: its summary so far, its inline part and its completed batches
    assert value(samples, "employes_sync_employees_synced_total", **acme) == 10
    assert value(samples, "employes_sync_raw_records_total", **acme, result="new") == 10 + 1 + 2
    assert value(samples, "employes_sync_timeline_events_created_total", **acme) == 3 + 5
    assert value(samples, "employes_sync_timeline_events_updated_total", **acme) == 1 + 2
    assert value(samples, "employes_sync_timeline_events", **acme, event_type="contract_started") == 2
    assert value(samples, "employes_sync_timeline_events", **acme, event_type="salary_increase") == 1
    assert value(samples, "employes_sync_last_success_timestamp_seconds", **acme) is None
    assert value(samples, "employes_sync_last_run_failed", **acme) is None

    local = {"namespace": "local", "name": "local"}
    assert value(samples, "employes_sync_employees_synced_total", **local) == 8  # two finished runs
    assert value(samples, "employes_sync_raw_records_total", **local, result="changed") == 2
    assert value(samples, "employes_sync_timeline_events_created_total", **local) == 14
    assert value(samples, "employes_sync_timeline_events_updated_total", **local) == 8
    assert value(samples, "employes_sync_last_success_timestamp_seconds", **local) == pytest.approx(
        time.time(), abs=120
    )
    assert value(samples, "employes_sync_last_run_failed", **local) == 1  # the later run failed

    # a served resource without rows shows zeros; one that is not served does not show at all
    assert (
        value(samples, "employes_sync_queue_batches", namespace="payroll", name="new", state="pending") == 0
    )
    assert 'name="gone"' not in text
    assert LOCAL_COMPANY not in text and "c-acme" not in text


async def test_names_and_labels_follow_the_conventions(
    database_url: str,
    store_pool: AsyncConnectionPool,
) -> None:
    await _populate(store_pool)
    server = serve_metrics(0, database_url, addr="127.0.0.1")
    try:
        _, text = scrape(server.port)
    finally:
        server.close()
    families = [f for f in text_string_to_metric_families(text) if f.name.startswith("employes_sync")]
    assert len(families) >= 20
    for family in families:
        assert re.fullmatch(r"employes_sync_[a-z0-9_]+", family.name), family.name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        if family.type == "histogram" or "duration" in family.name or "age" in family.name:
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (sample.name, sample.labels)


# --- outages ------------------------------------------------------------------------------------


NOT_READABLE = "metrics: database not readable"


@pytest.mark.parametrize(
    ("kind", "error"), [("never answers", "ConnectionTimeout"), ("refuses", "OperationalError")]
)
def test_a_database_outage_is_a_zero_not_a_failed_scrape(
    kind: str, error: str, silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    port = silent_server if kind == "never answers" else free_port()
    server = serve_metrics(0, f"postgresql://esync@127.0.0.1:{port}/esync", addr="127.0.0.1", ttl=0.5)
    caplog.set_level(logging.WARNING, logger="employes_sync.metrics.collector")
    try:
        for _ in range(2):
            samples, _ = scrape(server.port)  # a 200, not an error: scrape() checks it
            assert value(samples, "employes_sync_database_up") == 0
        # The refresh gives up by itself (a connect timeout for the silent one) and says why, once.
        wait_for(lambda: NOT_READABLE in caplog.text, 30, what="the refresh to give up")
        told = [r.getMessage() for r in caplog.records if r.getMessage().startswith(NOT_READABLE)]
        assert told[0] == f"{NOT_READABLE} ({error}); serving the last values"  # the connect timeout
    finally:
        server.close()


def test_a_scrape_does_not_wait_for_a_silent_database(silent_server: int) -> None:
    """The scrape's budget is `wait_seconds`: it answers while the refresh still waits for the database.

    A connect timeout far beyond the scrape's budget keeps the refresh waiting for the whole check.
    """
    before = set(threading.enumerate())
    collector = DatabaseCollector(
        lambda: {f"postgresql://esync@127.0.0.1:{silent_server}/esync": None}, ttl=0.5, connect_timeout=120
    )
    try:
        for _ in range(2):
            snapshot = collector.snapshot()
            assert snapshot.up is False and snapshot.resources == {}
            refreshing = [t for t in set(threading.enumerate()) - before if t.name == "metrics-db"]
            assert len(refreshing) == 1 and refreshing[0].is_alive(), "the scrape waited for the refresh"
    finally:
        collector.close()


async def test_a_locked_table_serves_the_last_values_quickly(
    database_url: str,
    store_pool: AsyncConnectionPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _populate(store_pool)
    acme = {"namespace": "payroll", "name": "acme", "state": "pending"}
    server = start_metrics_server(0, lambda: {"payroll/acme": database_url}, addr="127.0.0.1", ttl=0.3)
    caplog.set_level(logging.WARNING, logger="employes_sync.metrics.collector")
    try:
        samples, _ = scrape(server.port)
        assert value(samples, "employes_sync_database_up") == 1
        assert value(samples, "employes_sync_queue_batches", **acme) == 2

        with psycopg.connect(database_url) as locker:
            locker.execute("LOCK TABLE processing_queue IN ACCESS EXCLUSIVE MODE")

            def down() -> Samples | None:  # once the cached values (ttl) are old
                samples = scrape(server.port)[0]
                return samples if value(samples, "employes_sync_database_up") == 0 else None

            samples = wait_for(down, 10, what="a scrape past the cache")
            assert value(samples, "employes_sync_queue_batches", **acme) == 2  # the last values
            samples = scrape(server.port)[0]
            assert value(samples, "employes_sync_database_up") == 0
            assert value(samples, "employes_sync_queue_batches", **acme) == 2
            # While the lock is still held, the statement timeout ends the blocked read: told, not hung.
            wait_for(lambda: NOT_READABLE in caplog.text, 30, what="the statement timeout")
            assert f"{NOT_READABLE} (QueryCanceled)" in caplog.text
            locker.rollback()

        wait_for(
            lambda: value(scrape(server.port)[0], "employes_sync_database_up") == 1,
            10,
            what="the collector to recover",
        )
    finally:
        server.close()


# --- `employes-sync sync --metrics-port` ---------------------------------------------------------


@pytest.mark.slow
def test_sync_command_serves_metrics_while_it_runs(
    database_url: str, simulator: Simulator, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(simulator.config.token)
    port = free_port()
    command = [
        *(sys.executable, "-m", "employes_sync", "sync"),
        *("--api-url", str(simulator.url), "--company-id", simulator.config.company_id),
        *("--token-file", str(token_file), "--database-url", database_url),
        # 10 requests/second: the run lasts several seconds, longer than the collector's 3 s cache, so
        # a refresh happens while batches are queued (at 200/s the run could end inside the cache entry
        # of a scrape taken before anything was queued)
        *("--batch-size", "10", "--requests-per-second", "10", "--backoff-seconds", "0.2"),
        *("--metrics-port", str(port), "--json"),
    ]
    local = {"namespace": "local", "name": "local"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: Samples = {}
    try:
        while process.poll() is None:
            try:
                samples, _ = scrape(port, timeout=2)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            queued = value(samples, "employes_sync_queue_batches", **local, state="pending")
            if value(samples, "employes_sync_database_up") == 1 and queued is not None:
                seen = samples
            time.sleep(0.2)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    assert seen, "no scrape while the sync ran showed the database up and its queue"
    api = value(seen, "employes_sync_api_requests_total", **local, endpoint="employees", status_class="2xx")
    assert api is not None and api >= 1
