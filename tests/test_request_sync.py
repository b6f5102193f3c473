"""`SELECT request_sync('ns/name', mode)`: "Sync now" from SQL, served by the operator listening."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.store import runs as runs_store
from employes_sync.store import sync_requests
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import SECRETS, esync_path, wait_for
from tests.reliability import rows
from tests.test_notify import Listener
from tests.test_operator_e2e import Env, env  # noqa: F401  (the operator e2e fixture)

SCOPE = "default/acme"


async def test_an_unknown_scopes_hint_names_both_kinds_of_scope(store_pool: AsyncConnectionPool) -> None:
    """The hint named only NAMESPACE/NAME: a local sync's database (local/<companyId>) was told of the
    wrong kind. The replaced function stays SECURITY DEFINER and out of PUBLIC's reach."""
    with pytest.raises(psycopg.errors.NoDataFound) as caught:
        await sync_requests.request_sync(store_pool, "payroll/acme")
    hint = caught.value.diag.message_hint or ""
    assert "NAMESPACE/NAME" in hint and "local/<companyId>" in hint
    async with store_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT prosecdef, has_function_privilege('public', oid, 'EXECUTE') FROM pg_proc"
            " WHERE proname = 'request_sync'"
        )
        assert await cur.fetchall() == [(True, False)]


async def test_request_sync_records_a_request_a_run_then_serves(store_pool: AsyncConnectionPool) -> None:
    with pytest.raises(psycopg.errors.NoDataFound, match="request_sync: unknown scope 'default/nope'"):
        await sync_requests.request_sync(store_pool, "default/nope")
    await sync_requests.register_scope(store_pool, SCOPE)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="mode must be"):
        await sync_requests.request_sync(store_pool, SCOPE, "now")

    assert await runs_store.latest_run_and_requests(store_pool, SCOPE) == (
        None, sync_requests.OpenRequests(0, False, None)
    )  # fmt: skip
    first = await sync_requests.request_sync(store_pool, SCOPE, "background")
    second = await sync_requests.request_sync(store_pool, SCOPE, "interactive")
    asked = await sync_requests.open_requests(store_pool, SCOPE)
    assert (asked.count, asked.interactive) == (2, True)
    assert await runs_store.latest_run_and_requests(store_pool, SCOPE) == (None, asked)  # the pass's one look

    run_id = await runs_store.start_run(store_pool, SCOPE, "c", "sql-requested", "interactive")
    latest, asked = await runs_store.latest_run_and_requests(store_pool, SCOPE)
    assert latest == await runs_store.latest_run(store_pool, SCOPE) and latest is not None
    assert latest["id"] == run_id and asked.count == 0
    for request_id in (first, second):
        row = await sync_requests.get_request(store_pool, request_id)
        assert row is not None and row["run_id"] == run_id and row["served_at"] is not None
    assert (await sync_requests.open_requests(store_pool, SCOPE)).count == 0

    # a request made while that run goes on waits for the follow-up run
    third = await sync_requests.request_sync(store_pool, SCOPE)
    assert (await sync_requests.open_requests(store_pool, SCOPE)).count == 1
    row = await sync_requests.get_request(store_pool, third)
    assert row is not None and row["run_id"] is None


