"""The operator end to end: `employes-sync operator` as a process against kmock's emulator over HTTP,
with embedded PostgreSQL, the simulator, and Jobs run as local `employes-sync worker` processes.

Scenarios of issue 3: a full run to Ready with every timeline stored and Jobs within `parallelism`;
a batch that fails once is retried, one that always fails degrades the resource; the trigger
command and `kubectl annotate` start a new run; an operator killed mid-run is restarted without a
duplicated Job; killed while it writes the status (the PATCH held at the emulator); a missing Secret,
then created; a rejected token; suspend; examples applied with kubectl.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import psycopg
import pytest
import yaml

from employes_sync.employes import trust
from employes_sync.employes.simulator import Simulator, SimulatorConfig, serve_in_thread
from employes_sync.kube import jobs as jobs_labels
from employes_sync.kube import triggers
from employes_sync.settings import EXTRA_CA_FILE_ENV, WORKER_EXTRA_CA_ENV
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store import sync_requests
from employes_sync.store import timeline as timeline_store
from employes_sync.store.db import open_pool
from employes_sync.store.queue import Batch
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import (
    BIN,
    ESYNC,
    JOBS,
    REPO,
    Cluster,
    JobRunner,
    OperatorProcess,
    esync_path,
    wait_for,
)
from tests.fixtures.network import free_port
from tests.fixtures.store import migrated_pool
from tests.fixtures.tls import CompanyCA
from tests.reliability import rows

pytestmark = pytest.mark.slow

NS = "default"


@dataclass
class Env:
    cluster: Cluster
    runner: JobRunner
    start_operator: Callable[..., OperatorProcess]
    database_url: str
    simulator: Simulator

    def secret(
        self,
        name: str = "esync",
        token: str | None = None,
        dsn: str | None = None,
        omit: str | None = None,
        labelled: bool = True,
    ) -> None:
        """A Secret with the token and DSN, labelled for the operator unless `labelled` is False."""
        data = {"token": token or self.simulator.config.token, "dsn": dsn or self.database_url}
        if omit:
            data.pop(omit)
        labels = {"employessync.io/secret": "true"} if labelled else {}
        self.cluster.apply({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": name, "namespace": NS, "labels": labels},
                            "stringData": data})  # fmt: skip

    def resource(self, name: str = "acme", **overrides: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "api": {"baseUrl": self.simulator.url, "companyId": self.simulator.config.company_id,
                    "tokenSecretRef": {"name": "esync", "key": "token"}, "requestsPerSecond": 1000},
            "database": {"dsnSecretRef": {"name": "esync", "key": "dsn"}},
            "inline": {"count": 5},
            "batches": {"size": 10, "parallelism": 2, "maxAttempts": 3, "backoffSeconds": 0.2,
                        "backoffMaxSeconds": 1, "activeDeadlineSeconds": 60, "ttlSecondsAfterFinished": 600},
        }  # fmt: skip
        for dotted, value in overrides.items():
            node = spec
            *parents, leaf = dotted.split("__")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        obj = {"apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
               "metadata": {"name": name, "namespace": NS}, "spec": spec}  # fmt: skip
        return self.cluster.apply(obj)

    def operator(
        self,
        metrics_port: int = 0,
        health_port: int = 0,
        allowed_urls: list[str] | None = None,
        extra: list[str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> OperatorProcess:
        """The operator, allowed to send tokens to the simulator (or to `allowed_urls`); `environ` is
        added to its environment."""
        allowed = [f"--allow-api-url={url}" for url in (allowed_urls or [str(self.simulator.url)])]
        return self.start_operator(
            [str(BIN / "employes-sync"), "operator", "-n", NS, "--metrics-port", str(metrics_port),
             "--health-port", str(health_port), "--worker-image", "employes-sync:test",
             "--poll-seconds", "0.2", "--retry-base-seconds", "0.5", "--retry-max-seconds", "2",
             *allowed, *(extra or [])],
            environ,
        )  # fmt: skip

    def get(self, name: str = "acme") -> dict[str, Any]:
        obj = self.cluster.get(ESYNC, NS, name)
        assert obj is not None
        return obj

    def status(self, name: str = "acme") -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def condition(self, type_: str, name: str = "acme") -> dict[str, Any]:
        for c in self.status(name).get("conditions") or []:
            if c["type"] == type_:
                return c
        return {}

    def wait_condition(
        self, type_: str, value: str, reason: str | None = None, name: str = "acme", timeout: float = 60
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            c = self.condition(type_, name)
            ok = c.get("status") == value and (reason is None or c.get("reason") == reason)
            return c if ok else None

        return wait_for(check, timeout, what=f"{type_}={value} {reason or ''} (status: {self.status(name)})")

    def wait_run_finished(
        self, after_run: int = 0, name: str = "acme", timeout: float = 90
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            st = self.status(name)
            last = st.get("lastRun") or {}
            return last if last.get("id", 0) > after_run and not st.get("currentRun") else None

        return wait_for(check, timeout, what=f"a run after {after_run} to finish")

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.cluster.events(NS) if reason is None or e.get("reason") == reason]

    def wait_events(self, reason: str, count: int = 1, timeout: float = 15) -> list[dict[str, Any]]:
        """Events with `reason` once there are `count` of them: kopf posts events from a queue of its
        own, so one may reach the API a moment after the status that it accompanies."""
        wait_for(lambda: len(self.events(reason)) >= count, timeout, what=f"{count} {reason} event(s)")
        return self.events(reason)

    def jobs(self) -> list[dict[str, Any]]:
        return self.cluster.list(JOBS, NS)

    def assert_nothing_wanted(self, name: str = "acme") -> None:
        """No run is due: the resource's triggers are all synced (the operator's own rule decides),
        no SQL request is open, no run is open and no batch waits for a Job in PostgreSQL."""
        obj = self.get(name)
        assert triggers.wanted(obj["metadata"], obj.get("status") or {}) is None, obj.get("status")

        async def database() -> tuple[int, list[str], int]:
            pool = await open_pool(self.database_url)
            try:
                latest = await runs_store.latest_run(pool, f"{NS}/{name}")
                assert latest is not None
                batches = await queue_store.run_batches(pool, int(latest["id"]))
                asked = await sync_requests.open_requests(pool, f"{NS}/{name}")
                return (
                    int(latest["id"]),
                    [b.status for b in batches if b.status in ("pending", "processing")],
                    asked.count,
                )
            finally:
                await pool.close()

        latest, open_batches, asked = asyncio.run(database())
        assert latest == self.status(name)["lastRun"]["id"] and open_batches == [] and asked == 0

    def wait_for_a_pass(self, name: str = "acme") -> None:
        """Wake the reconciler with a change of no meaning and wait until it has written the status again."""
        poked = self.cluster.patch(
            esync_path(name), {"metadata": {"annotations": {"test/poke": str(time.time())}}}
        )
        after = int(poked["metadata"]["resourceVersion"])
        wait_for(
            lambda: int(self.get(name)["metadata"]["resourceVersion"]) > after, 30, what="a reconcile pass"
        )

    def timelines(self, name: str = "acme") -> int:
        async def count() -> int:
            pool = await open_pool(self.database_url)
            try:
                return await timeline_store.employees_with_events(pool, f"{NS}/{name}")
            except psycopg.errors.UndefinedTable:
                return 0  # the operator never touched the database
            finally:
                await pool.close()

        return asyncio.run(count())


@pytest.fixture
def env(cluster_with_crd: Cluster, job_runner: JobRunner, operator_factory: Callable[..., OperatorProcess],
        database_url: str, simulator: Simulator) -> Iterator[Env]:  # fmt: skip
    yield Env(cluster_with_crd, job_runner, operator_factory, database_url, simulator)
    for log in job_runner.logdir.glob("*.log") if job_runner.logdir.exists() else []:
        text = log.read_text(errors="replace")
        assert simulator.config.token not in text, f"the token leaked into {log.name}"


def assert_no_secret_anywhere(env: Env, op: OperatorProcess, *secrets: str) -> None:
    """The token (and DSN) never reach logs (the operator's and every Job's), events, the status or
    the metrics (when the operator serves them)."""
    haystacks = {"operator log": op.logs(), "events": yaml.safe_dump(env.events()),
                 "status": yaml.safe_dump(env.status())}  # fmt: skip
    for log in sorted(env.runner.logdir.glob("*.log")):
        haystacks[f"Job log {log.name}"] = log.read_text(errors="replace")
    if "--metrics-port" in op.argv and (port := int(op.argv[op.argv.index("--metrics-port") + 1])):
        haystacks["metrics"] = scrape(f"http://127.0.0.1:{port}/metrics")
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {where}"


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


@pytest.mark.fault(*rows.A_RESOURCE_SYNCS_TO_READY_WITHIN_PARALLELISM)
def test_a_resource_syncs_to_ready_within_parallelism(env: Env) -> None:
    env.secret()
    env.resource()
    metrics_port, health_port = free_port(), free_port()
    op = env.operator(metrics_port=metrics_port, health_port=health_port)
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    st = env.status()
    last = st["lastRun"]
    assert last["state"] == "succeeded" and last["trigger"] == "created" and last["mode"] == "interactive"
    assert last["employees"] == 78 and last["inlineProcessed"] == 5
    assert last["queued"] == 8 and last["batches"] == {
        "pending": 0,
        "processing": 0,
        "completed": 8,
        "failed": 0,
        "retried": 0,
        "attempts": 8,
    }
    assert last["timeToFirstFeedbackSeconds"] > 0 and last["eventsCreated"] > 78
    assert st["employees"] == 78 and st["queued"] == 0 and st["failedBatches"] == 0 and st["lastSyncTime"]
    assert st["observedGeneration"] == 1 and "currentRun" not in st and st["batches"] == []
    assert env.condition("Degraded")["status"] == "False"
    assert env.condition("Progressing")["status"] == "False"
    assert env.timelines() == 78

    jobs = env.jobs()
    assert len(jobs) == 8 and all(env.runner.outcomes[j["metadata"]["name"]] == "Complete" for j in jobs)
    assert env.runner.max_active["acme"] <= 2
    names = sorted(j["metadata"]["name"] for j in jobs)
    assert names[0] == "acme-r1-b1-a1"
    assert env.wait_events("RunStarted") and env.wait_events("RunSucceeded")

    out = env.cluster.kubectl("get", "esync", "acme").stdout
    assert out.split("\n")[0].split() == [
        "NAME",
        "READY",
        "EMPLOYEES",
        "QUEUED",
        "FAILED",
        "LAST",
        "SYNC",
        "AGE",
    ]
    assert out.split("\n")[1].split()[:5] == ["acme", "True", "78", "0", "0"]
    described = env.cluster.kubectl("get", "esync", "acme", "-o", "wide").stdout
    assert "RunSucceeded" in described

    text = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    assert 'employes_sync_jobs_created_total{name="acme",namespace="default"} 8.0' in text
    scrape(f"http://127.0.0.1:{health_port}/healthz")  # kopf's liveness endpoint answers 200
    assert_no_secret_anywhere(env, op, env.simulator.config.token, env.database_url)


def test_behind_a_tls_inspecting_proxy_the_jobs_trust_the_operators_extra_ca(
    cluster_with_crd: Cluster, job_runner: JobRunner, operator_factory: Callable[..., OperatorProcess],
    database_url: str, company_ca: CompanyCA,
) -> None:  # fmt: skip
    """The API over HTTPS with a certificate a company CA signed (as a TLS-inspecting proxy's is), the CA
    given to the operator as a file only. Its inline part trusts it, and so do its Jobs, whose pods get
    nothing of the operator's environment but the certificates in their spec (the runner gives a Job
    process only its container's env: no SSL_CERT_FILE, no file)."""
    config = SimulatorConfig(employees=28, requests_per_second=1000.0, latency_ms=0.0)
    with serve_in_thread(config, ssl_context=company_ca.server_context()) as sim:
        assert sim.url is not None and sim.url.startswith("https://")
        env = Env(cluster_with_crd, job_runner, operator_factory, database_url, sim)
        env.secret()
        env.resource()
        op = env.operator(environ={EXTRA_CA_FILE_ENV: str(company_ca.ca_pem), "SSL_CERT_FILE": ""})
        env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
        last = env.status()["lastRun"]
        assert last["employees"] == 28 and last["inlineProcessed"] == 5 and last["batches"]["completed"] == 3
        jobs = env.jobs()
        assert len(jobs) == 3 and all(env.runner.outcomes[j["metadata"]["name"]] == "Complete" for j in jobs)
        pem = trust.load_extra_ca({EXTRA_CA_FILE_ENV: str(company_ca.ca_pem)})
        for job in jobs:
            given = {
                e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
            }
            assert given[WORKER_EXTRA_CA_ENV] == pem and EXTRA_CA_FILE_ENV not in given
        assert sim.stats.count("employments") == 28 and env.timelines() == 28
        assert "trusting 1 extra CA certificate(s) from $EMPLOYES_SYNC_EXTRA_CA_FILE" in op.logs()
        assert_no_secret_anywhere(env, op, sim.config.token, env.database_url)


def test_a_run_with_nothing_queued_writes_its_status_twice(
    cluster_with_crd: Cluster, job_runner: JobRunner, operator_factory: Callable[..., OperatorProcess],
    database_url: str, make_simulator: Callable[..., Simulator],
) -> None:  # fmt: skip
    """Started and finished. Every status write is a watch event for each client of the resource and
    work for the API server, at 200 resources too; none may say nothing new. A run done all inline
    closes the moment its first feedback is in, so the end tells both. It has no Job to look for
    either: it never lists Jobs."""
    env = Env(cluster_with_crd, job_runner, operator_factory, database_url, make_simulator(employees=10))
    env.secret()
    env.resource(inline__count=10)
    env.operator()
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    writes: list[dict[str, Any]] = []
    for version in env.cluster.history(ESYNC, NS, "acme"):
        st = (version or {}).get("status") or {}
        if st and (not writes or st != writes[-1]) and not (writes and "lastRun" in writes[-1]):
            writes.append(st)
    phases = [_run(st).get("phase") or ("Finished" if "lastRun" in st else "?") for st in writes]
    assert phases == ["Starting", "Finished"], writes
    last = writes[-1]
    assert last["lastRun"]["employees"] == 10 and last["lastRun"]["queued"] == 0
    assert last["lastRun"]["inlineProcessed"] == 10 and last["lastRun"]["timeToFirstFeedbackSeconds"] > 0
    assert last["syncedGeneration"] == 1  # its trigger is marked handled: no second run follows
    assert env.jobs() == [] and env.timelines() == 10
    assert [selector for selector in env.cluster.lists(JOBS, NS) if selector] == []  # kopf's has none


def test_a_batch_failing_once_is_retried_and_one_always_failing_degrades(env: Env) -> None:
    # Batch 2 fails on its first attempt only; batch 3 fails on every attempt.
    def fault(job: dict[str, Any]) -> str | None:
        labels = job["metadata"]["labels"]
        if labels["employessync.io/batch"] == "2" and labels["employessync.io/attempt"] == "1":
            return "fail"
        return "fail" if labels["employessync.io/batch"] == "3" else None

    env.runner.fault = fault
    env.secret()
    env.resource(batches__maxAttempts=2)
    op = env.operator()
    env.wait_condition("Degraded", "True", "BatchesFailed", timeout=120)
    st = env.status()
    assert env.condition("Ready")["status"] == "False"
    assert "batch 3" in env.condition("Degraded")["message"]
    assert st["lastRun"]["state"] == "failed" and st["failedBatches"] == 1
    (failed,) = [b for b in st["batches"] if b["state"] == "failed"]
    assert failed["number"] == 3 and failed["attempts"] == 2 and failed["jobName"] == "acme-r1-b3-a2"
    assert "acme-r1-b3-a2 failed" in failed["lastError"]
    names = {j["metadata"]["name"] for j in env.jobs()}
    assert {"acme-r1-b2-a1", "acme-r1-b2-a2", "acme-r1-b3-a1", "acme-r1-b3-a2"} <= names
    assert env.runner.outcomes["acme-r1-b2-a2"] == "Complete"
    env.wait_events("RunDegraded")
    reasons = Counter(e["reason"] for e in env.events())
    assert reasons["BatchFailed"] == 1 and reasons["RunDegraded"] == 1
    # Batch 2's failed first attempt is told even though its retry completed (batch 3's may be folded
    # into its BatchFailed, "failed after 2 attempts", when both attempts failed between two looks).
    assert any(e["message"].startswith("Batch 2 attempt 1 failed") for e in env.events("BatchRetried"))
    assert env.timelines() == 78 - 10  # everyone but batch 3's ten employees
    assert op.process is not None and op.process.poll() is None


def test_trigger_command_and_kubectl_annotate_start_new_runs(env: Env) -> None:
    env.secret()
    env.resource(inline__count=0)
    env.operator()
    first = env.wait_run_finished(0)
    assert first["state"] == "succeeded"

    kube_env = {**os.environ, "KUBECONFIG": str(env.cluster.kubeconfig)}
    command = [str(BIN / "employes-sync"), "trigger", "acme", "-n", NS, "--mode", "background"]
    out = subprocess.run(command, env=kube_env, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "sync requested" in out
    second = env.wait_run_finished(first["id"])
    assert (second["trigger"], second["mode"], second["state"]) == ("requested", "background", "succeeded")
    assert second.get("inlineProcessed", 0) == 0

    env.cluster.kubectl("annotate", "esync", "acme", "--overwrite",
                        "employessync.io/sync-requested-at=2030-01-01T00:00:00Z",
                        "employessync.io/sync-mode=interactive")  # fmt: skip
    third = env.wait_run_finished(second["id"])
    assert (third["trigger"], third["mode"], third["state"]) == ("requested", "interactive", "succeeded")
    assert env.status()["syncedRequest"] == "2030-01-01T00:00:00Z"

    missing = subprocess.run([str(BIN / "employes-sync"), "trigger", "nope", "-n", NS], env=kube_env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_triggers_during_a_run_coalesce_into_one_follow_up(env: Env) -> None:
    env.secret()
    env.resource(batches__parallelism=1)
    env.operator()
    wait_for(lambda: env.status().get("currentRun", {}).get("phase") == "Batches", 60, what="run 1 in Jobs")
    for i in range(3):
        env.cluster.patch(esync_path("acme"), {"metadata": {"annotations": {
            "employessync.io/sync-requested-at": f"2030-01-01T00:00:0{i}Z"}}})  # fmt: skip
    env.cluster.patch(esync_path("acme"), {"spec": {"batches": {"size": 20}}})
    follow_up = env.wait_run_finished(1)
    assert follow_up["id"] == 2 and follow_up["trigger"] == "spec-changed"
    assert follow_up["queued"] == 4  # the new batch size took effect
    env.wait_condition("Ready", "True", "RunSucceeded")
    assert env.status()["syncedGeneration"] == 2
    assert env.status()["syncedRequest"] == "2030-01-01T00:00:02Z"
    # No third run: every trigger was covered by the follow-up, so the operator wants none.
    env.assert_nothing_wanted()
    assert env.status()["lastRun"]["id"] == 2 and "currentRun" not in env.status()
    assert len(env.wait_events("RunSucceeded", 2)) == 2


@pytest.mark.fault(*rows.OPERATOR_KILLED_MID_RUN_FINISHES_IT_WITHOUT_DUPLICATE_JOBS)
def test_operator_killed_mid_run_finishes_it_without_duplicate_jobs(env: Env) -> None:
    env.secret()
    env.resource(inline__count=0, batches__size=5, batches__parallelism=2)
    op = env.operator()
    wait_for(lambda: len(env.runner.seen) >= 3, 60, what="a few Jobs to start")
    op.kill()
    run_id = env.status()["currentRun"]["id"]
    created_before = list(env.runner.seen)
    op2 = env.operator()
    last = env.wait_run_finished(0, timeout=120)
    assert last["id"] == run_id and last["state"] == "succeeded"
    assert env.timelines() == 78
    names = [j["metadata"]["name"] for j in env.jobs()]
    assert len(names) == len(set(names)) == 16  # one Job per batch: nothing duplicated, nothing lost
    assert len(env.runner.seen) == len(set(env.runner.seen)) == 16
    assert set(created_before) <= set(names)
    assert env.runner.max_active["acme"] <= 2
    resumed = env.wait_events("RunResumed")
    assert [e["message"] for e in resumed] == [f"Run {run_id} resumed"]  # op2 carried on with that run
    assert op2.process is not None and op2.process.poll() is None


@pytest.mark.fault(*rows.A_JOB_THAT_NEVER_STARTS_FAILS_AT_ITS_DEADLINE_AND_IS_RETRIED)
def test_a_job_that_never_starts_fails_at_its_deadline_and_is_retried(env: Env) -> None:
    def fault(job: dict[str, Any]) -> str | None:
        labels = job["metadata"]["labels"]
        first = labels["employessync.io/batch"] == "1" and labels["employessync.io/attempt"] == "1"
        return "hold" if first else None  # like an image that cannot be pulled

    env.runner.fault = fault
    env.secret()
    # Long enough for a batch on a loaded machine (at 3 s every attempt of a batch ran out when other
    # test runs shared the cores), short enough that the held Job fails at it soon.
    env.resource(inline__count=0, batches__activeDeadlineSeconds=20)
    env.operator()
    last = env.wait_run_finished(0, timeout=120)
    assert last["state"] == "succeeded"
    assert (
        env.runner.outcomes["acme-r1-b1-a1"] == "Failed"
        and env.runner.outcomes["acme-r1-b1-a2"] == "Complete"
    )
    retried = [e["message"] for e in env.wait_events("BatchRetried")]
    assert any("Batch 1 attempt 1 failed" in m and "DeadlineExceeded" in m for m in retried), retried
    assert env.timelines() == 78
    # With every batch done, the status still shows that one needed a second attempt.
    counts = env.status()["lastRun"]["batches"]
    assert counts["failed"] == 0 and counts["retried"] == 1 and counts["attempts"] == counts["completed"] + 1
    # While the held Job waited for its deadline, nothing changed: the run listed its Jobs after the
    # watch told it one of them changed (and once to begin), not at every look of its driver (every
    # 0.2 s here, 100 looks in those 20 s): at most one list per version of one of its Jobs, plus the
    # first and one resync (every 30 s). The code before listed 94 times, against 35 versions.
    names = [j["metadata"]["name"] for j in env.jobs()]
    versions = sum(len(env.cluster.history(JOBS, NS, name)) for name in names)
    run_lists = [s for s in env.cluster.lists(JOBS, NS) if f"{jobs_labels.RUN_LABEL}=1" in s]
    assert 1 <= len(run_lists) <= versions + 2, (len(run_lists), versions)


@pytest.mark.fault(*rows.A_JOB_DELETED_WHILE_IT_RUNS_IS_REPLACED)
def test_a_job_deleted_while_it_runs_is_replaced(env: Env) -> None:
    def fault(job: dict[str, Any]) -> str | None:
        labels = job["metadata"]["labels"]
        first = labels["employessync.io/batch"] == "2" and labels["employessync.io/attempt"] == "1"
        return "hang" if first else None

    env.runner.fault = fault
    env.secret()
    env.resource(inline__count=0)
    env.operator()
    wait_for(lambda: env.cluster.get(JOBS, NS, "acme-r1-b2-a1"), 60, what="the Job of batch 2")
    wait_for(lambda: any(k[1] == "acme-r1-b2-a1" and j.process for k, j in env.runner.running.items()), 30,
             what="its pod to run")  # fmt: skip
    assert env.cluster.delete(f"/apis/batch/v1/namespaces/{NS}/jobs/acme-r1-b2-a1") == 200
    last = env.wait_run_finished(0, timeout=120)
    assert last["state"] == "succeeded"
    assert env.runner.outcomes.get("acme-r1-b2-a2") == "Complete"
    assert any("deleted" in e["message"] for e in env.wait_events("BatchRetried"))
    assert env.timelines() == 78


@pytest.mark.fault(*rows.OPERATOR_KILLED_DURING_THE_INLINE_PART_ENDS_WITH_EVERY_EMPLO)
def test_operator_killed_during_the_inline_part_ends_with_every_employee_synced(
    env: Env, make_simulator: Callable[..., Simulator]
) -> None:
    slow = make_simulator(employees=78, requests_per_second=0, latency_ms=400)
    env.simulator = slow
    env.secret()
    env.resource()
    op = env.operator()
    wait_for(
        lambda: env.status().get("currentRun", {}).get("phase") == "Starting", 60, what="the inline part"
    )
    op.kill()
    slow.config.latency_ms = 0
    env.operator()
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    st = env.status()
    assert st["lastRun"]["id"] == 2  # the interrupted run was closed, and a new one covered everyone
    assert env.wait_events("RunResumed") and env.wait_events("RunInterrupted")
    assert env.timelines() == 78
    names = [j["metadata"]["name"] for j in env.jobs()]
    assert len(names) == len(set(names))


@dataclass
class KillDuringStatusWrite:
    """Interceptor: SIGKILL the operator when a status write of `name` that `matches` reaches the API.

    The PATCH is held while the operator is killed, so it dies with the write in flight, never seeing
    an answer. Then the write either `lands` (served after all, as when the server applied it before
    the connection broke) or is lost (answered 503 without touching the object).
    """

    matches: Callable[[dict[str, Any]], bool]
    lands: bool
    name: str = "acme"
    op: OperatorProcess | None = None
    killed_during: dict[str, Any] | None = None
    writes_seen: int = 0

    async def __call__(self, request: kmock.Request) -> aiohttp.web.StreamResponse | None:
        if (
            self.killed_during is not None or self.op is None
            or request.action != kmock.action.UPDATE or request.subresource != "status"
            or request.resource != kmock.resource(ESYNC) or request.name != self.name
        ):  # fmt: skip
            return None
        self.writes_seen += 1
        status = (request.data or {}).get("status") or {}
        if not self.matches(status):
            return None
        self.op.kill()  # SIGKILL and reaped: the write's answer has no one to go to
        self.killed_during = status  # only now: the test reads the exit code once it sees this
        if self.lands:
            return None
        return aiohttp.web.json_response({"kind": "Status", "code": 503, "status": "Failure"}, status=503)


def _run(st: dict[str, Any]) -> dict[str, Any]:
    return st.get("currentRun") or {}


#: which status write the operator dies in, whether that write lands, and the run that should end Ready.
STATUS_WRITES: dict[str, tuple[Callable[[dict[str, Any]], bool], bool, int]] = {
    # start(): the first write of a run (currentRun phase Starting), before anything is listed.
    "run-started": (lambda st: _run(st).get("phase") == "Starting", False, 2),
    # start(): the write after the inline part (phase Batches, syncedGeneration), before any Job.
    "inline-done": (lambda st: _run(st).get("phase") == "Batches" and "batches" not in _run(st), False, 1),
    # progress(): a write while Jobs run, with batches done and others still to do; the write lands.
    # (Not "processing > 0": with fast batches a poll can see two just done and the next not yet started.)
    "jobs-running": (lambda st: (_run(st).get("batches") or {}).get("completed", 0) >= 2
                     and (_run(st).get("batches") or {}).get("pending", 0)
                     + (_run(st).get("batches") or {}).get("processing", 0) > 0, True, 1),
    # finish(): the write that closes the run (lastRun, Ready), after the run is closed in PostgreSQL.
    "run-finished": (lambda st: "lastRun" in st, False, 1),
}  # fmt: skip


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            write,
            marks=pytest.mark.fault(
                *getattr(rows, "KILLED_DURING_STATUS_WRITE_" + write.upper().replace("-", "_"))
            ),
        )
        for write in STATUS_WRITES
    ],
)
def test_operator_killed_while_status_is_written_finishes_the_run(env: Env, write: str) -> None:
    matches, lands, final_run = STATUS_WRITES[write]
    killer = KillDuringStatusWrite(matches, lands)
    env.cluster.intercept(killer)
    env.secret()
    env.resource()  # 78 employees: 5 inline, 73 in 8 batches of 10, 2 Jobs at a time
    killer.op = env.operator()
    wait_for(lambda: killer.killed_during is not None, 60, what=f"the {write} status write")
    process = killer.op.process
    assert process is not None
    # The kill happens on the emulator's thread: wait until this process is reaped, then read its code.
    assert wait_for(lambda: process.poll() is not None, 20, what="the killed operator to be reaped")
    assert process.returncode == -9
    env.cluster.intercept(None)
    killed_in = killer.killed_during
    assert killed_in is not None
    jobs_before = {j["metadata"]["name"] for j in env.jobs()}

    env.operator()
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=60)
    st = env.status()
    last = st["lastRun"]
    # The run finishes: the one the kill interrupted (resumed), or after a kill before anything was
    # listed, a new one once the interrupted one is closed.
    assert last["id"] == final_run and last["state"] == "succeeded", last
    if final_run != 1:
        assert env.wait_events("RunInterrupted")
    if write != "run-finished":
        assert env.wait_events("RunResumed")
    assert env.timelines() == 78

    # Every batch of the run completed, with exactly the Jobs its attempts account for.
    async def run_batches() -> tuple[list[Batch], list[dict[str, Any]]]:
        pool = await open_pool(env.database_url)
        try:
            runs = [await runs_store.get_run(pool, i) for i in range(1, final_run + 1)]
            return await queue_store.run_batches(pool, final_run), [r for r in runs if r]
        finally:
            await pool.close()

    batches, runs = asyncio.run(run_batches())
    assert [r["status"] for r in runs][-1] == "succeeded"
    assert all(r["status"] != "running" for r in runs)
    assert len(batches) == 8 and all(b.status == "completed" for b in batches)
    expected = {f"acme-r{final_run}-b{b.batch_no}-a{a}" for b in batches for a in range(1, b.attempts + 1)}
    names = [j["metadata"]["name"] for j in env.jobs()]
    assert len(names) == len(set(names)) and set(names) == expected, (sorted(names), sorted(expected))
    assert len(env.runner.seen) == len(set(env.runner.seen)) == len(expected)  # each Job ran once
    assert jobs_before <= set(names)
    assert env.runner.max_active["acme"] <= 2

    # The status tells the same story as PostgreSQL.
    assert "currentRun" not in st, st
    retried = sum(1 for b in batches if b.attempts > 1)
    attempts = sum(b.attempts for b in batches)
    assert last["batches"] == {
        "pending": 0, "processing": 0, "completed": 8, "failed": 0, "retried": retried, "attempts": attempts
    }  # fmt: skip
    assert last["employees"] == 78 and last["inlineProcessed"] == 5 and last["queued"] == 8
    assert last["eventsCreated"] == runs[-1]["summary"]["events_created"]
    assert st["employees"] == 78 and st["queued"] == 0 and st["failedBatches"] == 0 and st["batches"] == []
    assert st["observedGeneration"] == st["syncedGeneration"] == 1 and st["lastSyncTime"]
    conditions = {c["type"]: (c["status"], c["reason"], c["observedGeneration"]) for c in st["conditions"]}
    assert conditions == {"Ready": ("True", "RunSucceeded", 1), "Progressing": ("False", "RunFinished", 1),
                          "Degraded": ("False", "NoFailedBatches", 1)}  # fmt: skip
    assert len(env.wait_events("RunSucceeded")) == 1
    # Nothing more happens: nothing is wanted, and no batch is left for a Job.
    env.assert_nothing_wanted()
    assert env.status()["lastRun"]["id"] == final_run and len(env.jobs()) == len(expected)


