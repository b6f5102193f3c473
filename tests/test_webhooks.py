"""Signed webhooks from the outbox: signatures, payloads, order per employee, the `sync` flags."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiohttp
import aiohttp.web
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.cancelling import cancel_and_wait
from employes_sync.cli.webhooks import WEBHOOK_URL_ENV, carries_credential
from employes_sync.employes.simulator import Simulator
from employes_sync.settings import EXTRA_CA_FILE_ENV, SettingsError, subscription
from employes_sync.store import outbox
from employes_sync.store import runs as runs_store
from employes_sync.webhooks.delivery import (
    Deliverer,
    DeliverySettings,
    Receiver,
    after_attempt,
    describe,
    receiver_caps,
    retry_delay,
    rooms,
)
from employes_sync.webhooks.signing import WebhookConfigError, check_url, parse_secret, sign_headers
from tests.fixtures.network import served
from tests.fixtures.tls import CompanyCA, forget_tls
from tests.fixtures.webhooks import WebhookReceiver, new_secret
from tests.reliability import rows

SCOPE = "default/acme"


def test_signature_is_v1_base64_hmac_sha256_of_id_timestamp_body() -> None:
    key = os.urandom(32)
    secret = "whsec_" + base64.b64encode(key).decode()
    when = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    headers = sign_headers(secret, "evt_1", '{"a":1}', when)
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(int(when.timestamp()))
    expected = hmac.new(key, f'evt_1.{int(when.timestamp())}.{{"a":1}}'.encode(), hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_bad_secrets_and_urls_are_one_line_errors_that_never_echo_them() -> None:
    for bad in ("plain-secret", "whsec_!!notbase64!!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(WebhookConfigError) as caught:
            parse_secret(bad, "hook")
        assert bad not in str(caught.value) and str(caught.value).startswith("webhook hook:")
    assert parse_secret(" " + (good := new_secret()) + "\n", "hook") == good
    secret_url = "http://receiver.example/hook?token=s3cr3t"
    with pytest.raises(WebhookConfigError, match="allowInsecure") as caught:
        check_url(secret_url, "hook")
    assert "s3cr3t" not in str(caught.value)
    assert check_url(secret_url, "hook", allow_insecure=True) == secret_url
    for bad in ("ftp://x/y", "https://", "https://host:99999/", "not a url"):
        with pytest.raises(WebhookConfigError):
            check_url(bad, "hook")
    # A host the resolver cannot encode (an empty or 64-letter label) is refused here, by name only,
    # rather than failing every attempt until the events dead-letter.
    for host in ("a..b", "." * 2, "x" * 64 + ".example"):
        with pytest.raises(WebhookConfigError, match="host") as caught:
            check_url(f"https://{host}/hook?token=s3cr3t", "hook")
        assert "s3cr3t" not in str(caught.value) and host not in str(caught.value)
    for host in ("receiver.example", "127.0.0.1", "[::1]", "xn--bcher-kva.example", "b\u00fccher.example"):
        assert check_url(f"https://{host}/hook", "hook")


def test_an_unpadded_secret_signs_as_the_standard_webhooks_library_verifies_it() -> None:
    """`whsec_` + unpadded base64 (16 bytes: 22 letters) was refused as not base64, while the
    Standard Webhooks libraries take it; a URL-safe one stays refused (they would read another key)."""
    from standardwebhooks.webhooks import Webhook

    key = os.urandom(16)
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert parse_secret(unpadded, "hook") == unpadded
    body = '{"type": "run.finished"}'
    headers = sign_headers(unpadded, "evt_1", body)
    assert Webhook(unpadded).verify(body, headers) == json.loads(body)
    padded = "whsec_" + base64.b64encode(key).decode()
    assert Webhook(padded).verify(body, headers), "the same key either way"
    with pytest.raises(WebhookConfigError, match="not whsec_ \\+ base64"):
        parse_secret("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 12).decode(), "hook")


def test_a_receiver_url_with_a_space_a_control_character_or_port_0_is_refused() -> None:
    # Each passed the check, then aiohttp sent the event elsewhere (a newline dropped from the path, a
    # space quoted) or failed every attempt (a host with a space, port 0) until it dead-lettered.
    for bad in ("https://receiver.example/hook\nx", "https://receiver.example/ho ok?token=s3cr3t",
                "https://exa mple.com/hook", "https://x\x00y/hook", "https://receiver.example/\x7f",
                "https://receiver.example:0/hook"):  # fmt: skip
        with pytest.raises(WebhookConfigError, match=r"^webhook hook: the receiver URL") as caught:
            check_url(bad, "hook")
        assert "s3cr3t" not in str(caught.value) and "\n" not in str(caught.value)
    assert check_url(" https://receiver.example/hook\n", "hook") == "https://receiver.example/hook"


def test_an_unsplittable_webhook_url_on_the_command_line_is_one_line_exit_2(tmp_path: Path) -> None:
    # The credential warning split the URL in the option's callback: `https://[::1/h` ended in a
    # ValueError traceback (exit 1) before check_url could refuse it.
    assert carries_credential("https://[::1/hook") is False
    secret_file = tmp_path / "secret"
    secret_file.write_text(new_secret())
    done = subprocess.run(
        [sys.executable, "-m", "employes_sync", "sync", "--demo", "--webhook-url", "https://[::1/hook",
         "--webhook-secret-file", str(secret_file)],
        env={**os.environ, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line == "employes-sync: error: webhook cli: the receiver URL is not a valid URL"


def test_subscriptions_are_bounded() -> None:
    assert subscription("a")["events"] == sorted(["run.finished", "run.failed", "timeline.changed",
                                                  "employee.removed"])  # fmt: skip
    for bad in ({"name": "Bad Name"}, {"name": "a", "events": ["run.started"]}, {"name": "a", "events": []},
                {"name": "a", "max_age_seconds": 0}):  # fmt: skip
        with pytest.raises(SettingsError):
            subscription(**bad)


def test_retry_delay_grows_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    delays = [retry_delay(n, 1.0, 30.0, rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        cap = min(30.0, 2 ** (n - 1))
        assert cap * 0.5 <= delay <= cap
    assert len({round(d, 6) for d in delays}) == len(delays)
    # an event retried for days at the 300 s cap passes 1,024 attempts (30 days' max age: 8,640): the
    # delay stays the cap, where 2^1024 raised OverflowError in the loop that records outcomes
    for attempts in (1025, 8640, 10**6):
        assert 150.0 <= retry_delay(attempts, 1.0, 300.0, rng) <= 300.0


def test_rooms_share_the_free_slots_and_cap_each_receiver() -> None:
    a, b, c = ("s/a", "hook"), ("s/b", "hook"), ("s/c", "hook")
    # nothing in flight: each receiver may take its own share, never more than the free slots
    assert rooms([a, b], {}, concurrency=16, per_receiver=4) == ({a: 4, b: 4}, 16)
    assert rooms([a, b], {}, concurrency=3, per_receiver=4) == ({a: 3, b: 3}, 3)
    # a receiver that holds its four (stalled) gets none; the others keep theirs
    assert rooms([a, b, c], {a: 4}, concurrency=16, per_receiver=4) == ({b: 4, c: 4}, 12)
    # every slot taken: nothing, whoever holds them
    assert rooms([a, b, c], {a: 4, b: 4, c: 4}, concurrency=12, per_receiver=4) == ({}, 0)
    # a receiver removed while its requests are out still counts against the free slots
    assert rooms([b], {a: 4}, concurrency=6, per_receiver=4) == ({b: 2}, 2)
    with pytest.raises(ValueError, match="per_receiver"):
        DeliverySettings(concurrency=4, per_receiver=5)
    with pytest.raises(ValueError, match="lease_seconds"):
        DeliverySettings(timeout_seconds=60, lease_seconds=60)


def test_a_stalled_receiver_is_sent_one_request_at_a_time_until_one_is_answered() -> None:
    a, b = ("s/a", "hook"), ("s/b", "hook")
    timed_out = describe(None, TimeoutError())
    # a timeout makes a receiver stalled; other receivers are not touched
    stalled = after_attempt(frozenset(), a, timed_out)
    assert stalled == {a}
    assert after_attempt(stalled, b, None) == {a}
    assert after_attempt(stalled, a, timed_out) == {a}
    # any answer ends the stall: a delivery, or a failure that came back before the timeout
    assert after_attempt(stalled, a, None) == frozenset()
    assert after_attempt(stalled, a, describe(500)) == frozenset()
    # a fast failure alone is no stall: its events keep their own retries, each to its max age
    assert after_attempt(frozenset(), a, describe(None, ConnectionRefusedError())) == frozenset()
    # the caps limit the room: a stalled receiver with its probe out has none; healthy ones keep four
    caps = receiver_caps(stalled)
    assert caps == {a: 1}
    assert rooms([a, b], {a: 1}, concurrency=16, per_receiver=4, caps=caps) == ({b: 4}, 15)
    assert rooms([a, b], {}, concurrency=16, per_receiver=4, caps=caps) == ({a: 1, b: 4}, 16)
    # the rest of a burst still out when the first timeout is noted: no probe until they have ended
    assert rooms([a], {a: 3}, concurrency=16, per_receiver=4, caps=caps) == ({}, 13)


async def test_a_claim_takes_turns_between_receivers_and_never_more_than_their_room(
    store_pool: AsyncConnectionPool,
) -> None:
    """The claim for the free slots: each receiver's oldest first, the one with the fewest in flight
    first, at most its room; an employee's later event never ahead of its pending earlier one."""
    a, b = ("tenant-a/esync", "hook"), ("tenant-b/esync", "hook")
    a_run, b_run = await _open_run(store_pool, a[0]), await _open_run(store_pool, b[0])
    await _change(store_pool, a[0], a_run, [f"a{i}" for i in range(10)])  # the oldest: all A's
    await _change(store_pool, b[0], b_run, [f"b{i}" for i in range(10)])
    seqs = {t: sorted(e["seq"] for e in await outbox.events(store_pool, t[0])) for t in (a, b)}

    def claimed(events: list[outbox.OutboxEvent]) -> dict[tuple[str, str], list[int]]:
        found: dict[tuple[str, str], list[int]] = {a: [], b: []}
        for event in events:
            found[(event.scope, event.webhook)].append(event.seq)
        return found

    # room for 4 in all: two each, though A's ten are older than any of B's
    got = claimed(await outbox.claim(store_pool, {a: 4, b: 4}, limit=4))
    assert got == {a: seqs[a][:2], b: seqs[b][:2]}
    # A has 3 out already, B none: B's next three go first; A gets only what its room (1) allows
    got = claimed(await outbox.claim(store_pool, {a: 1, b: 3}, busy={a: 3}, limit=3))
    assert got == {a: [], b: seqs[b][2:5]}
    got = claimed(await outbox.claim(store_pool, {a: 1, b: 3}, busy={a: 3}, limit=8))
    assert got == {a: seqs[a][2:3], b: seqs[b][5:8]}
    # one out each: a tie of turns, and the older event goes first
    got = claimed(await outbox.claim(store_pool, {a: 1, b: 1}, busy={a: 1, b: 1}, limit=1))
    assert got == {a: seqs[a][3:4], b: []}
    # what is leased (in flight) is not claimed again, nor an employee's next event behind it
    await _change(store_pool, a[0], a_run, ["a0"], key="k2")  # a0's second event, behind its first
    assert len(await outbox.events(store_pool, a[0])) == 11
    got = claimed(await outbox.claim(store_pool, {a: 4}, limit=4))
    assert got == {a: seqs[a][4:8], b: []}
    got = claimed(await outbox.claim(store_pool, {a: 4}, limit=4, in_flight=seqs[a][8:9]))
    assert got == {a: seqs[a][9:10], b: []}