async def test_request_sync_notifies_and_run_started_names_the_request(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    await sync_requests.register_scope(store_pool, SCOPE)
    async with Listener(database_url) as listener:
        request_id = await sync_requests.request_sync(store_pool, SCOPE)
        run_id = await runs_store.start_run(store_pool, SCOPE, "c", "sql-requested", "interactive")
        await listener.wait_for("run.started")
    requested, started = listener.payloads
    assert requested == {**requested, "type": "sync.requested", "scope": SCOPE, "request_id": request_id}
    assert requested["run_id"] is None and requested["mode"] == "interactive"
    assert started["run_id"] == run_id and started["request_ids"] == [request_id]


def test_an_application_role_needs_only_the_documented_grants(database_url: str) -> None:
    """EXECUTE on request_sync, SELECT on the view and the timeline: enough, and nothing more."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        asyncio.run(_migrate(database_url))
        admin.execute("INSERT INTO sync_scopes (scope) VALUES (%s)", (SCOPE,))
        admin.execute("DROP ROLE IF EXISTS esync_app")
        admin.execute("CREATE ROLE esync_app LOGIN")
        admin.execute("GRANT EXECUTE ON FUNCTION request_sync(text, text) TO esync_app")
        admin.execute("GRANT SELECT ON employes_employees, employes_timeline_v2 TO esync_app")
        info = admin.info
        app_url = psycopg.conninfo.make_conninfo(database_url, user="esync_app", password="")
        try:
            with psycopg.connect(app_url, autocommit=True) as app:
                row = app.execute("SELECT request_sync(%s, 'interactive')", (SCOPE,)).fetchone()
                assert row is not None and row[0] > 0
                app.execute("SELECT * FROM employes_employees").fetchall()
                app.execute("SELECT * FROM employes_timeline_v2").fetchall()
                for table in ("sync_requests", "sync_runs", "employes_raw_data"):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        app.execute(f"SELECT 1 FROM {table}")  # noqa: S608  (a constant name)
        finally:
            admin.execute("DROP OWNED BY esync_app")
            admin.execute("DROP ROLE esync_app")
        assert info.dbname


async def _migrate(database_url: str) -> None:
    from tests.fixtures.store import migrated_pool

    async with migrated_pool(database_url):
        pass


@pytest.mark.slow
@pytest.mark.fault(*rows.REQUEST_SYNC_STARTS_THE_OPERATORS_RUN_THROUGH_LISTEN)
def test_request_sync_starts_the_operators_run_through_listen(env: Env) -> None:  # noqa: F811
    """The run starts on the notification, not the next idle poll (30 s): waited for with 15 s."""
    env.secret()
    env.resource()
    env.operator()
    first = env.wait_run_finished(timeout=120)

    def call(mode: str = "interactive") -> tuple[int, float]:
        with psycopg.connect(env.database_url, autocommit=True) as conn:
            row = conn.execute("SELECT request_sync(%s, %s)", (SCOPE, mode)).fetchone()
        assert row is not None
        return int(row[0]), time.monotonic()

    def served(request_id: int) -> Any:
        with psycopg.connect(env.database_url) as conn:
            row = conn.execute("SELECT run_id FROM sync_requests WHERE id = %s", (request_id,)).fetchone()
        return row[0] if row and row[0] is not None else None

    request_id, _ = call()
    run_id = wait_for(lambda: served(request_id), 15, interval=0.05, what="the request to be served")
    assert run_id > first["id"]
    second = env.wait_run_finished(after_run=first["id"], timeout=120)
    assert second["id"] == run_id and second["trigger"] == "sql-requested" and second["state"] == "succeeded"

    # two requests during a run add up to one follow-up run that serves both; the run's listing is
    # held for 5 s (its first page is slow), far longer than two statements take
    env.simulator.faults.slow_next(1, 5.0, endpoint="employees")
    request_id, _ = call()
    during = wait_for(lambda: served(request_id), 15, interval=0.05, what="the third run")
    a, _ = call("background")
    b, _ = call("background")
    assert served(a) is None and served(b) is None
    env.wait_run_finished(after_run=during - 1, timeout=120)
    follow_up = wait_for(lambda: served(a), 15, interval=0.05, what="the follow-up run")
    assert served(b) == follow_up and follow_up > during
    final = env.wait_run_finished(after_run=during, timeout=120)
    assert final["id"] == follow_up and final["mode"] == "background"
    with psycopg.connect(env.database_url) as conn:
        runs = conn.execute("SELECT count(*) FROM sync_runs WHERE scope = %s", (SCOPE,)).fetchone()
    assert runs is not None and runs[0] == 4


@pytest.mark.slow
@pytest.mark.fault(*rows.THE_OPERATOR_DELIVERS_SIGNED_WEBHOOKS_OF_A_RUN)
def test_the_operator_delivers_signed_webhooks_of_a_run(env: Env, webhook_receiver: Any) -> None:  # noqa: F811
    """spec.notifications.webhooks: the operator signs and delivers; a non-https URL needs allowInsecure."""
    env.secret()
    env.cluster.apply({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "hooks", "namespace": "default",
                                    "labels": {"employessync.io/secret": "true"}},
                       "stringData": {"url": webhook_receiver.url,
                                      "signing": webhook_receiver.secret}})  # fmt: skip
    hook = {"name": "app", "urlSecretRef": {"name": "hooks", "key": "url"},
            "signingSecretRef": {"name": "hooks", "key": "signing"}, "allowInsecure": True}  # fmt: skip
    strict = {**hook, "name": "strict", "allowInsecure": False}
    env.resource(notifications__webhooks=[hook, strict])
    env.cluster.forget_reads()
    op = env.operator()
    env.wait_run_finished(timeout=120)
    # Each Secret is read once for all the keys it holds: its label from the metadata, then its data
    # (the token and the DSN share one, the two webhooks' URLs and signing secrets the other).
    assert env.cluster.reads(SECRETS, "default", "esync") == [True, False]
    assert env.cluster.reads(SECRETS, "default", "hooks") == [True, False]
    webhook_receiver.wait_until(lambda got: any(r.event["type"] == "run.finished" for r in got), 60)
    received = webhook_receiver.snapshot()
    assert received and all(r.verified for r in received)
    events = [r.event for r in received]
    assert sorted({e["data"]["employee_id"] for e in events if e["type"] == "timeline.changed"}) == sorted(
        env.simulator.employee_ids
    )
    assert "WebhookInvalid" in {e.get("reason") for e in env.wait_events("WebhookInvalid")}
    text = op.logs() + json.dumps(env.events()) + json.dumps(env.status())
    assert "receiver-token-123" not in text and webhook_receiver.secret not in text
    with psycopg.connect(env.database_url) as conn:
        strict_rows = conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE webhook = 'strict' AND status = 'pending'"
        ).fetchone()
    assert strict_rows is not None and strict_rows[0] > 0, "the refused webhook's events wait in the outbox"
    # A second run reads each Secret once more, in its one fresh read, with one GET each: labelled a
    # moment ago, so the label is checked on that object (an idle pass before it reads no Secret at all).
    first = env.status()["lastRun"]["id"]
    env.cluster.forget_reads()
    env.cluster.patch(esync_path("acme"), {"metadata": {"annotations": {
        "employessync.io/sync-requested-at": "2030-01-01T00:00:00Z"}}})  # fmt: skip
    env.wait_run_finished(after_run=first, timeout=120)
    assert env.cluster.reads(SECRETS, "default", "esync") == [False]
    assert env.cluster.reads(SECRETS, "default", "hooks") == [False]
