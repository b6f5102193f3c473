"""The container pod runner against the real engine: each setting of a Job's pod reaches the container,
and the Job and Pod statuses read as the Job controller and the kubelet write them.

The Jobs are the operator's own manifests (kube/jobs.job_manifest) with only the command swapped for
a probe, so what is checked is what the operator's pods get.
"""

from __future__ import annotations

import json
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from employes_sync.kube import jobs
from tests.containers.engine import BuiltImage
from tests.containers.manifests import NS, worker_job
from tests.containers.runner import PODS, ContainerJobRunner
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import JOBS, Cluster, wait_for
from tests.reliability import rows

#: The first test to run builds the image (and, once per machine, the stand-in base) in its setup.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

PROBE = """
import json, os, pathlib
status = dict(line.split(":\\t", 1) for line in pathlib.Path("/proc/self/status").read_text().splitlines()
              if ":\\t" in line)
try:
    pathlib.Path("/opt/probe").write_text("x")
    root_writable = True
except OSError:
    root_writable = False
tmp = os.statvfs("/tmp")
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "token": os.environ.get("EMPLOYES_API_TOKEN"),
                  "cap_eff": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
                  "seccomp": status["Seccomp"].strip(), "root_writable": root_writable,
                  "tmp_bytes": tmp.f_blocks * tmp.f_frsize}))
"""


def secret(cluster: Cluster, **data: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "esync", "namespace": NS},
            "stringData": data,
        }
    )


def conditions(cluster: Cluster, name: str) -> list[list[str]]:
    """Every distinct list of condition types the Job went through, in order."""
    seen: list[list[str]] = []
    for version in cluster.history(JOBS, NS, name):
        types = [c["type"] for c in ((version or {}).get("status") or {}).get("conditions") or []]
        if types and (not seen or seen[-1] != types):
            seen.append(types)
    return seen


def container_state(cluster: Cluster, job_name: str) -> dict[str, Any]:
    """The state of the Job's pod's container ({} before the Job controller made the pod)."""
    found = [
        p for p in cluster.list(PODS, NS) if p["metadata"]["labels"].get(jobs.JOB_NAME_LABEL) == job_name
    ]
    assert len(found) <= 1, f"one pod per Job attempt, found {len(found)}"
    statuses = ((found[0].get("status") or {}).get("containerStatuses") if found else None) or [{}]
    return dict(statuses[0].get("state") or {})


def finished(cluster: Cluster, name: str) -> dict[str, Any] | None:
    found = cluster.get(JOBS, NS, name)
    types = {c["type"] for c in ((found or {}).get("status") or {}).get("conditions") or []}
    return found if types & {"Complete", "Failed"} else None


@pytest.mark.fault(*rows.A_JOB_WAITS_FOR_ITS_SECRET_THEN_RUNS_HARDENED_AND_COMPLETES)
def test_a_job_waits_for_its_secret_then_runs_hardened_and_completes(
    cluster: Cluster, container_runner: ContainerJobRunner, project_image: BuiltImage
) -> None:
    manifest = worker_job(project_image.tag, "probe", ["python", "-c", PROBE])
    name = manifest["metadata"]["name"]
    cluster.apply(manifest)
    waiting = wait_for(lambda: container_state(cluster, name).get("waiting"), 30, what="the pod to wait")
    assert waiting == {"reason": "CreateContainerConfigError", "message": 'secret "esync" not found'}
    secret(cluster, dsn="postgresql://db")  # the key the pod needs is still missing
    wait_for(lambda: "couldn't find key token" in str(container_state(cluster, name)), 30, what="key error")
    assert container_runner.outcomes == {}  # still pending: a config error does not fail the pod
    secret(cluster, dsn="postgresql://db", token="s3cret")
    done = wait_for(lambda: finished(cluster, name), 120, what="the Job to finish")
    status = done["status"]
    assert status["succeeded"] == 1 and not status.get("active") and not status.get("failed")
    assert status["startTime"] <= status["completionTime"]
    assert conditions(cluster, name)[-2:] == [["SuccessCriteriaMet"], ["SuccessCriteriaMet", "Complete"]]
    terminated = container_state(cluster, name)["terminated"]
    assert terminated["reason"] == "Completed" and terminated["exitCode"] == 0
    probe = json.loads((container_runner.logdir / f"{name}.log").read_text().strip().splitlines()[-1])
    assert probe["token"] == "s3cret"  # secretKeyRef resolved from the emulator's Secret
    assert (probe["uid"], probe["gid"]) == (10001, 10001)  # the image's user; runAsNonRoot verified it
    assert probe["cap_eff"] == "0000000000000000"  # capabilities.drop: ALL
    assert probe["no_new_privs"] == "1"  # allowPrivilegeEscalation: false
    assert probe["seccomp"] == "2"  # RuntimeDefault: Docker's default filter
    assert probe["root_writable"] is False  # readOnlyRootFilesystem
    assert probe["tmp_bytes"] == 64 * 2**20  # the emptyDir's sizeLimit, as a tmpfs