@pytest.mark.fault(*rows.MISSING_SECRET_THEN_CREATED_RECOVERS_1)
@pytest.mark.fault(*rows.MISSING_SECRET_THEN_CREATED_RECOVERS_2)
def test_missing_secret_then_created_recovers(env: Env) -> None:
    env.resource()
    op = env.operator()
    c = env.wait_condition("Ready", "False", "SecretNotFound")
    assert "default/esync" in c["message"] and "API token" in c["message"]
    assert env.condition("Degraded")["message"] == "no run has finished yet"  # it was ""
    (event, *_) = env.wait_events("SecretNotFound")
    # `kubectl describe` said `From: kopf`, and reportingInstance was kopf's "dev" in every replica.
    assert event["source"] == {"component": "employes-sync"}
    assert event["reportingComponent"] == "employes-sync"
    assert event["reportingInstance"] == socket.gethostname()
    wait_for(lambda: env.events("SecretNotFound"), 10, what="a Warning event")
    assert env.events("SecretNotFound")[0]["type"] == "Warning"
    assert not env.jobs()

    env.secret(omit="dsn")
    c = env.wait_condition("Ready", "False", "SecretKeyNotFound")
    assert "'dsn'" in c["message"] and "default/esync" in c["message"]
    assert "token" not in c["message"]  # only the asked key is named, never the Secret's other keys

    env.secret()
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert env.timelines() == 78
    assert op.process is not None and op.process.poll() is None
    assert_no_secret_anywhere(env, op, env.simulator.config.token)


