"""Issue 16: how fast a consumer hears of a change, and how fast "Sync now" from SQL acts.

- NOTIFY: a timeline write commits; its `timeline.changed` reaches a LISTENing connection. Latency is
  the listener's clock at arrival minus the payload's `at` (clock_timestamp() inside the writing
  transaction, same machine clock), so it spans the commit and the delivery.
- webhook: a timeline write commits its outbox rows; a running deliverer (woken by NOTIFY) signs and
  POSTs them to a local aiohttp receiver that verifies every signature. Latency is arrival minus the
  body's `timestamp` (the writing transaction's now()).
- drain: 10,000 pending events, then one deliverer drains them to the local receiver.
- request_sync: the operator (a subprocess) on kmock's emulator with the simulator at the real
  5 requests/second and 80 ms latency, Jobs run as local processes; from just before
  `SELECT request_sync(...)` to the `run.started` naming that request, and to its `run.first_feedback`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from common import EMULATOR_LOG_LIMIT, REPO, Postgres, Result, Row, fmt, log, migrated_pool, scratch_dir

sys.path.insert(0, str(REPO))

from employes_sync.settings import subscription
from employes_sync.store import runs as runs_store
from employes_sync.store import timeline as timeline_store
from employes_sync.webhooks.delivery import Deliverer, DeliverySettings, Receiver

SCOPE = "default/acme"
#: the first three measures, kept in case the operator part fails (not read by the report)
RESULTS_PARTIAL = Path(tempfile.gettempdir()) / "esync-bench-consumers-partial.json"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _event(employee: str, n: int) -> dict[str, Any]:
    return {"employee_id": employee, "event_type": "hours_change", "event_date": "2024-01-01",
            "event_title": f"t{n}", "event_description": None, "event_data": {},
            "event_key": f"k{n}"}  # fmt: skip


def _parse_at(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def _notify_latencies(url: str, samples: int) -> list[float]:
    arrivals: list[float] = []
    async with migrated_pool(url) as pool:
        run_id = await runs_store.start_run(pool, SCOPE, "c", "bench", "interactive")
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as listener:
            await listener.execute("LISTEN employes_sync")
            for n in range(samples):
                await timeline_store.write_events(pool, SCOPE, ["e"], [_event("e", n)], run_id=run_id)
                async for note in listener.notifies(timeout=10):
                    payload = json.loads(note.payload)
                    if payload["type"] == "timeline.changed":
                        arrivals.append(time.time() - _parse_at(payload["at"]))
                        break
                await asyncio.sleep(0.01)
    return arrivals


class ReceiverProcess:
    """bench/receiver_process.py as a child process: its own interpreter, so its work does not slow ours."""

    def __init__(self) -> None:
        import base64
        import os
        import subprocess

        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        script = Path(__file__).resolve().parent / "receiver_process.py"
        self.process = subprocess.Popen(
            [sys.executable, str(script), self.secret], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            return dict(json.loads(response.read()))

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


async def _webhook(url: str, samples: int, drain_events: int) -> tuple[list[float], float, int]:
    receiver = ReceiverProcess()
    try:
        async with migrated_pool(url, max_size=8) as pool:
            run_id = await runs_store.start_run(
                pool, SCOPE, "c", "bench", "interactive", {"webhooks": [subscription("hook")]}
            )
            deliverer = Deliverer(pool, DeliverySettings(), dsn=url)
            deliverer.set_receivers(SCOPE, [Receiver(SCOPE, "hook", f"{receiver.url}/hook", receiver.secret)])
            task = asyncio.create_task(deliverer.run())
            for n in range(samples):
                await timeline_store.write_events(pool, SCOPE, [f"w{n}"], [_event(f"w{n}", n)], run_id=run_id)
                while deliverer.delivered <= n:  # noqa: ASYNC110  (one event at a time, so each is timed alone)
                    await asyncio.sleep(0.002)
            latencies = list(receiver.stats()["latencies"])
            deliverer.stop()
            await task
            # drain: events written with no deliverer running, then one deliverer empties the outbox
            for start in range(0, drain_events, 500):
                ids = [f"d{i}" for i in range(start, min(drain_events, start + 500))]
                await timeline_store.write_events(
                    pool, SCOPE, ids, [_event(i, 0) for i in ids], run_id=run_id
                )
            before = receiver.stats()["verified"]
            started = time.monotonic()
            left = await deliverer.drain(900)
            seconds = time.monotonic() - started
            await deliverer.close()
            stats = receiver.stats()
            delivered = int(stats["verified"]) - int(before)
            assert left["pending"] == 0 and stats["bad"] == 0
            return latencies, seconds, delivered
    finally:
        receiver.close()


def _operator_request_sync(pg: Postgres, samples: int) -> tuple[list[float], list[float]]:
    from tests.fixtures.kube import BIN, Cluster, JobRunner, OperatorProcess, load_crd, wait_for

    from employes_sync.employes.simulator import SimulatorConfig, serve_in_thread

    work = scratch_dir("esync-bench-op-")
    url = pg.create_database("op")
    # kmock scans its whole request log for every request it serves unless bounded (EMULATOR_LOG_LIMIT,
    # as in the other benchmarks): unbounded, the emulator's CPU in this process grew with every request
    cluster = Cluster(work, request_log_limit=EMULATOR_LOG_LIMIT).start()
    runner = JobRunner(cluster, work / "jobs").start()
    op: OperatorProcess | None = None
    started_s: list[float] = []
    feedback_s: list[float] = []
    try:
        with serve_in_thread(SimulatorConfig(employees=78, requests_per_second=5.0, latency_ms=80)) as sim:
            cluster.apply(load_crd())
            wait_for(lambda: cluster.request("GET", "/apis/employessync.io/v1alpha1")[0] == 200, 5)
            cluster.apply({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": "esync", "namespace": "default",
                                        "labels": {"employessync.io/secret": "true"}},
                           "stringData": {"token": sim.config.token, "dsn": url}})  # fmt: skip
            cluster.apply({"apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
                           "metadata": {"name": "acme", "namespace": "default"},
                           "spec": {"api": {"baseUrl": sim.url, "companyId": sim.config.company_id,
                                            "tokenSecretRef": {"name": "esync", "key": "token"}},
                                    "database": {"dsnSecretRef": {"name": "esync", "key": "dsn"}},
                                    "batches": {"size": 25, "parallelism": 2}}})  # fmt: skip
            op = OperatorProcess(cluster, work / "operator",
                                 [str(BIN / "employes-sync"), "operator", "-n", "default",
                                  "--metrics-port", "0", "--health-port", "0",
                                  "--worker-image", "employes-sync:bench", "--poll-seconds", "0.2",
                                  f"--allow-api-url={sim.url}"]).start()  # fmt: skip

            def last_finished() -> int:
                with psycopg.connect(url) as conn:
                    try:
                        row = conn.execute(
                            "SELECT max(id) FROM sync_runs WHERE status <> 'running'"
                        ).fetchone()
                    except psycopg.errors.UndefinedTable:
                        return 0
                return int(row[0]) if row and row[0] else 0

            def idle() -> bool:
                with psycopg.connect(url) as conn:
                    try:
                        row = conn.execute(
                            "SELECT count(*) FROM sync_runs WHERE status = 'running'"
                        ).fetchone()
                    except psycopg.errors.UndefinedTable:
                        return False
                return bool(row and row[0] == 0 and last_finished())

            wait_for(idle, 300, 0.5, "the first run to finish")
            for _ in range(samples):
                time.sleep(2)  # the simulator's token bucket refills
                with psycopg.connect(url, autocommit=True) as listener:
                    listener.execute("LISTEN employes_sync")
                    t0 = time.time()
                    with psycopg.connect(url, autocommit=True) as app:
                        row = app.execute("SELECT request_sync('default/acme', 'interactive')").fetchone()
                    assert row is not None
                    request_id, run_id = int(row[0]), None
                    for note in listener.notifies(timeout=30):
                        payload = json.loads(note.payload)
                        if payload["type"] == "run.started" and request_id in payload.get("request_ids", []):
                            started_s.append(time.time() - t0)
                            run_id = payload["run_id"]
                        elif payload["type"] == "run.first_feedback" and payload["run_id"] == run_id:
                            feedback_s.append(time.time() - t0)
                            break
                wait_for(idle, 300, 0.5, "the run to finish")
    finally:
        if op is not None:
            op.terminate(20)
        runner.stop()
        cluster.stop()
        pg.drop_database(url)
    return started_s, feedback_s


def run(pg: Postgres, samples: int = 200, drain_events: int = 10_000, sql_runs: int = 5) -> Result:
    import os

    result = Result("consumers")
    load_before = os.getloadavg()[0]
    with pg.database("notify") as url:
        log(f"NOTIFY latency, {samples} timeline writes")
        notify = asyncio.run(_notify_latencies(url, samples))
    with pg.database("hooks") as url:
        log(f"webhook latency ({samples} events) and a drain of {drain_events} events")
        hooks, drain_seconds, drained = asyncio.run(_webhook(url, samples, drain_events))
    (RESULTS_PARTIAL).write_text(json.dumps({"notify": notify, "hooks": hooks, "drain_seconds": drain_seconds,
                                               "drained": drained}))  # fmt: skip
    log(f"request_sync against the operator on the emulator, {sql_runs} runs at 5 requests/second")
    started, feedback = _operator_request_sync(pg, sql_runs)
    load_after = os.getloadavg()[0]
    rate = drained / drain_seconds if drain_seconds else 0.0
    ms = 1000.0
    result.rows = [
        Row("16. notifications", "commit to listener, NOTIFY (p95)", fmt(p95(notify) * ms, "ms", 1),
            "", f"median {fmt(statistics.median(notify) * ms, 'ms', 1)}", "p95 <= 100 ms",
            "yes" if p95(notify) <= 0.1 else "no", f"{len(notify)} writes"),
        Row("16. notifications", "event to a healthy receiver, webhook (p95)", fmt(p95(hooks) * ms, "ms", 1),
            "", f"median {fmt(statistics.median(hooks) * ms, 'ms', 1)}", "p95 <= 1 s",
            "yes" if p95(hooks) <= 1.0 else "no", f"{len(hooks)} events"),
        Row("16. notifications", f"{drained:,} pending events drained to a local receiver",
            fmt(rate, "/s", 0), "", f"{fmt(drain_seconds, 's', 1)} in all", ">= 200 deliveries/s",
            "yes" if rate >= 200 else "no",
            "1 drain", "signed, verified by the receiver, 4 in flight to the one receiver"),
        Row("16. notifications", "request_sync to run started, operator on the emulator (p95)",
            fmt(p95(started), "s"), "", f"median {fmt(statistics.median(started), 's')}", "p95 <= 1 s",
            "yes" if p95(started) <= 1.0 else "no", f"{len(started)} requests"),
        Row("16. notifications", "first feedback seen by a listener after request_sync (max)",
            fmt(max(feedback), "s"), "", f"median {fmt(statistics.median(feedback), 's')}",
            "<= 1.5 s at 5 requests/second", "yes" if max(feedback) <= 1.5 else "no",
            f"{len(feedback)} requests", "78 employees, simulator at 5 requests/second and 80 ms"),
    ]  # fmt: skip
    result.raw = {"load_average": [load_before, load_after],
                  "notify_seconds": notify, "webhook_seconds": hooks, "drain_seconds": drain_seconds,
                  "drained": drained, "request_to_started_seconds": started,
                  "request_to_first_feedback_seconds": feedback}  # fmt: skip
    result.notes = [
        f"Machine load average (1 min) {load_before:.1f} at the start and {load_after:.1f} at the end, on 2"
        " cores shared with other work: wall times include waiting for a core.",
        "No reference column: the original design had no notifications, no webhooks and no SQL trigger.",
        "NOTIFY and webhook latencies are measured from inside the writing transaction (its clock_timestamp()"
        " or now()) to arrival, on one machine's clock.",
        "request_sync: the operator is a subprocess on kmock's emulator; the run starts on the NOTIFY, not on"
        " the 30 s idle poll.",
    ]
    return result
