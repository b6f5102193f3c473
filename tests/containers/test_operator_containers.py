"""Containers all the way: the operator and every Job pod run as containers of a real Docker engine.

The operator container is the chart's Deployment pod spec (Helm's engine renders it); each Job the
operator creates runs as a container built from the Job's pod template (tests/containers/runner.py).
Both use the image built from this working tree on the stand-in base (no registry here, see engine.py),
the host network, PostgreSQL on TCP 127.0.0.1 and the simulator over HTTP; the Kubernetes API is
kmock's emulator, whose kubeconfig is mounted read-only into the operator container.

Scenarios of issue 14: the demo resource to Ready; a worker OOM-killed, retried, then given room; a
token Secret without the key the resource names, then fixed; a worker SIGKILLed mid-batch; the
operator SIGTERMed mid-run and replaced.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
import yaml

from employes_sync.employes.simulator import Simulator
from employes_sync.store.db import open_pool
from tests.containers.engine import REPO, BuiltImage
from tests.containers.operator import OperatorContainer, chart_values, render_deployment
from tests.containers.runner import ContainerJobRunner
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import Cluster, esync_path, wait_for
from tests.fixtures.network import free_port
from tests.reliability import rows
from tests.reliability.helpers import assert_complete, snapshot
from tests.test_operator_e2e import Env


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


#: The first test to run builds the image (and, once per machine, the stand-in base) in its setup.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

NS = "default"
FAST = {"EMPLOYES_SYNC_RETRY_BASE_SECONDS": "0.5", "EMPLOYES_SYNC_RETRY_MAX_SECONDS": "2"}
SECRET_LABEL = {"employessync.io/secret": "true"}


@dataclass
class ContainerEnv(Env):
    """The operator e2e helpers (status, conditions, events, timelines), with containers underneath."""

    engine: docker.DockerClient | None = None
    image: BuiltImage | None = None
    labels: dict[str, str] = field(default_factory=dict)
    logdir: Path = Path()
    operators: list[OperatorContainer] = field(default_factory=list)

    def secret(self, name: str = "esync", token: str | None = None, dsn: str | None = None,
               omit: str | None = None, **extra: str) -> None:  # fmt: skip
        data = {"token": token or self.simulator.config.token, "dsn": dsn or self.database_url, **extra}
        if omit:
            data.pop(omit)
        self.cluster.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": data,
                            "metadata": {"name": name, "namespace": NS, "labels": SECRET_LABEL}})  # fmt: skip

    def operator_deployment(self, *sims: Simulator, health_port: int = 0) -> dict[str, Any]:
        assert self.image is not None
        values = chart_values(
            self.image.tag, NS, metrics_port=free_port(), health_port=health_port or free_port(),
            api_urls=[str(s.url) for s in (self.simulator, *sims)], extra_args=["--poll-seconds=0.2"],
            extra_env=FAST,
        )  # fmt: skip
        return render_deployment(values, NS)

    def start_operator_container(self, *sims: Simulator) -> OperatorContainer:
        """The operator's pod as a container, once it answers its health probe.

        Every container shares the host's network, so a free port can be taken by another process
        between choosing it and the operator binding it; an operator that exits saying so (one line,
        exit 1) is started again on other ports rather than failing the scenario by chance.
        """
        assert self.engine is not None
        for _ in range(3):
            health = free_port()
            op = OperatorContainer(self.engine, self.operator_deployment(*sims, health_port=health),
                                   self.cluster.kubeconfig, self.labels,
                                   self.logdir / f"operator-{len(self.operators) + 1}")  # fmt: skip
            self.operators.append(op)
            op.start()
            up = wait_for(lambda op=op, port=health: _healthy(port) or not op.running(), 120,
                          what="operator up or exited")  # fmt: skip
            if up and op.running():
                return op
            if "is in use" not in op.logs():
                return op  # a real failure: the scenario's own checks report it with the logs
            op.close()
            self.operators.remove(op)
        raise AssertionError("the operator container found its ports taken three times")

    def sync_company(self, sim: Simulator, **spec: Any) -> OperatorContainer:
        """A resource for ``sim``'s company, all of it in Jobs, and an operator container to run it."""
        self.simulator = sim
        self.secret()
        self.resource(inline__count=0, **spec)
        return self.start_operator_container(sim)

    def batch_status(self, job_name: str) -> str | None:
        """The queue's state of the batch a Job works on (claimed by its worker: "processing")."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT status FROM processing_queue WHERE job_name = %s", (job_name,)
            ).fetchone()
        return None if row is None else str(row[0])

    def consistent(self, sim: Simulator, name: str = "acme", runs: int = 1) -> None:
        """Every employee stored once, exactly the timeline the builder derives, every batch completed."""

        async def check() -> None:
            pool = await open_pool(self.database_url)
            try:
                assert_complete(await snapshot(pool, f"{NS}/{name}"), sim, runs=runs)
            finally:
                await pool.close()

        asyncio.run(check())


@pytest.fixture
def cenv(cluster_with_crd: Cluster, container_runner: ContainerJobRunner, tcp_database_url: str,
         simulator: Simulator, docker_engine: docker.DockerClient, project_image: BuiltImage,
         container_labels: dict[str, str], tmp_path: Path) -> Iterator[ContainerEnv]:  # fmt: skip
    def no_processes(*args: Any) -> Any:
        raise AssertionError("the operator runs as a container here")

    env = ContainerEnv(cluster_with_crd, container_runner, no_processes, tcp_database_url, simulator,
                       engine=docker_engine, image=project_image, labels=container_labels,
                       logdir=tmp_path / "operators")  # fmt: skip
    try:
        yield env
    finally:
        for op in env.operators:
            print(op.logs()[-8000:])
            op.close()
    for log in container_runner.logdir.glob("*.log"):
        assert simulator.config.token not in log.read_text(errors="replace"), f"the token leaked into {log}"


def jobs_of(env: ContainerEnv, batch: int | None = None) -> list[str]:
    names = sorted(j["metadata"]["name"] for j in env.jobs())
    return [n for n in names if batch is None or f"-b{batch}-" in n]


@pytest.mark.fault(*rows.THE_DEMO_RESOURCE_ENDS_READY_WITH_EVERY_TIMELINE)
def test_the_demo_resource_ends_ready_with_every_timeline(cenv: ContainerEnv) -> None:
    demo = yaml.safe_load((REPO / "examples" / "employessync.yaml").read_text())
    secret = yaml.safe_load((REPO / "examples" / "secret.yaml").read_text())
    secret["metadata"]["namespace"] = demo["metadata"]["namespace"] = NS
    secret["stringData"] = {"token": cenv.simulator.config.token, "dsn": cenv.database_url}
    demo["spec"]["api"].update(baseUrl=cenv.simulator.url, companyId=cenv.simulator.config.company_id)
    cenv.cluster.apply(secret)
    cenv.cluster.apply(demo)
    op = cenv.start_operator_container()
    cenv.wait_condition("Ready", "True", "RunSucceeded", name="demo", timeout=240)
    last = cenv.status("demo")["lastRun"]
    assert last["employees"] == 78 and last["inlineProcessed"] == 5 and last["state"] == "succeeded"
    assert last["batches"]["completed"] == 3 and last["batches"]["failed"] == 0  # 73 employees / 25
    assert cenv.timelines("demo") == 78
    cenv.consistent(cenv.simulator, "demo")
    assert set(cenv.runner.outcomes.values()) == {"Complete"} and len(cenv.runner.outcomes) == 3
    assert op.running()
    assert cenv.simulator.config.token not in op.logs()


@pytest.mark.fault(*rows.AN_OOM_KILLED_WORKER_IS_RETRIED_AND_SUCCEEDS_WITH_ROOM)
def test_an_oom_killed_worker_is_retried_and_succeeds_with_room(
    cenv: ContainerEnv, make_simulator: Callable[..., Simulator]
) -> None:
    small = make_simulator(employees=12, requests_per_second=1000.0)
    cenv.simulator = small
    cenv.secret()
    cenv.resource(inline__count=2, batches__size=10, batches__maxAttempts=2,
                  worker={"resources": {"limits": {"memory": "24Mi"}}})  # fmt: skip
    op = cenv.start_operator_container(small)
    degraded = cenv.wait_condition("Degraded", "True", "BatchesFailed", timeout=180)
    (failed,) = [b for b in cenv.status()["batches"] if b["state"] == "failed"]
    assert failed["attempts"] == 2, failed  # retried once, OOM-killed again
    assert "pod acme-r1-b1-a2-" in failed["lastError"], failed
    assert "container worker OOMKilled (exit code 137)" in failed["lastError"], failed
    assert "acme-r1-b1-a1-" not in failed["lastError"]  # the attempt's own pod, not an earlier one
    # The first attempt's failure, as `kubectl describe` shows it (told even when the retry was already
    # claimed by the time the operator looked again), and as the driver logged it:
    retried = [e["message"] for e in cenv.wait_events("BatchRetried")]
    assert any("Batch 1 attempt 1 failed" in m and "OOMKilled" in m for m in retried), retried
    assert "acme-r1-b1-a1 failed" in op.logs() and "OOMKilled (exit code 137) (retrying)" in op.logs()
    assert "batch 1" in degraded["message"]
    assert jobs_of(cenv) == ["acme-r1-b1-a1", "acme-r1-b1-a2"]

    cenv.cluster.patch(
        esync_path("acme"), {"spec": {"worker": {"resources": {"limits": {"memory": "256Mi"}}}}}
    )
    second = cenv.wait_run_finished(1, timeout=180)
    assert second["state"] == "succeeded" and second["trigger"] == "spec-changed"
    cenv.wait_condition("Ready", "True", "RunSucceeded")
    assert cenv.timelines() == 12


@pytest.mark.fault(*rows.A_TOKEN_SECRET_WITHOUT_THE_NAMED_KEY_IS_REPORTED_AND_RECOVER)
def test_a_token_secret_without_the_named_key_is_reported_and_recovers(cenv: ContainerEnv) -> None:
    cenv.secret(omit="token", tokn=cenv.simulator.config.token)  # a typo in the key
    cenv.resource()
    op = cenv.start_operator_container()
    problem = cenv.wait_condition("Ready", "False", "SecretKeyNotFound", timeout=120)
    assert "'token'" in problem["message"] and "default/esync" in problem["message"], problem
    assert cenv.simulator.config.token not in problem["message"]
    assert cenv.jobs() == [] and cenv.timelines() == 0

    cenv.secret()  # fixed, then asked again
    cenv.cluster.patch(esync_path("acme"), {"metadata": {"annotations": {
        "employessync.io/sync-requested-at": "2030-01-01T00:00:00Z"}}})  # fmt: skip
    cenv.wait_condition("Ready", "True", "RunSucceeded", timeout=240)
    assert cenv.timelines() == 78
    cenv.consistent(cenv.simulator)
    assert op.running()


@pytest.mark.fault(*rows.A_WORKER_KILLED_MID_BATCH_IS_RETRIED_WITHOUT_DUPLICATES)
def test_a_worker_killed_mid_batch_is_retried_without_duplicates(
    cenv: ContainerEnv, make_simulator: Callable[..., Simulator]
) -> None:
    slow = make_simulator(employees=30, requests_per_second=1000.0, latency_ms=300.0)
    op = cenv.sync_company(slow, batches__size=15, batches__parallelism=1)
    runner = cenv.runner
    assert isinstance(runner, ContainerJobRunner)
    victim = wait_for(lambda: runner.container_of("acme-r1-b1-a1"), 120, what="batch 1's container")
    wait_for(lambda: cenv.batch_status("acme-r1-b1-a1") == "processing", 60, what="batch 1 claimed")
    victim.kill(signal="SIGKILL")
    last = cenv.wait_run_finished(0, timeout=240)
    assert last["state"] == "succeeded", last
    assert runner.outcomes.get("acme-r1-b1-a1") == "Failed", runner.outcomes
    assert runner.outcomes.get("acme-r1-b1-a2") == "Complete", runner.outcomes
    assert "acme-r1-b1-a1 failed" in op.logs() and "Error (exit code 137) (retrying)" in op.logs()
    retried = [e["message"] for e in cenv.wait_events("BatchRetried")]
    assert any("Batch 1 attempt 1 failed" in m and "exit code 137" in m for m in retried), retried
    cenv.consistent(slow)  # every event once: the retried batch duplicated nothing


@pytest.mark.fault(*rows.THE_OPERATOR_STOPPED_MID_RUN_STOPS_IN_ITS_GRACE_PERIOD_AND_A)
def test_the_operator_stopped_mid_run_stops_in_its_grace_period_and_a_new_one_finishes(
    cenv: ContainerEnv, make_simulator: Callable[..., Simulator]
) -> None:
    slow = make_simulator(employees=40, requests_per_second=1000.0, latency_ms=100.0)
    first = cenv.sync_company(slow, batches__size=5, batches__parallelism=2)
    wait_for(lambda: len(cenv.runner.outcomes) >= 2, 180, what="two Jobs to finish")
    run_id = cenv.status()["currentRun"]["id"]
    code = first.stop()  # SIGTERM; SIGKILL only if the grace period runs out
    assert code != 137, f"the operator outlived its {first.grace_seconds} s grace period"
    assert code in (0, 143), code
    second = cenv.start_operator_container(slow)
    last = cenv.wait_run_finished(0, timeout=240)
    assert last["id"] == run_id and last["state"] == "succeeded"
    cenv.consistent(slow)
    names = [j["metadata"]["name"] for j in cenv.jobs()]
    assert len(names) == len(set(names)) == 8  # one Job per batch: nothing duplicated, nothing lost
    assert cenv.wait_events("RunResumed")
    assert second.running()