@pytest.mark.fault(*rows.REJECTED_TOKEN_IS_REPORTED_AND_RECOVERS_WHEN_FIXED)
def test_rejected_token_is_reported_and_recovers_when_fixed(env: Env) -> None:
    env.secret(token="wrong-token-value")
    env.resource()
    op = env.operator()
    c = env.wait_condition("Ready", "False", "TokenRejected")
    assert "default/esync" in c["message"] and "401" in c["message"]
    wait_for(lambda: env.events("TokenRejected"), 10, what="a Warning event")
    assert not env.jobs()
    assert_no_secret_anywhere(env, op, "wrong-token-value")

    env.secret()
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert_no_secret_anywhere(env, op, "wrong-token-value", env.simulator.config.token)


@pytest.mark.fault(*rows.DATABASE_REFUSING_THE_DSN_IS_REPORTED_1)
@pytest.mark.fault(*rows.DATABASE_REFUSING_THE_DSN_IS_REPORTED_2)
def test_database_refusing_the_dsn_is_reported(env: Env) -> None:
    env.secret(dsn="postgresql://nobody:s3cret-pw@127.0.0.1:1/none?connect_timeout=1")
    env.resource()
    op = env.operator()
    c = env.wait_condition("Ready", "False", "DatabaseUnavailable")
    assert "s3cret-pw" not in c["message"]
    assert_no_secret_anywhere(env, op, "s3cret-pw")
    env.secret()
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)


