"""Faults on the consumers' side: a webhook receiver that is down or always fails, a worker killed while
its events are being written. Every receiver here is a real aiohttp server on 127.0.0.1 that verifies
every Standard Webhooks signature.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.simulator import Simulator
from employes_sync.settings import subscription
from employes_sync.store import outbox
from employes_sync.webhooks.delivery import Deliverer, DeliverySettings, Receiver
from tests.fixtures.webhooks import WebhookReceiver
from tests.reliability.helpers import Recorder, local_run
from tests.reliability.test_worker_faults import killer

pytestmark = pytest.mark.timeout(240)

AREA = "Consumers"
#: How long the receiver stays down at least (issue 16: "a receiver down for 20 s and then up").
OUTAGE_SECONDS = 20.0


def outbox_rows(database_url: str) -> list[dict[str, Any]]:
    sql = "SELECT id, event_type, status, attempts, last_error, body::text FROM notification_outbox"
    with psycopg.connect(database_url) as conn:
        try:
            cur = conn.execute(sql)
        except psycopg.errors.UndefinedTable:  # the sync has not migrated the database yet
            return []
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def start_sync(
    sim: Simulator, database_url: str, receiver: WebhookReceiver, tmp_path: Path, *extra: str
) -> subprocess.Popen[str]:
    secret = tmp_path / "whsec"
    secret.write_text(receiver.secret)
    command = [sys.executable, "-m", "employes_sync", "sync", "--api-url", str(sim.url), "--company-id",
               sim.config.company_id, "--database-url", database_url, "--requests-per-second", "500",
               "--webhook-url", receiver.url, "--webhook-secret-file", str(secret),
               "--webhook-allow-insecure", "--webhook-backoff-base", "0.2", "--webhook-backoff-max", "1",
               *extra]  # fmt: skip
    env = {**os.environ, "EMPLOYES_API_TOKEN": sim.config.token, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def assert_duplicates_share_their_id(receiver: WebhookReceiver) -> None:
    bodies: dict[str, set[str]] = defaultdict(set)
    for item in receiver.snapshot():
        assert item.verified, "a request whose signature did not verify"
        bodies[item.webhook_id].add(item.body)
    assert all(len(b) == 1 for b in bodies.values()), "one webhook-id carried two different bodies"


@pytest.mark.fault(
    AREA,
    "the webhook receiver down for 20 s, then up",
    "events queue in the outbox while every attempt fails (connection refused) for at least 20 s, with "
    "backoff; once the receiver is back every event arrives, signed; a repeat (the receiver answered 503 "
    "after reading it) carries the same webhook-id and body",
)
def test_a_receiver_down_then_up_receives_every_event(
    make_simulator: Any, database_url: str, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """The issue's outage: down for at least 20 s of real time and until the run has ended and its
    run.finished event failed 3 times (the backoff is capped at 1 s by a test option instead of 300 s,
    so the 20 s hold many attempts), then up."""
    sim: Simulator = make_simulator(employees=40, requests_per_second=1000.0)
    webhook_receiver.down()
    down_since = time.monotonic()
    process = start_sync(sim, database_url, webhook_receiver, tmp_path, "--webhook-wait", "120")
    try:
        wait_for(
            lambda: (
                time.monotonic() - down_since >= OUTAGE_SECONDS
                and any(
                    r["event_type"] == "run.finished" and r["attempts"] >= 3
                    for r in outbox_rows(database_url)
                )
            ),
            120,
            f"run.finished to fail three times and {OUTAGE_SECONDS:.0f} s of outage",
        )
        failing = [r for r in outbox_rows(database_url) if r["attempts"]]
        assert failing and all(r["last_error"] == "connection failed (ConnectError)" for r in failing)
        answers = iter([503, 503, 503])  # read but not acknowledged: the deliverer must send them again
        webhook_receiver.answer = lambda item: next(answers, 200)
        webhook_receiver.up()
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err
    rows = outbox_rows(database_url)
    assert len(rows) == 41 and all(r["status"] == "delivered" for r in rows)
    accepted = webhook_receiver.accepted()
    assert set(accepted) == {r["id"] for r in rows}
    for row in rows:
        assert json.loads(accepted[row["id"]].body) == json.loads(row["body"])
    assert len(webhook_receiver.snapshot()) > len(rows), "the 503s were repeated"
    assert_duplicates_share_their_id(webhook_receiver)
    assert "41 delivered" in out


@pytest.mark.fault(
    AREA,
    "the webhook receiver always answers 500",
    "every event is retried with backoff until its max age (2 s here), then dead-lettered with its last "
    "error 'HTTP 500'; the sync itself succeeds and says how many were dead-lettered",
)
def test_a_receiver_always_failing_leads_to_dead_letters(
    make_simulator: Any, database_url: str, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    sim: Simulator = make_simulator(employees=12, requests_per_second=1000.0)
    webhook_receiver.answer = lambda item: 500
    process = start_sync(sim, database_url, webhook_receiver, tmp_path, "--webhook-max-age", "2",
                         "--webhook-wait", "60")  # fmt: skip
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    rows = outbox_rows(database_url)
    assert len(rows) == 13
    assert all(r["status"] == "dead" and r["last_error"] == "HTTP 500" and r["attempts"] >= 2 for r in rows)
    assert "13 dead-lettered" in out
    assert {item.webhook_id for item in webhook_receiver.snapshot()} == {r["id"] for r in rows}
    assert_duplicates_share_their_id(webhook_receiver)
    for text in (out, err, json.dumps(rows, default=str)):
        assert webhook_receiver.secret not in text and "receiver-token-123" not in text


@pytest.mark.fault(
    AREA,
    "a worker killed with SIGKILL while its batch writes timelines and webhook events",
    "the outbox is written in the timeline write's transaction: the retried batch writes what the killed "
    "one had not committed, and the receiver gets a timeline.changed for every employee with events",
)
async def test_a_worker_killed_mid_batch_loses_no_webhook_event(
    make_simulator: Any, store_pool: AsyncConnectionPool, database_url: str, webhook_receiver: WebhookReceiver
) -> None:
    sim: Simulator = make_simulator(employees=40, requests_per_second=0, latency_ms=400)
    killed: list[str] = []
    recorder = Recorder()
    recorder.on_tick(killer(batch_no=2, times=1, killed=killed))
    scope = f"local/{sim.config.company_id}"
    summary = await local_run(
        sim, store_pool, database_url, recorder=recorder, webhooks=(subscription("hook"),)
    )
    assert summary.succeeded and len(killed) == 1
    deliverer = Deliverer(store_pool, DeliverySettings(backoff_base_seconds=0.1, backoff_max_seconds=0.5))
    deliverer.set_receivers(scope, [Receiver(scope, "hook", webhook_receiver.url, webhook_receiver.secret)])
    try:
        left = await deliverer.drain(60)
    finally:
        await deliverer.close()
    assert left["pending"] == 0
    events = [item.event for item in webhook_receiver.snapshot()]
    changed = [e["data"]["employee_id"] for e in events if e["type"] == "timeline.changed"]
    async with store_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT employee_id FROM employes_timeline_v2 WHERE scope = %s", (scope,)
        )
        with_events = {row[0] for row in await cur.fetchall()}
    assert set(changed) == with_events and len(changed) == len(with_events)
    assert [e["type"] for e in events].count("run.finished") == 1
    assert (await outbox.counts(store_pool, scope)) == {"pending": 0, "delivered": len(events), "dead": 0}
    assert_duplicates_share_their_id(webhook_receiver)