async def test_waiting_behind_an_employees_earlier_event_is_not_a_busy_wait(
    store_pool: AsyncConnectionPool,
) -> None:
    """An employee's second event is due but waits for the first, which backs off for 30 s: the loop
    sleeps until then (or a wake-up), not 10 ms at a time."""
    a = ("tenant-a/esync", "hook")
    a_run = await _open_run(store_pool, a[0])
    await _change(store_pool, a[0], a_run, ["e1"])
    (first,) = await outbox.claim(store_pool, {a: 4}, limit=4)
    assert await outbox.failed(store_pool, first.seq, "HTTP 500", 30.0) == "pending"
    from employes_sync.store import timeline as timeline_store

    await timeline_store.write_events(store_pool, a[0], ["e1"], [], run_id=a_run)  # e1's second event
    assert len(await outbox.events(store_pool, a[0])) == 2
    assert await outbox.claim(store_pool, {a: 4}, limit=4) == []
    wait = await outbox.next_due_seconds(store_pool, [a])
    assert wait is not None and 20 < wait <= 30
    await outbox.delivered(store_pool, [first.seq])
    assert await outbox.next_due_seconds(store_pool, [a]) == 0.0  # the second is due now
    assert [e.employee_id for e in await outbox.claim(store_pool, {a: 4}, limit=4)] == ["e1"]
    assert await outbox.next_due_seconds(store_pool, [a]) > 50  # leased: its lease is what is left
    assert await outbox.next_due_seconds(store_pool, [("tenant-b/esync", "hook")]) is None


