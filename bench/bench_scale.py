"""7. Scale: 1, 50 and 200 EmployesSync resources created at once on one operator and one database.

Everything real runs as its own process, so that each one's CPU can be read from /proc and the time
can be put where it goes:

- the operator: `employes-sync operator` (a subprocess);
- the API: `employes-sync simulate --companies N` (a subprocess): N companies of 10 employees, each
  with its own token and its own limit of 5 requests/second, 80 ms latency;
- PostgreSQL: the benchmark's embedded server (the postmaster and its backends);
- the Kubernetes API: kmock's emulator, in this benchmark's own process (with the Job runner and the
  benchmark's polling: "emulator" below is this process);
- Job workers (the Jobs variant): `employes-sync worker` processes started by the Job runner, at most
  `--scale-capacity` at once (a cluster's room for pods; they would run on other nodes).

Per size and variant: the resources are created as fast as the API takes them, and the time until
every one is Ready (RunSucceeded) is measured. Then, with all of them idle, the operator's CPU over
`--scale-idle` seconds (more than one idle pass of every reconciler: 30 s), its RSS, and the database
connections it holds (pg_stat_activity, by application_name). At the largest size of the inline
variant, `--scale-triggers` resources are then triggered one after the other (0.5 s apart), and the
time from the annotation to the run's start (sync_runs.started_at) is the trigger latency.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from common import (
    EMULATOR_LOG_LIMIT,
    REPO,
    TOKEN,
    Postgres,
    Result,
    Row,
    fmt,
    log,
    operator_argv,
    scratch_dir,
)
from procstat import cpu, rss_bytes, tree_cpu

NS = "default"
EMPLOYEES = 10
APP_NAME = "esync-bench-operator"
IDLE_PASS_SECONDS = 30.0  # the operator's idle re-check of every resource (OperatorConfig.idle_seconds)
RSS_TARGET_MIB = 200.0
CPU_TARGET_PERCENT = 2.0
TRIGGER_P95_TARGET = 2.0
MiB = 1024 * 1024


@dataclass
class Measured:
    variant: str
    resources: int
    all_ready_seconds: float = math.nan
    create_seconds: float = 0.0
    ready: int = 0
    cpu_sync: dict[str, float] = field(default_factory=dict)
    idle_cpu_percent: float = math.nan
    idle_emulator_percent: float = math.nan
    idle_postgres_percent: float = math.nan
    rss_bytes: int = 0
    connections: int = 0
    pool_max: int = 0
    jobs: int = 0
    trigger_latencies: list[float] = field(default_factory=list)
    emulator_get_ms: float = math.nan  # median time the emulator took to answer a Secret GET, after the runs
    log_limit: int = 0
    requests: int = 0
    rate_limited: int = 0


def _postmaster_pid(url: str) -> int | None:
    host = psycopg.conninfo.conninfo_to_dict(url).get("host")
    if not host or not str(host).startswith("/"):
        return None
    with contextlib.suppress(OSError, ValueError):
        return int((Path(str(host)) / "postmaster.pid").read_text().split()[0])
    return None


@contextlib.contextmanager
def simulate(companies: int, workdir: Path) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    argv = [
        str(Path(sys.executable).parent / "employes-sync"),
        "simulate",
        "--port",
        "0",
        "--companies",
        str(companies),
        "--employees",
        str(EMPLOYEES),
        "--requests-per-second",
        "5",
        "--latency-ms",
        "80",
    ]
    stderr = (workdir / "simulator.log").open("w")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(companies)]
        url = lines[0][0]
        yield process, url, [company for _, company in lines]
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


def _served(workdir: Path) -> tuple[int, int]:
    """(requests, 429s) from the simulator's exit line: 'served N requests: {200: n, 429: m}'."""
    text = (workdir / "simulator.log").read_text()
    for line in reversed(text.splitlines()):
        if line.startswith("served "):
            total = int(line.split()[1])
            limited = 0
            if "429:" in line:
                limited = int(line.split("429:")[1].split(",")[0].split("}")[0])
            return total, limited
    return 0, 0