@pytest.mark.fault(*rows.A_CONTAINER_OVER_ITS_MEMORY_LIMIT_IS_OOM_KILLED_AND_THE_JOB_)
def test_a_container_over_its_memory_limit_is_oom_killed_and_the_job_fails(
    cluster: Cluster, container_runner: ContainerJobRunner, project_image: BuiltImage
) -> None:
    secret(cluster, dsn="postgresql://db", token="t")
    hog = "x = bytearray(512 * 2**20); print('survived')"
    manifest = worker_job(
        project_image.tag, "hog", ["python", "-c", hog], resources={"limits": {"memory": "32Mi"}}
    )
    name = manifest["metadata"]["name"]
    cluster.apply(manifest)
    done = wait_for(lambda: finished(cluster, name), 120, what="the Job to fail")
    assert done["status"]["failed"] == 1 and not done["status"].get("succeeded")
    assert conditions(cluster, name)[-2:] == [["FailureTarget"], ["FailureTarget", "Failed"]]
    failed = done["status"]["conditions"][-1]
    assert failed["reason"] == "BackoffLimitExceeded"  # the Job says only that it failed ...
    terminated = container_state(cluster, name)["terminated"]  # ... its pod says why
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), terminated
    assert "survived" not in (container_runner.logdir / f"{name}.log").read_text()


def test_an_oom_is_read_from_dockers_event_log_when_the_exit_is_seen_first(
    container_runner: ContainerJobRunner, docker_engine: docker.DockerClient, project_image: BuiltImage
) -> None:
    """The fallback for an exit 137 that Docker has not yet flagged: the daemon's ``oom`` event tells an
    OOM kill from a plain SIGKILL, so a loaded machine's race does not turn OOMKilled into Error."""

    def run(code: str) -> Container:
        return docker_engine.containers.run(
            project_image.tag,
            entrypoint=["python", "-c", code],
            detach=True,
            mem_limit="32m",
            labels=container_runner.labels,
            network_mode="none",
        )

    hog = run("x = bytearray(512 * 2**20)")
    killed = run("import time; time.sleep(120)")  # killed from outside: PID 1 ignores its own SIGKILL
    try:
        killed.kill()
        assert [c.wait(timeout=60)["StatusCode"] for c in (hog, killed)] == [137, 137]
        assert container_runner._oom_logged(hog) is True
        assert container_runner._oom_logged(killed) is False  # a plain SIGKILL waits, then says no
    finally:
        for container in (hog, killed):
            container.remove(force=True)


@pytest.mark.fault(*rows.A_JOB_PAST_ITS_DEADLINE_IS_KILLED_WITH_DEADLINE_EXCEEDED)
def test_a_job_past_its_deadline_is_killed_with_deadline_exceeded(
    cluster: Cluster,
    container_runner: ContainerJobRunner,
    project_image: BuiltImage,
    docker_engine: Any,
    container_labels: dict[str, str],
) -> None:
    secret(cluster, dsn="postgresql://db", token="t")
    manifest = worker_job(
        project_image.tag, "slow", ["python", "-c", "import time; time.sleep(600)"], deadline=3
    )
    name = manifest["metadata"]["name"]
    cluster.apply(manifest)
    done = wait_for(lambda: finished(cluster, name), 60, what="the deadline")
    assert done["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"
    assert conditions(cluster, name)[-2:] == [["FailureTarget"], ["FailureTarget", "Failed"]]
    label = f"io.employessync.job={name}"
    assert docker_engine.containers.list(all=True, filters={"label": label}) == []  # killed and removed


@pytest.mark.fault(*rows.RUN_AS_NON_ROOT_REFUSES_AN_IMAGE_THAT_RUNS_AS_ROOT)
def test_run_as_non_root_refuses_an_image_that_runs_as_root(
    cluster: Cluster, container_runner: ContainerJobRunner, stand_in_base: str
) -> None:
    secret(cluster, dsn="postgresql://db", token="t")
    manifest = worker_job(
        stand_in_base, "rooty", ["python3", "-c", "print('ran')"]
    )  # the base's user is root
    name = manifest["metadata"]["name"]
    cluster.apply(manifest)
    waiting = wait_for(lambda: container_state(cluster, name).get("waiting"), 30, what="the refusal")
    assert waiting == {
        "reason": "CreateContainerConfigError",
        "message": "container has runAsNonRoot and image will run as root",
    }
    assert container_runner.outcomes == {}
