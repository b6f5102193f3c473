"""6. Memory: peak RSS of the operator process during a 5,000-employee run, and of one worker process.

`employes-sync operator` runs as a subprocess against the Kubernetes emulator of the tests
(`tests/fixtures/kube.py`: kmock's emulator over HTTP, our CRD, and the Job runner that runs each
Job's command, `employes-sync worker --batch-id ID`, as a local process). One `EmployesSync` of 5,000
employees (batches of 25, parallelism 2, inline 5) is applied and followed until Ready. psutil samples
the RSS of the operator process and of every worker process every 50 ms; the figures are the peaks.

Memory does not depend on the request rate, and at the real 5 requests/second this run would take
about 1,000 s, so by default the simulator's limit (and the resource's requestsPerSecond) is raised
(`--memory-rps`, 100 by default); `--full` runs it at 5/s.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import psutil

from common import REPO, TOKEN, Postgres, Result, Row, log, operator_argv, scratch_dir, simulator
from rss import PeakRss, worker_children

OPERATOR_TARGET_MIB = 150.0
WORKER_TARGET_MIB = 100.0
NS = "default"


def run(pg: Postgres, employees: int, rps: float) -> Result:
    sys.path.insert(0, str(REPO))
    from tests.fixtures.kube import ESYNC, Cluster, JobRunner, OperatorProcess, load_crd, wait_for

    result = Result("memory")
    work = scratch_dir("esync-bench-kube-")
    with simulator(employees, rps=rps) as sim, pg.database("mem") as url, contextlib.ExitStack() as stack:
        cluster = Cluster(work).start()
        stack.callback(cluster.stop)
        cluster.apply(load_crd())
        wait_for(lambda: cluster.request("GET", "/apis/employessync.io/v1alpha1")[0] == 200, 10, what="CRD")
        runner = JobRunner(cluster, work / "jobs").start()
        stack.callback(runner.stop)
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "esync", "namespace": NS, "labels": {"employessync.io/secret": "true"}},
                "stringData": {"token": TOKEN, "dsn": url},
            }
        )
        op = OperatorProcess(
            cluster,
            work / "operator",
            operator_argv(str(sim.url)),
        ).start()
        stack.callback(op.terminate, 20)
        assert op.process is not None
        operator = psutil.Process(op.process.pid)
        started = time.monotonic()
        with PeakRss(lambda: [operator]) as op_rss, PeakRss(worker_children()) as worker_rss:
            cluster.apply(
                {
                    "apiVersion": "employessync.io/v1alpha1",
                    "kind": "EmployesSync",
                    "metadata": {"name": "bench", "namespace": NS},
                    "spec": {
                        "api": {
                            "baseUrl": sim.url,
                            "companyId": sim.config.company_id,
                            "tokenSecretRef": {"name": "esync", "key": "token"},
                            "requestsPerSecond": rps,
                        },
                        "database": {"dsnSecretRef": {"name": "esync", "key": "dsn"}},
                        "inline": {"count": 5},
                        "batches": {"size": 25, "parallelism": 2},
                    },
                }
            )

            def finished() -> dict[str, Any] | None:
                obj = cluster.get(ESYNC, NS, "bench") or {}
                status = obj.get("status") or {}
                last = status.get("lastRun") or {}
                return last if last.get("id") and not status.get("currentRun") else None

            last = wait_for(finished, timeout=max(600.0, employees / rps * 3), interval=1.0, what="the run")
        seconds = time.monotonic() - started
        result.raw = {
            "employees": employees,
            "rps": rps,
            "seconds": seconds,
            "last_run": last,
            "operator_peak_rss_mib": op_rss.max_mib,
            "worker_peak_rss_mib": worker_rss.max_mib,
            "worker_processes": len(worker_rss.peaks),
            "jobs": len(runner.seen),
            "rate_limited": sim.stats.rate_limited,
            "requests": sim.stats.total,
        }
        log(
            f"memory: run {last.get('state')} in {seconds:.0f} s, operator peak {op_rss.max_mib:.1f} MiB, "
            f"worker peak {worker_rss.max_mib or 0:.1f} MiB over {len(worker_rss.peaks)} workers"
        )
    state = last.get("state")
    for who, peak, target, count in (
        ("operator process", op_rss.max_mib, OPERATOR_TARGET_MIB, 1),
        ("one worker process (peak of all)", worker_rss.max_mib, WORKER_TARGET_MIB, len(worker_rss.peaks)),
    ):
        result.rows.append(
            Row(
                benchmark="6. memory (peak RSS)",
                metric=f"{who}, {employees:,} employees via Jobs",
                ours=f"{peak:.1f} MiB" if peak else "n/a",
                reference=f"budget {target:.0f} MB",
                ratio=f"{peak / target:.2f}x budget" if peak else "n/a",
                target=f"< {target:.0f} MB",
                met="yes" if peak and peak * 2**20 < target * 1e6 and state == "succeeded" else "no",
                runs="1",
                note=(
                    f"run {state} in {seconds:.0f} s; API limit raised to {rps:g}/s for this run "
                    f"(memory does not depend on it); {count} processes sampled every 50 ms"
                ),
            )
        )
    result.notes.append(
        f"memory: {len(runner.seen)} Jobs, {sim.stats.total} API requests, {sim.stats.rate_limited} x 429"
    )
    return result
