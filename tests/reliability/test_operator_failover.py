"""Two operator replicas with kopf peering against the emulator: the active one SIGKILLed mid-run.

Both are real `employes-sync operator --peering` processes; the emulator serves kopf's peering
resources from crds/kopfpeering.yaml, as a cluster with the chart installed would. The standby must
stay idle while the active replica works, take over once the active replica's keep-alive has run
out, and finish the run it finds in progress: same run id, every employee timelined, and not one
Job created twice for a batch attempt.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from employes_sync.employes.simulator import Simulator
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import BIN, REPO, Cluster, JobRunner, OperatorProcess, wait_for
from tests.test_operator_e2e import NS, Env

pytestmark = pytest.mark.slow

PEERING = "esync"
PEERINGS = "kopf.dev/v1/kopfpeerings"
#: Short enough for a quick test; the chart's default is 15 s.
LIFETIME = 5


def install_peering(cluster: Cluster) -> None:
    """What the chart installs for two replicas: the peering CRDs and one KopfPeering."""
    for crd in yaml.safe_load_all((REPO / "crds" / "kopfpeering.yaml").read_text()):
        cluster.apply(crd)
    wait_for(lambda: cluster.request("GET", "/apis/kopf.dev/v1")[0] == 200, 5, what="kopf.dev served")
    cluster.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                   "metadata": {"name": PEERING, "namespace": NS}})  # fmt: skip


def replica_argv(api_url: str) -> list[str]:
    return [str(BIN / "employes-sync"), "operator", "-n", NS, "--metrics-port", "0", "--health-port", "0",
            "--worker-image", "employes-sync:test", "--poll-seconds", "0.2", "--allow-api-url", api_url,
            "--peering", PEERING, "--peering-lifetime", str(LIFETIME)]  # fmt: skip


def peers(cluster: Cluster) -> dict[str, Any]:
    obj = cluster.get(PEERINGS, NS, PEERING) or {}
    return {k: v for k, v in (obj.get("status") or {}).items() if v}


@pytest.fixture
def replicas(
    cluster_with_crd: Cluster, tmp_path: Path, simulator: Simulator
) -> Iterator[Callable[[str], OperatorProcess]]:
    """Operator replicas, each logging to its own directory; all stopped at teardown."""
    started: list[OperatorProcess] = []

    def start(name: str) -> OperatorProcess:
        env = {"EMPLOYES_SYNC_RETRY_BASE_SECONDS": "0.5", "POD_NAME": name}
        assert simulator.url is not None
        proc = OperatorProcess(cluster_with_crd, tmp_path / name, replica_argv(simulator.url), env).start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.terminate(10)
            print(f"--- {proc.logdir.name}\n{proc.logs()[-8000:]}", file=sys.stderr)


@pytest.fixture
def env(
    cluster_with_crd: Cluster,
    job_runner: JobRunner,
    operator_factory: Callable[..., OperatorProcess],
    database_url: str,
    simulator: Simulator,
) -> Iterator[Env]:
    install_peering(cluster_with_crd)
    yield Env(cluster_with_crd, job_runner, operator_factory, database_url, simulator)


@pytest.mark.fault(
    "Operator",
    "active replica of two killed mid-run (kopf peering)",
    "two replicas peering; the active one SIGKILLed while Jobs run: the standby, idle until then, resumes"
    " once the keep-alive runs out (5 s here, 15 s in the chart) and finishes the same run; one Job per"
    " batch (16), none created twice, every employee timelined, parallelism held",
)
def test_the_standby_finishes_the_run_when_the_active_replica_is_killed(
    env: Env, replicas: Callable[[str], OperatorProcess]
) -> None:
    env.secret()
    env.resource(inline__count=0, batches__size=5, batches__parallelism=2)
    active = replicas("replica-a")
    wait_for(lambda: len(env.runner.seen) >= 2, 60, what="the first replica to start Jobs")
    run_id = env.status()["currentRun"]["id"]
    standby = replicas("replica-b")  # started later: a lower priority
    wait_for(lambda: len(peers(env.cluster)) == 2, 30, what="both replicas in the peering object")
    priorities = sorted(p["priority"] for p in peers(env.cluster).values())
    assert priorities[0] != priorities[1], "equal priorities would pause both replicas"
    wait_for(lambda: len(env.runner.seen) >= 5, 60, what="more Jobs from the active replica")
    assert env.status().get("currentRun"), "the run must still be going when the active replica dies"
    # kopf starts a replica paused and resumes it only when no live peer ranks higher
    assert "Resuming operations" not in standby.logs(), "the standby worked beside the active replica"
    assert "started as" not in standby.logs()

    active.kill()
    killed_at = time.monotonic()
    created_before = list(env.runner.seen)
    wait_for(lambda: "Resuming operations" in standby.logs(), LIFETIME + 30, what="the standby to resume")
    resumed_after = time.monotonic() - killed_at
    last = env.wait_run_finished(0, timeout=120)

    assert last["id"] == run_id and last["state"] == "succeeded", last
    assert env.timelines() == len(env.simulator.company)
    names = [j["metadata"]["name"] for j in env.jobs()]
    repeated = [name for name, n in Counter(env.runner.seen).items() if n > 1]
    assert not repeated, f"Jobs created twice for one batch attempt: {repeated}"
    assert len(names) == len(set(names)) == 16  # 78 employees in batches of 5: none lost, none doubled
    assert set(created_before) <= set(names)
    assert env.runner.max_active["acme"] <= 2
    assert env.wait_events("RunResumed")
    print(f"standby resumed {resumed_after:.1f} s after the SIGKILL (keep-alive lifetime {LIFETIME} s)")