def _token(index: int) -> str:
    return TOKEN if index == 0 else f"{TOKEN}-{index}"


def measure(
    pg: Postgres, variant: str, n: int, idle: float, triggers: int, capacity: int, log_limit: int
) -> Measured:
    sys.path.insert(0, str(REPO))
    from tests.fixtures.kube import ESYNC, Cluster, JobRunner, OperatorProcess, load_crd, wait_for

    m = Measured(variant, n, log_limit=log_limit)
    work = scratch_dir(f"esync-bench-scale-{variant}-{n}-")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(pg.database("scale"))
        dsn = url + ("&" if "?" in url else "?") + f"application_name={APP_NAME}"
        sim, sim_url, companies = stack.enter_context(simulate(n, work))
        cluster = Cluster(work, request_log_limit=log_limit or None).start()
        stack.callback(cluster.stop)
        cluster.apply(load_crd())
        wait_for(lambda: cluster.request("GET", "/apis/employessync.io/v1alpha1")[0] == 200, 10, what="CRD")
        runner = JobRunner(cluster, work / "jobs", capacity=capacity).start()
        stack.callback(runner.stop)
        for i in range(n):
            cluster.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": f"c{i:03d}",
                        "namespace": NS,
                        "labels": {"employessync.io/secret": "true"},
                    },
                    "stringData": {"token": _token(i), "dsn": dsn},
                }
            )
        op = OperatorProcess(
            cluster,
            work / "operator",
            operator_argv(sim_url),
        ).start()
        stack.callback(op.terminate)
        wait_for(lambda: "Activity 'startup' succeeded" in op.logs(), 60, what="operator started")
        time.sleep(2.0)  # kopf's watches are up
        assert op.process is not None
        pid, postmaster, me = op.process.pid, _postmaster_pid(url), os.getpid()

        def snapshot() -> dict[str, float]:
            return {
                "operator": cpu(pid).own,
                "api simulator": cpu(sim.pid).own,
                "postgres": tree_cpu(postmaster) if postmaster else math.nan,
                "emulator + job runner (this process)": cpu(me).own,
                "job workers": cpu(me).children,
            }

        before, started = snapshot(), time.monotonic()
        for i in range(n):
            inline = {"count": EMPLOYEES} if variant == "inline" else {"count": 0}
            cluster.apply(
                {
                    "apiVersion": "employessync.io/v1alpha1",
                    "kind": "EmployesSync",
                    "metadata": {"name": f"c{i:03d}", "namespace": NS},
                    "spec": {
                        "api": {
                            "baseUrl": sim_url,
                            "companyId": companies[i],
                            "tokenSecretRef": {"name": f"c{i:03d}", "key": "token"},
                        },
                        "database": {"dsnSecretRef": {"name": f"c{i:03d}", "key": "dsn"}},
                        "inline": inline,
                        "batches": {"size": EMPLOYEES, "parallelism": 2, "activeDeadlineSeconds": 1800},
                    },
                }
            )
        m.create_seconds = time.monotonic() - started

        def ready() -> int:
            count = 0
            for obj in cluster.list(ESYNC, NS):
                for c in (obj.get("status") or {}).get("conditions") or []:
                    if c["type"] == "Ready" and c["status"] == "True" and c.get("reason") == "RunSucceeded":
                        count += 1
            m.ready = count
            return count

        def closed_runs(conn: psycopg.Connection[Any]) -> int:
            try:
                row = conn.execute("SELECT count(*) FROM sync_runs WHERE status <> 'running'").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0  # the operator has not migrated the database yet
            return int(row[0]) if row else 0

        # The database is asked until every run is closed, and only then the emulator for the Ready
        # conditions: listing every object at each poll was 38 % of this process's CPU in a trial at 200
        # resources (py-spy), on the same two cores as the operator. One connection for the whole wait:
        # a new one per poll is a backend started (and counted as PostgreSQL's CPU) ten times a second.
        deadline = started + 600
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline and (closed_runs(conn) < n or ready() < n):
                time.sleep(0.1)
        m.all_ready_seconds = time.monotonic() - started if m.ready == n else math.nan
        after = snapshot()
        m.cpu_sync = {k: after[k] - before[k] for k in after}
        m.jobs = len(runner.seen)
        m.emulator_get_ms = _emulator_get_ms(cluster.url)

        # idle: every reconciler waits; count what the operator spends to keep watching
        time.sleep(5.0)
        idle0, t0 = snapshot(), time.monotonic()
        time.sleep(idle)
        idle1, dt = snapshot(), time.monotonic() - t0
        m.idle_cpu_percent = 100 * (idle1["operator"] - idle0["operator"]) / dt
        m.idle_emulator_percent = (
            100
            * (idle1["emulator + job runner (this process)"] - idle0["emulator + job runner (this process)"])
            / dt
        )
        m.idle_postgres_percent = 100 * (idle1["postgres"] - idle0["postgres"]) / dt
        m.rss_bytes = rss_bytes(pid)
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,)
            ).fetchone()
            m.connections = int(row[0]) if row else 0

        if triggers and variant == "inline" and n > 1:
            stamps: dict[int, float] = {}
            for k in range(min(triggers, n)):
                name = f"c{k:03d}"
                stamps[k] = time.time()
                cluster.request(
                    "PATCH",
                    f"/apis/employessync.io/v1alpha1/namespaces/{NS}/employessyncs/{name}",
                    {"metadata": {"annotations": {"employessync.io/sync-requested-at": str(stamps[k])}}},
                )
                time.sleep(0.5)

            def started_runs() -> dict[str, float]:
                with psycopg.connect(url, autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT scope, extract(epoch FROM started_at)::float8"
                        " FROM sync_runs WHERE trigger <> 'created'"
                    ).fetchall()
                return {str(scope): float(t) for scope, t in rows}

            wait_for(lambda: len(started_runs()) >= len(stamps), 60, what="triggered runs to start")
            runs = started_runs()
            m.trigger_latencies = sorted(runs[f"{NS}/c{k:03d}"] - stamps[k] for k in stamps)
            wait_for(lambda: ready() == n, 120, what="triggered runs to end")
        op.terminate()
    m.requests, m.rate_limited = _served(work)
    return m