def test_suspend_starts_nothing_and_resuming_runs(env: Env) -> None:
    env.secret()
    env.resource(suspend=True)
    env.operator()
    env.wait_condition("Progressing", "False", "Suspended")
    env.wait_for_a_pass()  # the operator looked again after a change, and still started nothing
    assert not env.jobs() and "lastRun" not in env.status() and "currentRun" not in env.status()
    assert env.timelines() == 0
    env.cluster.patch(esync_path("acme"), {"spec": {"suspend": False}})
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert env.status()["lastRun"]["trigger"] in ("created", "spec-changed")


def test_examples_apply_with_kubectl_and_drive_a_run(env: Env, tmp_path: Path) -> None:
    """`kubectl apply -f examples/` (pointed at the simulator and the test database) ends Ready."""
    docs: list[dict[str, Any]] = []
    for name in ("secret.yaml", "employessync.yaml", "cronjob.yaml"):
        docs.extend(d for d in yaml.safe_load_all((REPO / "examples" / name).read_text()) if d)
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["stringData"] = {"token": env.simulator.config.token, "dsn": env.database_url}
        if doc["kind"] == "EmployesSync":
            doc["spec"]["api"]["baseUrl"] = env.simulator.url
            doc["spec"]["api"]["requestsPerSecond"] = 1000
            doc["spec"]["batches"]["backoffSeconds"] = 0.2
    manifest = tmp_path / "examples.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    env.operator()
    env.cluster.kubectl("apply", "--validate=false", "-f", str(manifest))
    env.wait_condition("Ready", "True", "RunSucceeded", name="demo", timeout=120)
    assert env.timelines("demo") == 78
    out = env.cluster.kubectl("get", "esync", "demo", "-o", "yaml").stdout
    assert "RunSucceeded" in out
    secret = env.cluster.get("v1/secrets", NS, "employes-sync")
    assert (
        secret is not None
        and base64.b64decode(secret["data"]["token"]).decode() == env.simulator.config.token
    )


