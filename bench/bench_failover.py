"""8. Failover: two operator replicas with kopf peering; the active one is SIGKILLed while Jobs run.

Both replicas are `employes-sync operator --peering` processes with the chart's keep-alive lifetime
(15 s), against the tests' Kubernetes emulator with kopf's peering CRDs and one KopfPeering. One
resource of `--failover-employees` employees (inline 5, batches of 10, parallelism 2) syncs against the
simulator at the real limit (5 requests/second, 80 ms). Once the active replica has created a few Jobs
it is killed with SIGKILL (no goodbye: its keep-alive has to run out). Measured per run:

- resumed: from the kill to the standby's "Resuming operations" (kopf's own log line);
- working: from the kill to the first Job the standby creates (the run is moving again);
- the run's end: same run id, succeeded, every employee timelined; Jobs created twice for one batch
  attempt (must be 0) and batches not completed (lost: must be 0).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections import Counter
from typing import Any

import yaml

from common import (
    EMULATOR_LOG_LIMIT,
    REPO,
    TOKEN,
    Postgres,
    Result,
    Row,
    log,
    operator_argv,
    scratch_dir,
    simulator,
)

NS = "default"
PEERING = "esync"
LIFETIME = 15  # the chart's default (values.yaml: peering.lifetimeSeconds)
TARGET_SECONDS = 30.0


def one_run(pg: Postgres, employees: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.fixtures.kube import ESYNC, Cluster, JobRunner, OperatorProcess, load_crd, wait_for

    work = scratch_dir("esync-bench-failover-")
    with simulator(employees) as sim, pg.database("fo") as url, contextlib.ExitStack() as stack:
        cluster = Cluster(work, request_log_limit=EMULATOR_LOG_LIMIT).start()
        stack.callback(cluster.stop)
        cluster.apply(load_crd())
        for crd in yaml.safe_load_all((REPO / "crds" / "kopfpeering.yaml").read_text()):
            cluster.apply(crd)
        wait_for(lambda: cluster.request("GET", "/apis/kopf.dev/v1")[0] == 200, 10, what="kopf.dev")
        cluster.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                       "metadata": {"name": PEERING, "namespace": NS}})  # fmt: skip
        runner = JobRunner(cluster, work / "jobs").start()
        stack.callback(runner.stop)
        cluster.apply({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "esync", "namespace": NS,
                                    "labels": {"employessync.io/secret": "true"}},
                       "stringData": {"token": TOKEN, "dsn": url}})  # fmt: skip

        def replica(name: str) -> OperatorProcess:
            argv = operator_argv(sim.url or "", "--peering", PEERING, "--peering-lifetime", str(LIFETIME))
            proc = OperatorProcess(cluster, work / name, argv, {"POD_NAME": name}).start()
            stack.callback(proc.terminate)
            return proc

        active = replica("replica-a")
        wait_for(lambda: "Resuming operations" in active.logs(), 60, what="the first replica active")
        standby = replica("replica-b")
        wait_for(lambda: "Activity 'startup' succeeded" in standby.logs(), 60, what="the standby up")
        cluster.apply({"apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
                       "metadata": {"name": "acme", "namespace": NS},
                       "spec": {"api": {"baseUrl": sim.url, "companyId": sim.config.company_id,
                                        "tokenSecretRef": {"name": "esync", "key": "token"}},
                                "database": {"dsnSecretRef": {"name": "esync", "key": "dsn"}},
                                "inline": {"count": 5},
                                "batches": {"size": 10, "parallelism": 2}}})  # fmt: skip
        wait_for(lambda: len(runner.seen) >= 4, 180, what="the active replica's Jobs")
        obj = cluster.get(ESYNC, NS, "acme") or {}
        run_id = ((obj.get("status") or {}).get("currentRun") or {}).get("id")
        assert "Resuming operations" not in standby.logs(), "the standby was working beside the active one"
        before = len(runner.seen)
        active.kill()
        killed = time.monotonic()
        wait_for(lambda: "Resuming operations" in standby.logs(), 120, interval=0.05, what="standby resumes")
        resumed = time.monotonic() - killed
        wait_for(lambda: len(runner.seen) > before, 120, interval=0.05, what="the standby's first Job")
        working = time.monotonic() - killed

        def finished() -> dict[str, Any] | None:
            status = (cluster.get(ESYNC, NS, "acme") or {}).get("status") or {}
            last = status.get("lastRun") or {}
            return last if last.get("id") == run_id and not status.get("currentRun") else None

        last = wait_for(finished, 600, what="the run to finish")
        import psycopg

        with psycopg.connect(url) as conn:
            timelined = conn.execute(
                "SELECT count(DISTINCT employee_id) FROM employes_timeline_v2 WHERE scope = %s",
                (f"{NS}/acme",),
            ).fetchone()
            open_or_failed = conn.execute(
                "SELECT count(*) FROM processing_queue WHERE run_id = %s AND status <> 'completed'", (run_id,)
            ).fetchone()
        duplicates = sum(n - 1 for n in Counter(runner.seen).values() if n > 1)
        return {
            "run_id": run_id,
            "state": last.get("state"),
            "resumed_seconds": resumed,
            "working_seconds": working,
            "jobs": len(runner.seen),
            "duplicate_jobs": duplicates,
            "lost_batches": int(open_or_failed[0]) if open_or_failed else -1,
            "employees": employees,
            "timelined": int(timelined[0]) if timelined else 0,
            "rate_limited": sim.stats.rate_limited,
        }


def run(pg: Postgres, employees: int, runs: int) -> Result:
    result = Result("failover")
    measured = []
    for i in range(runs):
        log(f"failover: run {i + 1} of {runs}")
        m = one_run(pg, employees)
        log(
            f"failover: resumed after {m['resumed_seconds']:.1f} s, "
            f"first Job after {m['working_seconds']:.1f} s"
        )
        measured.append(m)
    result.raw["runs"] = measured
    resumed = statistics.median(m["resumed_seconds"] for m in measured)
    working = statistics.median(m["working_seconds"] for m in measured)
    worst = max(m["working_seconds"] for m in measured)
    ok = all(
        m["state"] == "succeeded" and m["duplicate_jobs"] == 0 and m["lost_batches"] == 0
        and m["timelined"] == m["employees"]
        for m in measured
    )  # fmt: skip
    result.rows.append(
        Row(
            "8. failover (two replicas)",
            f"active SIGKILLed mid-run, {employees} employees via Jobs, keep-alive lifetime {LIFETIME} s",
            f"standby working again after {working:.1f} s (median; worst {worst:.1f} s); kopf resumed after "
            f"{resumed:.1f} s",
            "kopf's default lifetime: 60 s",
            f"{working / TARGET_SECONDS:.2f}x the target",
            f"<= {TARGET_SECONDS:.0f} s; 0 duplicate Jobs, 0 lost batches, every employee timelined",
            "yes" if ok and worst <= TARGET_SECONDS else "no",
            str(len(measured)),
            "per run: "
            + "; ".join(
                f"{m['working_seconds']:.1f} s, {m['jobs']} Jobs, {m['duplicate_jobs']} duplicated, "
                f"{m['lost_batches']} lost, {m['timelined']}/{m['employees']} timelined, {m['state']}"
                for m in measured
            ),
        )
    )
    result.notes.append(
        "failover: the wait is the dead replica's keep-alive running out (up to the lifetime after its last "
        "keep-alive, sent every 5 to 10 s), then one reconcile pass; a clean stop (SIGTERM) hands over at "
        "once"
    )
    return result


if __name__ == "__main__":
    import argparse
    import signal

    from common import postgres_server

    p = argparse.ArgumentParser()
    p.add_argument("--employees", type=int, default=150)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with postgres_server() as pg:
        res = run(pg, args.employees, args.runs)
        res.save()
        for row in res.rows:
            print(row)