def _emulator_get_ms(url: str, samples: int = 7) -> float:
    """How long the emulator takes to answer one Secret GET now (median), over plain HTTP."""
    import urllib.request

    times = []
    for _ in range(samples):
        t0 = time.monotonic()
        with urllib.request.urlopen(f"{url}/api/v1/namespaces/{NS}/secrets/c000", timeout=60) as response:
            response.read()
        times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run(
    pg: Postgres,
    sizes: list[int],
    variants: list[str],
    idle: float,
    triggers: int,
    capacity: int,
    log_limit: int = EMULATOR_LOG_LIMIT,
) -> Result:
    result = Result("scale")
    measured: list[Measured] = []
    for variant in variants:
        for n in sizes:
            log(f"scale: {variant}, {n} resources")
            m = measure(pg, variant, n, idle, triggers, capacity, log_limit)
            log(
                f"scale: {variant} {n}: all Ready in {m.all_ready_seconds:.1f} s, idle CPU "
                f"{m.idle_cpu_percent:.2f} %, RSS {m.rss_bytes / MiB:.1f} MiB, {m.connections} connections"
            )
            measured.append(m)
    # keep what an earlier invocation measured for other variants (each variant's sizes run side by side)
    kept = [m for m in _previous() if m.variant not in variants]
    measured = kept + measured
    result.raw["measured"] = [m.__dict__ for m in measured]
    result.raw["variants_kept_from_earlier_run"] = sorted({m.variant for m in kept})
    _rows(result, measured)
    return result