@pytest.mark.fault(*rows.A_RUN_DRIVEN_BY_ANOTHER_LIVE_OPERATOR_IS_COALESCED_THEN_TAKE)
def test_a_run_driven_by_another_live_operator_is_coalesced_then_taken_over(env: Env) -> None:
    """Another replica (or an operator of another release on this database) drives the scope's run:
    this operator starts nothing while that owner's heartbeat lives, then takes the run over when it
    stops: the run, never fully listed, is closed as interrupted and a new one syncs everyone."""
    other = runs_store.Owner("operator@old-replica", "operator old-replica pid 1")

    async def foreign_run(lease: float) -> int:
        async with migrated_pool(env.database_url) as pool:
            started = await runs_store.claim_run(
                pool, f"{NS}/acme", env.simulator.config.company_id, "created", "interactive",
                {"extra": {}}, owner=other, lease_seconds=lease,
            )  # fmt: skip
            return started.run_id

    async def renew(run_id: int, lease: float) -> bool:
        async with migrated_pool(env.database_url) as pool:
            return await runs_store.renew(pool, run_id, other, lease)

    run_id = asyncio.run(foreign_run(lease=30))
    env.secret()
    env.resource()
    op = env.operator()
    env.wait_condition("Progressing", "True", "RunElsewhere")
    assert "old-replica" in env.condition("Progressing")["message"]
    assert env.jobs() == [] and "currentRun" not in env.status()
    # The other owner's heartbeat goes on for a while: still nothing starts here.
    for _ in range(3):
        assert asyncio.run(renew(run_id, 3))
        wait_for(lambda: True, 1.0)
    assert env.jobs() == [] and env.condition("Progressing")["reason"] == "RunElsewhere"
    # It stops renewing: within the lease plus one look, this operator takes the run over.
    last = env.wait_run_finished(run_id, timeout=120)
    assert last["id"] > run_id and last["state"] == "succeeded"
    assert env.timelines() == 78

    async def rows() -> list[tuple[Any, ...]]:
        async with migrated_pool(env.database_url) as pool, pool.connection() as conn:
            cur = await conn.execute("select id, status, owner_id from sync_runs order by id")
            return await cur.fetchall()

    first, *rest = asyncio.run(rows())
    assert first[1] == "interrupted" and first[2].startswith("operator@") and first[2] != other.id
    assert [r[1] for r in rest] == ["succeeded"]
    assert env.wait_events("RunElsewhere")
    assert "Traceback" not in op.logs()