async def _run_with_webhooks(pool: AsyncConnectionPool, **hook: Any) -> int:
    settings = {"webhooks": [subscription("hook", **hook)]}
    return await runs_store.start_run(pool, SCOPE, "c0", "test", "interactive", settings)


async def test_events_of_one_employee_are_delivered_in_order(
    store_pool: AsyncConnectionPool, webhook_receiver: WebhookReceiver
) -> None:
    """The second change of an employee waits until the first one was delivered, retries included."""
    from employes_sync.store import timeline as timeline_store

    run_id = await _run_with_webhooks(store_pool)
    event = {"employee_id": "e1", "event_type": "hours_change", "event_title": "t", "event_description": None,
             "event_data": {"hours": 32}}  # fmt: skip
    await timeline_store.write_events(store_pool, SCOPE, ["e1"], [{**event, "event_date": "2024-01-01",
                                      "event_key": "k1"}], run_id=run_id)  # fmt: skip
    await timeline_store.write_events(store_pool, SCOPE, ["e1"], [{**event, "event_date": "2024-02-01",
                                      "event_key": "k2"}], run_id=run_id)  # fmt: skip
    first, second = [e for e in await outbox.events(store_pool, SCOPE) if e["employee_id"] == "e1"]
    assert first["body"]["data"]["added"] == [{"key": "k1", "type": "hours_change", "date": "2024-01-01"}]
    assert second["body"]["data"]["removed"][0]["key"] == "k1"
    assert "32" not in json.dumps(first["body"]["data"]), "thin by default: no amounts"

    answers = iter([500, 500])
    webhook_receiver.answer = lambda item: next(answers, 200)
    settings = DeliverySettings(backoff_base_seconds=0.05, backoff_max_seconds=0.1)
    deliverer = Deliverer(store_pool, settings)
    deliverer.set_receivers(SCOPE, [Receiver(SCOPE, "hook", webhook_receiver.url, webhook_receiver.secret)])
    try:
        left = await deliverer.drain(30)
    finally:
        await deliverer.close()
    assert left["pending"] == 0 and left["failed"] == 2
    ids = [r.webhook_id for r in webhook_receiver.snapshot()]
    assert all(r.verified for r in webhook_receiver.snapshot())
    # the first event was tried three times before the second was ever sent
    assert ids[:3] == [first["id"]] * 3 and ids[3] == second["id"]