def _previous() -> list[Measured]:
    from common import RESULTS_DIR

    path = RESULTS_DIR / "scale.json"
    if not path.exists():
        return []
    import json

    raw = json.loads(path.read_text()).get("raw", {})
    return [Measured(**m) for m in raw.get("measured", [])]


def _rows(result: Result, measured: list[Measured]) -> None:
    by = {(m.variant, m.resources): m for m in measured}
    for variant in dict.fromkeys(m.variant for m in measured):
        one = by.get((variant, 1))
        label = (
            "inline (10 employees, inline count 10)"
            if variant == "inline"
            else "Jobs (10 employees, 1 Job each)"
        )
        for m in (x for x in measured if x.variant == variant):
            ratio = m.all_ready_seconds / one.all_ready_seconds if one and one.all_ready_seconds else math.nan
            where = ", ".join(f"{k} {v:.1f} s" for k, v in m.cpu_sync.items() if not math.isnan(v))
            # What the operator itself costs, apart from the emulator's wall time: its CPU per resource
            # (against one resource's), and how long after the last object was created all were Ready.
            own = m.cpu_sync.get("operator", math.nan) / m.resources
            own_one = one.cpu_sync.get("operator", math.nan) if one else math.nan
            after_created = m.all_ready_seconds - m.create_seconds
            result.rows.append(
                Row(
                    "7. scale: all Ready",
                    f"{m.resources} resources at once, {label}",
                    f"{m.all_ready_seconds:.1f} s ({m.ready}/{m.resources} Ready)",
                    f"1 resource: {fmt(one.all_ready_seconds if one else None, 's', 1)}",
                    f"{ratio:.2f}x the time for one" if not math.isnan(ratio) else "n/a",
                    "all Ready; <= 3x the time for one",
                    "yes" if m.ready == m.resources and (m.resources == 1 or ratio <= 3.0) else "no",
                    "1",
                    f"created in {m.create_seconds:.1f} s (the emulator), all Ready {after_created:.1f} s "
                    f"after the last was created; operator CPU {own:.2f} s per resource (1 resource: "
                    f"{own_one:.2f} s); CPU while syncing: {where}; "
                    f"{m.requests} API requests, "
                    f"{m.rate_limited} x 429" + (f"; {m.jobs} Jobs" if m.jobs else ""),
                )
            )
    base = "inline" if any(m.variant == "inline" for m in measured) else measured[0].variant
    inline = [m for m in measured if m.variant == base]
    largest = max(inline, key=lambda m: m.resources)
    smallest = min(inline, key=lambda m: m.resources)
    slope = (largest.rss_bytes - smallest.rss_bytes) / max(1, largest.resources - smallest.resources)
    result.rows.append(
        Row(
            "7. scale: operator RSS",
            f"{largest.resources} resources, idle after their runs",
            f"{largest.rss_bytes / MiB:.1f} MiB",
            f"{smallest.resources} resource: {smallest.rss_bytes / MiB:.1f} MiB",
            f"{slope / 1024:.0f} KiB per added resource",
            f"<= {RSS_TARGET_MIB:.0f} MiB",
            "yes" if largest.rss_bytes / MiB <= RSS_TARGET_MIB else "no",
            "1",
            "VmRSS of the operator process from /proc; sizes: "
            + ", ".join(f"{m.resources}: {m.rss_bytes / MiB:.1f} MiB" for m in inline),
        )
    )
    extrapolated = smallest.rss_bytes + slope * (1000 - smallest.resources)
    result.rows.append(
        Row(
            "7. scale: operator RSS (EXTRAPOLATED)",
            "1,000 resources, from the measured slope",
            f"{extrapolated / MiB:.0f} MiB (extrapolated, not measured)",
            f"slope {slope / 1024:.0f} KiB/resource",
            "n/a",
            "n/a",
            "n/a",
            "0 (derived)",
            f"{smallest.rss_bytes / MiB:.1f} MiB + 999 x slope measured between {smallest.resources} and "
            f"{largest.resources} resources",
        )
    )
    result.rows.append(
        Row(
            "7. scale: operator idle CPU",
            f"{largest.resources} idle resources",
            f"{largest.idle_cpu_percent:.2f} % of one core",
            f"{smallest.resources} resource: {smallest.idle_cpu_percent:.2f} %",
            "n/a",
            f"<= {CPU_TARGET_PERCENT:g} % of one core",
            "yes" if largest.idle_cpu_percent <= CPU_TARGET_PERCENT else "no",
            "1",
            "operator utime+stime from /proc over the idle window; at the same time the emulator process "
            f"used "
            f"{largest.idle_emulator_percent:.2f} % and PostgreSQL {largest.idle_postgres_percent:.2f} %; "
            + ", ".join(f"{m.resources}: {m.idle_cpu_percent:.2f} %" for m in inline),
        )
    )
    cpu_slope = (largest.idle_cpu_percent - smallest.idle_cpu_percent) / max(
        1, largest.resources - smallest.resources
    )
    result.rows.append(
        Row(
            "7. scale: operator idle CPU (EXTRAPOLATED)",
            "1,000 idle resources, from the measured slope",
            f"{smallest.idle_cpu_percent + cpu_slope * (1000 - smallest.resources):.2f} % of one core "
            "(extrapolated)",
            f"slope {cpu_slope * 1000:.2f} % per 1,000 resources",
            "n/a",
            "n/a",
            "n/a",
            "0 (derived)",
            "",
        )
    )
    result.rows.append(
        Row(
            "7. scale: database connections",
            f"{largest.resources} resources (one database)",
            f"{largest.connections} held by the operator",
            "pool size per database: 10, plus its LISTEN connection",
            "n/a",
            "<= the pool size per database (10) + 1 LISTEN",
            "yes" if largest.connections <= 11 else "no",
            "1",
            "pg_stat_activity rows with the operator's application_name, idle after the runs (the pool keeps "
            "the size it grew to; the extra one is the LISTEN connection for request_sync() and "
            "notifications); " + ", ".join(f"{m.variant} {m.resources}: {m.connections}" for m in measured),
        )
    )
    if largest.trigger_latencies:
        lat = largest.trigger_latencies
        result.rows.append(
            Row(
                "7. scale: trigger latency",
                f"annotation to run started, {largest.resources} resources present",
                f"p95 {_p95(lat):.2f} s (median {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s)",
                "n/a",
                "n/a",
                f"p95 <= {TRIGGER_P95_TARGET:g} s",
                "yes" if _p95(lat) <= TRIGGER_P95_TARGET else "no",
                str(len(lat)),
                "resources triggered one after the other, 0.5 s apart, while the others idle; "
                "sync_runs.started_at minus the time the annotation was patched",
            )
        )
    result.notes.append(
        "scale: where the time goes, per size (CPU seconds while syncing): "
        + "; ".join(
            f"{m.variant} {m.resources}: " + ", ".join(f"{k} {v:.1f}" for k, v in m.cpu_sync.items())
            for m in measured
        )
    )
    result.notes.append(
        f"scale: IDLE_PASS_SECONDS={IDLE_PASS_SECONDS:g}; raw figures in bench/results/scale.json"
    )


def main(argv: list[str] | None = None) -> Any:
    import argparse

    from common import postgres_server

    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1,50,200")
    p.add_argument("--variants", default="inline,jobs")
    p.add_argument("--idle", type=float, default=35.0)
    p.add_argument("--triggers", type=int, default=20)
    p.add_argument("--capacity", type=int, default=8)
    p.add_argument(
        "--log-limit", type=int, default=EMULATOR_LOG_LIMIT, help="kmock's request log bound (0: unbounded)"
    )
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (finally blocks) when stopped
    with postgres_server() as pg:
        sizes = [int(x) for x in args.sizes.split(",")]
        result = run(
            pg, sizes, args.variants.split(","), args.idle, args.triggers, args.capacity, args.log_limit
        )
        result.save()
        for row in result.rows:
            print(row)


if __name__ == "__main__":
    main()