def test_a_spec_the_schema_never_checked_is_one_invalid_spec_line_naming_the_field(env: Env) -> None:
    """The emulator, like an API server with an old CRD, stores a spec its schema would refuse. A
    parallelism of -1 was taken as it was: the run queued its batches and no Job ever started, with
    Ready=False RunInProgress for good. Now the field is named, nothing runs, and a fix recovers."""
    env.secret()
    env.resource(batches__parallelism=-1)
    env.operator()
    condition = env.wait_condition("Ready", "False", "InvalidSpec")
    assert condition["message"] == "spec.batches.parallelism is -1, outside 1 to 50", condition
    assert env.wait_events("InvalidSpec")[0]["type"] == "Warning"
    assert not env.jobs() and "currentRun" not in env.status() and "lastRun" not in env.status()

    env.cluster.patch(esync_path("acme"), {"spec": {"batches": {"parallelism": 2}}})
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)


def test_jobs_of_the_operators_image_take_its_pull_policy(env: Env) -> None:
    """The chart's image.pullPolicy was the operator pod's only: with `Always` for a re-pushed tag, the
    workers kept the node's older copy, another version than the operator's. A resource's own
    spec.worker.imagePullPolicy still wins."""

    def policies(run: int | None = None) -> set[str | None]:
        return {
            c.get("imagePullPolicy")
            for j in env.jobs()
            if run is None or j["metadata"]["labels"][jobs_labels.RUN_LABEL] == str(run)
            for c in j["spec"]["template"]["spec"]["containers"]
        }

    env.secret()
    env.resource(inline__count=0, batches__size=40)
    env.operator(extra=["--worker-image-pull-policy", "Always"])
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert env.jobs() and policies() == {"Always"}

    first = env.status()["lastRun"]["id"]
    env.cluster.patch(esync_path("acme"), {"spec": {"worker": {"imagePullPolicy": "Never"}}})
    last = env.wait_run_finished(after_run=first, timeout=120)
    assert last["state"] == "succeeded" and policies(last["id"]) == {"Never"}


def test_a_company_the_api_does_not_know_is_company_not_found(env: Env) -> None:
    """The API answered 404 for the company's listing: the status said ApiUnavailable and `failed:
    NotFoundError: ...`, which sends people looking at the network instead of spec.api.companyId."""
    env.secret()
    unknown = "00000000-0000-4000-8000-0000000000ff"
    env.resource(api__companyId=unknown)
    env.operator()
    condition = env.wait_condition("Ready", "False", "CompanyNotFound")
    message = condition["message"]
    assert f"no company {unknown}" in message and "NotFoundError" not in message, message
    assert env.wait_events("CompanyNotFound")[0]["type"] == "Warning"
    assert not env.jobs()