async def test_include_details_adds_titles_and_amounts(store_pool: AsyncConnectionPool) -> None:
    from employes_sync.store import timeline as timeline_store

    run_id = await _run_with_webhooks(store_pool, include_details=True, events=["timeline.changed"])
    event = {
        "employee_id": "e1",
        "event_type": "salary_increase",
        "event_title": "Raise",
        "event_date": "2024-01-01",
        "event_description": "to 3000",
        "event_data": {"month_wage": 3000},
        "event_key": "k",
    }
    await timeline_store.write_events(store_pool, SCOPE, ["e1"], [event], run_id=run_id)
    (row,) = await outbox.events(store_pool, SCOPE)
    (added,) = row["body"]["data"]["added"]
    assert added == {"key": "k", "type": "salary_increase", "date": "2024-01-01", "title": "Raise",
                     "description": "to 3000", "data": {"month_wage": 3000}}  # fmt: skip


async def test_run_webhooks_carry_the_counts_of_run_finished_and_the_runs_error(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """run.* bodies had no `batches` (the doc says they carry run.finished's counts), neither they nor
    the notification had `events_removed`, and a run.failed did not say why (migration 0019)."""
    from tests.test_notify import Listener

    run_id = await _run_with_webhooks(store_pool)
    summary = {"employees_processed": 40, "events_created": 0, "events_updated": 0, "events_removed": 3,
               "employees_removed": 1, "batches": {"total": 2, "completed": 1, "failed": 1}}  # fmt: skip
    async with Listener(database_url) as listener:
        await runs_store.finish_run(store_pool, run_id, "degraded", summary, "1 of 2 batches failed")
        await listener.wait_for("run.finished")
    (note,) = [p for p in listener.payloads if p["type"] == "run.finished"]
    assert note["events_removed"] == 3 and note["batches"] == 2 and note["batches_failed"] == 1
    assert "error" not in note, "the notification carries ids and counts only"
    bodies = {e["event_type"]: e["body"] for e in await outbox.events(store_pool, SCOPE)}
    assert set(bodies) == {"run.finished", "run.failed"}
    for body in bodies.values():
        counts = {k: v for k, v in body["data"].items() if k in note and k not in ("at", "type")}
        assert counts == {k: v for k, v in note.items() if k not in ("at", "type")}
        assert body["data"]["mode"] == "interactive" and body["data"]["error"] == "1 of 2 batches failed"


def sync_command(
    sim: Simulator, database_url: str, receiver: WebhookReceiver, secret_file: Path
) -> list[str]:
    return [sys.executable, "-m", "employes_sync", "sync", "--api-url", str(sim.url), "--company-id",
            sim.config.company_id, "--database-url", database_url, "--requests-per-second", "500",
            "--webhook-url", receiver.url, "--webhook-secret-file", str(secret_file),
            "--webhook-allow-insecure", "--backoff-seconds", "0.2"]  # fmt: skip


def sync_env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "EMPLOYES_API_TOKEN": sim.config.token, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}


@pytest.mark.slow
def test_sync_delivers_signed_thin_events_to_a_receiver(
    make_simulator: Any, database_url: str, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    sim: Simulator = make_simulator(employees=30, requests_per_second=1000.0)
    secret_file = tmp_path / "secret"
    secret_file.write_text(webhook_receiver.secret + "\n")
    command = sync_command(sim, database_url, webhook_receiver, secret_file)
    done = subprocess.run(command, env=sync_env(sim, tmp_path), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "webhook events:         31 delivered" in done.stdout
    received = webhook_receiver.snapshot()
    assert received and all(r.verified for r in received)
    events = [r.event for r in received]
    assert sorted(e["type"] for e in events) == ["run.finished"] + ["timeline.changed"] * 30
    changed = {e["data"]["employee_id"] for e in events if e["type"] == "timeline.changed"}
    assert changed == set(sim.employee_ids)
    for e in events:
        assert {"scope", "company_id", "run_id"} <= e["data"].keys() and e["timestamp"]
        for item in e["data"].get("added", []):
            assert set(item) == {"key", "type", "date"}
    # the URL (it carries a token) and the secret are nowhere: output, outbox rows
    with psycopg.connect(database_url) as conn:
        rows = json.dumps([list(r) for r in conn.execute("SELECT * FROM notification_outbox")], default=str)
        settings = json.dumps([r[0] for r in conn.execute("SELECT settings FROM sync_runs")])
    for text in (done.stdout, done.stderr, rows, settings):
        assert webhook_receiver.secret not in text and "receiver-token-123" not in text
    # a URL with a token on the command line is visible in `ps`: said once, and how to avoid it
    [warning] = [line for line in done.stderr.splitlines() if "warning" in line]
    assert "--webhook-url looks like it carries a credential" in warning and f"${WEBHOOK_URL_ENV}" in warning

    # the same receiver from the environment: delivered (only run.finished: nothing changed), no warning
    i = command.index("--webhook-url")
    from_env = subprocess.run(
        command[:i] + command[i + 2 :],
        env={**sync_env(sim, tmp_path), WEBHOOK_URL_ENV: webhook_receiver.url},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert from_env.returncode == 0, from_env.stderr
    assert "webhook events:         1 delivered" in from_env.stdout and "warning" not in from_env.stderr
    assert [r.event["type"] for r in webhook_receiver.snapshot()[len(received) :]] == ["run.finished"]

    # a second run with a secret file that is not a whsec_ secret: one line, exit 2
    secret_file.write_text("nope")
    bad = subprocess.run(command, env=sync_env(sim, tmp_path), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and [ln for ln in bad.stderr.splitlines() if "warning:" not in ln] == [
        "employes-sync: error: webhook cli: the signing secret must start with whsec_"
    ]


async def test_the_outbox_gauges_count_pending_events(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    from employes_sync.metrics import read_database
    from employes_sync.metrics.collector import Snapshot, families
    from employes_sync.store import timeline as timeline_store

    run_id = await _run_with_webhooks(store_pool)
    events = [{"employee_id": e, "event_type": "hours_change", "event_title": "t", "event_date": "2024-01-01",
               "event_description": None, "event_data": {}, "event_key": "k"}
              for e in ("a", "b")]  # fmt: skip
    await timeline_store.write_events(store_pool, SCOPE, ["a", "b"], events, run_id=run_id)
    with psycopg.connect(database_url, autocommit=True) as conn:
        resources = read_database(conn, [SCOPE])
    data = resources[("default", "acme")]
    assert data.outbox_pending == 2 and data.outbox_oldest_pending >= 0
    text = {m.name: m for m in families(Snapshot(resources, True, 1.0))}
    assert text["employes_sync_outbox_pending"].samples[0].value == 2
    assert "employes_sync_outbox_oldest_pending_seconds" in text


async def test_handing_over_the_same_receivers_again_does_not_wake_the_loop(
    store_pool: AsyncConnectionPool,
) -> None:
    """Every idle pass of every resource hands its receivers over; only a change may cost a round."""
    deliverer = Deliverer(store_pool)
    woken = deliverer._wake  # the loop's wake-up
    deliverer.set_receivers(SCOPE, [Receiver(SCOPE, "hook", "https://a.example/h", "s1")])
    assert woken.is_set() and deliverer.targets == [(SCOPE, "hook")]
    woken.clear()
    deliverer.set_receivers(SCOPE, [Receiver(SCOPE, "hook", "https://a.example/h", "s1")])
    assert not woken.is_set()
    deliverer.set_receivers(SCOPE, [Receiver(SCOPE, "hook", "https://a.example/h", "s2")])  # rotated
    assert woken.is_set()
    woken.clear()
    deliverer.set_receivers(SCOPE, [])
    assert woken.is_set() and deliverer.targets == []


async def test_a_receiver_answering_with_an_endless_body_is_not_read_to_its_end(
    store_pool: AsyncConnectionPool,
) -> None:
    """The operator delivers every tenant's webhooks in one process: a receiver's answer is read only up
    to a small limit, then the connection is closed, so no receiver can fill the operator's memory."""
    from aiohttp import web

    from employes_sync.store import timeline as timeline_store

    total = 64 * 1024 * 1024
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        await request.read()
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        chunk = b" " * (1024 * 1024)
        try:
            while sent < total:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass  # the deliverer closed the connection: what it stopped reading is not sent
        return response

    app = web.Application()
    app.router.add_post("/hook", endless)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        run_id = await _run_with_webhooks(store_pool, events=["timeline.changed"])
        event = {"employee_id": "e1", "event_type": "hours_change", "event_title": "t",
                 "event_date": "2024-01-01", "event_description": None, "event_data": {},
                 "event_key": "k"}  # fmt: skip
        await timeline_store.write_events(store_pool, SCOPE, ["e1"], [event], run_id=run_id)
        deliverer = Deliverer(store_pool, DeliverySettings())
        deliverer.set_receivers(
            SCOPE, [Receiver(SCOPE, "hook", f"http://127.0.0.1:{port}/hook", new_secret())]
        )
        try:
            left = await deliverer.drain(30)
        finally:
            await deliverer.close()
    finally:
        await runner.cleanup()
    assert left["pending"] == 0 and deliverer.delivered == 1, left
    # What the kernel's socket buffers took before the client closed, not the 64 MiB offered.
    assert sent < total // 4, f"the deliverer read {sent} bytes of the receiver's answer"


async def test_a_receiver_that_cannot_be_reached_records_no_url_and_holds_up_no_other(
    store_pool: AsyncConnectionPool, webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """One deliverer sends every resource's events of a database. A receiver whose URL fails in the HTTP
    client (refused, malformed, a host no DNS name can be made of) costs only its own attempt: the
    error kept in the outbox and logged is the failure's kind, never its URL (aiohttp's messages quote
    it, token and all), and the other receivers' events still go out in the same round."""
    import logging
    import socket

    from employes_sync.store import timeline as timeline_store

    with socket.socket() as closed:  # a port nothing listens on once this socket is gone
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    token = "hook-token-5d1e"
    urls = {
        "refused": f"http://127.0.0.1:{port}/hooks?token={token}",
        "malformed": f"http://a\\b/hooks?token={token}",
        "no-dns-name": f"http://a..b/hooks?token={token}",  # an empty label: IDNA encoding fails
        "ok": webhook_receiver.url,
    }
    settings = {"webhooks": [subscription(name, events=["timeline.changed"]) for name in urls]}
    run_id = await runs_store.start_run(store_pool, SCOPE, "c0", "test", "interactive", settings)
    event = {"employee_id": "e1", "event_type": "hours_change", "event_title": "t",
             "event_date": "2024-01-01", "event_description": None, "event_data": {},
             "event_key": "k"}  # fmt: skip
    await timeline_store.write_events(store_pool, SCOPE, ["e1"], [event], run_id=run_id)
    deliverer = Deliverer(store_pool, DeliverySettings(timeout_seconds=5))
    deliverer.set_receivers(SCOPE, [
        Receiver(SCOPE, name, url, webhook_receiver.secret if name == "ok" else new_secret())
        for name, url in urls.items()
    ])  # fmt: skip
    secrets = [token, "receiver-token-123", *urls.values()]
    with caplog.at_level(logging.DEBUG):
        try:
            assert await deliverer.deliver_due() == len(urls)
        finally:
            await deliverer.close()
    assert deliverer.delivered == 1 and deliverer.failed == len(urls) - 1
    assert [r.status for r in webhook_receiver.snapshot()] == [200]
    errors = {row["webhook"]: row["last_error"] for row in await outbox.events(store_pool, SCOPE)}
    assert errors["ok"] is None and all(errors[name] for name in urls if name != "ok"), errors
    shown = json.dumps(errors) + caplog.text
    assert not [secret for secret in secrets if secret in shown], shown


@pytest.mark.parametrize(
    ("url", "credential"),
    [
        ("https://hooks.example/esync", False),
        ("http://127.0.0.1:8080/", False),
        ("https://hooks.example/esync?token=abc", True),
        ("https://bot:pw@hooks.example/esync", True),
        ("https://hooks.example/services/T0123/B0456/aBcDeFgHiJkLmNoPq", True),
    ],
)
def test_a_receiver_url_holding_a_credential_is_told_apart(url: str, credential: bool) -> None:
    assert carries_credential(url) is credential


async def test_a_receiver_behind_a_company_ca_is_trusted_through_the_extra_ca(
    store_pool: AsyncConnectionPool,
    company_ca: CompanyCA,
    fresh_ssl_context: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An internal receiver whose certificate the company's CA signed: refused as untrusted (said so,
    not as a network failure) until the CA is given the way the API client takes it, then delivered."""
    got: list[str] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        got.append(request.headers["webhook-id"])
        return aiohttp.web.Response(status=204)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    run_id = await _open_run(store_pool, SCOPE)
    await _change(store_pool, SCOPE, run_id, ["e1"])
    async with served(app, company_ca.server_context()) as port:
        receiver = Receiver(SCOPE, "hook", f"https://127.0.0.1:{port}/hook", new_secret())
        settings = DeliverySettings(backoff_base_seconds=0.01, backoff_max_seconds=0.01)
        untrusted = Deliverer(store_pool, settings)
        untrusted.set_receivers(SCOPE, [receiver])
        try:
            assert await untrusted.deliver_due() == 1
        finally:
            await untrusted.close()
        [row] = await outbox.events(store_pool, SCOPE)
        assert (row["status"], row["last_error"]) == (
            "pending",
            "TLS certificate not trusted (CertificateError)",
        )
        assert got == []
        forget_tls()
        monkeypatch.setenv(EXTRA_CA_FILE_ENV, str(company_ca.ca_pem))
        trusted = Deliverer(store_pool, settings)
        trusted.set_receivers(SCOPE, [receiver])
        try:
            left = await trusted.drain(30)
        finally:
            await trusted.close()
    assert left["pending"] == 0 and got == [row["id"]]


async def test_a_delivery_loop_that_ends_by_a_bug_is_restarted_with_every_receiver(
    store_pool: AsyncConnectionPool,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One loop serves every resource on a database. A bug that ends it (as retry_delay's overflow
    did) must not stop delivery for good: the next resource to hand over its receivers gets a new loop,
    which also serves the receivers of the resources that have not passed yet, and the end is logged."""
    from employes_sync.controller.webhooks import DeliveryLoops

    a, b = WebhookReceiver(), WebhookReceiver()
    loops = DeliveryLoops(DeliverySettings(idle_seconds=0.2))
    original = Deliverer._pass
    broken = True

    async def pass_once_broken(self: Deliverer) -> int:
        if broken:
            raise RuntimeError("a bug")
        return await original(self)

    monkeypatch.setattr(Deliverer, "_pass", pass_once_broken)
    try:
        loops.configure(database_url, store_pool, TENANT_A, [Receiver(TENANT_A, "hook", a.url, a.secret)])
        loops.configure(database_url, store_pool, TENANT_B, [Receiver(TENANT_B, "hook", b.url, b.secret)])
        [(first, task)] = loops._loops.values()
        await asyncio.wait([task], timeout=30)
        assert task.done() and isinstance(task.exception(), RuntimeError)
        broken = False
        with caplog.at_level("WARNING", logger="employes_sync.controller.webhooks"):
            loops.configure(database_url, store_pool, TENANT_A, [Receiver(TENANT_A, "hook", a.url, a.secret)])
        [(second, running)] = loops._loops.values()
        assert second is not first and not running.done()
        assert second.targets == [(TENANT_A, "hook"), (TENANT_B, "hook")]
        assert [r.getMessage() for r in caplog.records] == [
            "webhook delivery of a database stopped (RuntimeError); restarting it"
        ]
        b_run = await _open_run(store_pool, TENANT_B)
        await _change(store_pool, TENANT_B, b_run, ["b1"])  # B's reconciler has not passed again
        await _until(lambda: len(b.accepted()) == 1, 30, "B's event through the new loop")
    finally:
        await loops.close()
        a.close()
        b.close()
    assert first._session is None or first._session.closed


# --- one database, many resources: a receiver that stalls or fails holds up no other -------------------

TENANT_A, TENANT_B = "tenant-a/esync", "tenant-b/esync"


async def _open_run(pool: AsyncConnectionPool, scope: str) -> int:
    settings = {"webhooks": [subscription("hook", events=["timeline.changed"])]}
    return await runs_store.start_run(pool, scope, "c0", "test", "interactive", settings)


async def _change(
    pool: AsyncConnectionPool, scope: str, run_id: int, employees: list[str], *, key: str = "k"
) -> None:
    """One timeline write for these employees: a timeline.changed event each, in the write's transaction."""
    from employes_sync.store import timeline as timeline_store

    events = [{"employee_id": e, "event_type": "hours_change", "event_title": "t", "event_date": "2024-01-01",
               "event_description": None, "event_data": {}, "event_key": key}
              for e in employees]  # fmt: skip
    await timeline_store.write_events(pool, scope, employees, events, run_id=run_id)


async def _until(predicate: Any, timeout: float, what: str) -> None:
    """Wait for a condition (looked at every 20 ms); ``timeout`` is only a backstop against a hang."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # noqa: ASYNC110 - the receivers answer on their own threads' loops
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def _stop(deliverer: Deliverer, loop: asyncio.Task[None]) -> None:
    """Stop the loop as the operator does: the requests in flight end and are recorded (cancelled after
    a backstop), then close its session."""
    deliverer.stop()
    await asyncio.wait([loop], timeout=60)
    await cancel_and_wait(loop)
    await deliverer.close()


@pytest.mark.fault(*rows.A_STALLED_RECEIVER_HOLDS_UP_NO_OTHER_RESOURCES_EVENTS)
@pytest.mark.parametrize("stall", ["hang", "trickle"])
async def test_a_stalled_receiver_holds_up_no_other_resources_events(
    store_pool: AsyncConnectionPool, database_url: str, stall: Literal["hang", "trickle"]
) -> None:
    """One deliverer sends the events of every resource on a database. Tenant A's receiver takes each
    request and then answers nothing (or answers 200 and trickles its body) until the deliverer's
    timeout; A has more events pending than a claim holds and than there are slots. Tenant B's healthy
    receiver gets all of its events (ten older than the stall, ten written while A's requests hang)
    before the first of A's requests has reached its timeout: the bound is an ordering of what the
    two receivers saw, not a duration. Once A answers again, all of A's events arrive too."""
    slow, healthy = WebhookReceiver(), WebhookReceiver()
    slow.stall = stall
    settings = DeliverySettings(timeout_seconds=5.0, backoff_base_seconds=0.05, backoff_max_seconds=0.2)
    deliverer = Deliverer(store_pool, settings, dsn=database_url)
    deliverer.set_receivers(TENANT_A, [Receiver(TENANT_A, "hook", slow.url, slow.secret)])
    deliverer.set_receivers(TENANT_B, [Receiver(TENANT_B, "hook", healthy.url, healthy.secret)])
    a_run, b_run = await _open_run(store_pool, TENANT_A), await _open_run(store_pool, TENANT_B)
    a_employees = [f"a{i:03}" for i in range(120)]  # more than a claim (100) and than the slots (16)
    await _change(store_pool, TENANT_A, a_run, a_employees)
    await _change(store_pool, TENANT_B, b_run, [f"b{i:02}" for i in range(10)])
    loop = asyncio.create_task(deliverer.run())
    try:
        await _until(lambda: slow.snapshot(), 30, "A's first stalled request")
        await _change(store_pool, TENANT_B, b_run, [f"b{i:02}" for i in range(10, 20)])
        await _until(lambda: len(healthy.accepted()) == 20 or slow.abandoned, 60,
                     "B's events, or A's first timeout")  # fmt: skip
        b_done = [item.arrived_at for item in healthy.accepted().values()]
        assert len(b_done) == 20, f"B got {len(b_done)} of 20 events before A's first request timed out"
        assert not slow.abandoned or max(b_done) < min(slow.abandoned)
        # and A's stall holds only its own slots: no more of its requests out than one receiver may have
        assert len(slow.snapshot()) == settings.per_receiver
        assert all(item.verified for item in healthy.snapshot())

        slow.stall = None  # A answers again: its events (the stalled ones retried) all arrive
        await _until(lambda: deliverer.delivered == 140, 120, "A's events delivered")
    finally:
        await _stop(deliverer, loop)
        slow.close()
        healthy.close()
    assert await outbox.counts(store_pool, TENANT_A) == {"pending": 0, "delivered": 120, "dead": 0}
    assert await outbox.counts(store_pool, TENANT_B) == {"pending": 0, "delivered": 20, "dead": 0}


@pytest.mark.fault(*rows.FIVE_STALLED_RECEIVERS_HOLD_ONE_SLOT_EACH_ONCE_THEIR_REQUESTS_TIME_OUT)
async def test_five_stalled_receivers_hold_one_slot_each_once_their_requests_time_out(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """Five resources' receivers on one database take each request and answer nothing, each with a
    backlog: at four requests each they take all 16 slots at once. Once a stalled receiver's first four
    have timed out it is sent one probe at a time, so a sixth, healthy receiver's events (written while
    every slot is taken) all arrive before any stalled receiver's second probe has timed out, and no
    stalled receiver has more than one request out once its probes have begun (the deliverer's own
    count, sampled)."""
    stalled = [WebhookReceiver() for _ in range(5)]
    healthy = WebhookReceiver()
    settings = DeliverySettings(timeout_seconds=1.0, backoff_base_seconds=0.05, backoff_max_seconds=0.2)
    deliverer = Deliverer(store_pool, settings, dsn=database_url)
    scopes = [f"tenant-{i}/esync" for i in range(5)]
    for scope, receiver in zip(scopes, stalled, strict=True):
        receiver.stall = "hang"
        deliverer.set_receivers(scope, [Receiver(scope, "hook", receiver.url, receiver.secret)])
        await _change(store_pool, scope, await _open_run(store_pool, scope), [f"e{i:02}" for i in range(30)])
    deliverer.set_receivers(TENANT_B, [Receiver(TENANT_B, "hook", healthy.url, healthy.secret)])
    b_run = await _open_run(store_pool, TENANT_B)
    first: list[int] = []  # per stalled receiver: the requests of its first claim
    most: dict[str, int] = {}  # per stalled scope: its most requests out once its probes had begun

    async def sample() -> None:
        # From a receiver's second abandoned request after its first claim's: one claimed as the
        # slots of the others' first timeouts came free, before its own timed out (up to four then),
        # has ended by then, and so has a probe, which is only sent with nothing else out.
        while True:
            for scope, receiver, burst in zip(scopes, stalled, first, strict=False):
                if len(receiver.abandoned) >= burst + 2:
                    most[scope] = max(most.get(scope, 0), deliverer.in_flight((scope, "hook")))
            await asyncio.sleep(0.005)

    loop = asyncio.create_task(deliverer.run())
    sampler = asyncio.create_task(sample())
    try:
        await _until(lambda: sum(len(r.snapshot()) for r in stalled) >= 16, 30, "every slot stalled")
        first[:] = [len(r.snapshot()) for r in stalled]
        assert sum(first) == 16 and max(first) <= 4, first  # in turns, four each at most: every slot theirs
        await _change(store_pool, TENANT_B, b_run, [f"b{i:02}" for i in range(20)])
        await _until(lambda: len(healthy.accepted()) == 20 or any(len(r.abandoned) >= 6 for r in stalled),
                     60, "the healthy one's events, or a stalled one's second probe's timeout")  # fmt: skip
        assert len(healthy.accepted()) == 20, [len(r.abandoned) for r in stalled]
        await _until(lambda: all(len(r.abandoned) >= n + 3 for r, n in zip(stalled, first, strict=True)), 60,
                     "the probes of each stalled one")  # fmt: skip
        assert set(most) == set(scopes) and max(most.values()) <= 1, (most, first)
        # and a probe is all each has out: not four again at every timeout
        assert all(len(r.snapshot()) <= len(r.abandoned) + 1 for r in stalled)
    finally:
        await cancel_and_wait(sampler)
        await _stop(deliverer, loop)
        for receiver in [*stalled, healthy]:
            receiver.close()
    assert await outbox.counts(store_pool, TENANT_B) == {"pending": 0, "delivered": 20, "dead": 0}


@pytest.mark.fault(*rows.A_FAILING_RECEIVERS_RETRIES_CROWD_OUT_NO_OTHER_RESOURCES_EVENTS)
async def test_a_failing_receivers_retries_crowd_out_no_other_resources_events(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """Tenant A's receiver answers 500 to everything and A has 250 events pending, each due again almost
    at once after a failure (a short backoff): the oldest due events are always A's. Tenant B's ten
    newer events are all delivered before the deliverer has spent as many attempts on A as A has
    events (a count of requests, not a duration)."""
    failing, healthy = WebhookReceiver(), WebhookReceiver()
    failing.answer = lambda _: 500
    settings = DeliverySettings(backoff_base_seconds=0.01, backoff_max_seconds=0.05)
    deliverer = Deliverer(store_pool, settings, dsn=database_url)
    deliverer.set_receivers(TENANT_A, [Receiver(TENANT_A, "hook", failing.url, failing.secret)])
    deliverer.set_receivers(TENANT_B, [Receiver(TENANT_B, "hook", healthy.url, healthy.secret)])
    a_run, b_run = await _open_run(store_pool, TENANT_A), await _open_run(store_pool, TENANT_B)
    await _change(store_pool, TENANT_A, a_run, [f"a{i:03}" for i in range(250)])
    await _change(store_pool, TENANT_B, b_run, [f"b{i:02}" for i in range(10)])
    loop = asyncio.create_task(deliverer.run())
    try:
        await _until(lambda: len(healthy.accepted()) == 10 or len(failing.snapshot()) >= 250, 120,
                     "B's events, or 250 attempts on A")  # fmt: skip
        b_done = [item.arrived_at for item in healthy.accepted().values()]
        a_seen = [item.arrived_at for item in failing.snapshot()]
        assert len(b_done) == 10, f"B got {len(b_done)} of 10 events while A was sent {len(a_seen)} requests"
        assert len(a_seen) < 250 or max(b_done) < sorted(a_seen)[249]
        assert all(item.verified for item in healthy.snapshot() + failing.snapshot())
    finally:
        await _stop(deliverer, loop)
        failing.close()
        healthy.close()
    assert await outbox.counts(store_pool, TENANT_B) == {"pending": 0, "delivered": 10, "dead": 0}
    assert (await outbox.counts(store_pool, TENANT_A))["pending"] == 250
