"""The Job runner's container mode: each Job's pod runs as a Docker container, as a kubelet would run it.

:class:`ContainerJobRunner` is :class:`tests.fixtures.kube.JobRunner` (the same loop over the Jobs in the
emulator, the same Job status writes as the Job controller) with the pod part replaced: for each Job it
creates a Pod in the emulator (labels and owner as the Job controller sets them), turns the pod template
into a ``docker run`` with :func:`tests.containers.pods.plan`, and writes the Pod's status as the kubelet
reports it: ``waiting`` with ``CreateContainerConfigError`` (retried, as the kubelet does, until the
Secret appears or the Job's deadline passes), ``running``, ``terminated`` with ``Completed``, ``Error`` or
``OOMKilled`` and the exit code. Container logs are saved under ``logdir`` when the pod ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from tests.containers import engine, pods
from tests.fixtures.kube import SECRETS, JobRunner, RunningJob, _find, _now

PODS = "v1/pods"
#: How often a pod whose config the kubelet refused is tried again.
CONFIG_RETRY_SECONDS = 0.5
SIGKILL_EXIT = 137  # 128 + SIGKILL: what the OOM killer, and also a plain kill, leaves
OOM_EVENT_WAIT_SECONDS = 5.0


@dataclass
class Pod:
    name: str
    container_name: str = ""
    container: Container | None = None
    last_try: float = 0.0
    waiting: str = ""


@dataclass
class ContainerJobRunner(JobRunner):
    client: docker.DockerClient | None = None
    labels: dict[str, str] = field(default_factory=dict)
    poll: float = 0.25
    pods: dict[str, Pod] = field(default_factory=dict)  # Job uid -> its pod

    # --- the Job controller's part: one Pod per Job ------------------------------------------------------

    async def _start(self, key: tuple[str, str, str], raw: dict[str, Any]) -> None:
        ns, name, uid = key
        self.seen.append(name)
        deadline = (raw.get("spec") or {}).get("activeDeadlineSeconds")
        now = time.monotonic()
        job = RunningJob(ns, name, uid, started=now, deadline=now + deadline if deadline else None)
        self.running[key] = job
        pod = Pod(f"{name}-{uuid.uuid4().hex[:5]}", raw["spec"]["template"]["spec"]["containers"][0]["name"])
        self.pods[uid] = pod
        await self._api("POST", f"/api/v1/namespaces/{ns}/pods", self._pod_manifest(raw, pod.name))
        await self._patch_status(ns, name, {"active": 1, "ready": 0, "startTime": _now()})
        await self._try_to_run(job, raw, pod)

    def _pod_manifest(self, job: Mapping[str, Any], pod_name: str) -> dict[str, Any]:
        meta = job["metadata"]
        template = job["spec"]["template"]
        labels = {
            **(template.get("metadata") or {}).get("labels", {}),
            "batch.kubernetes.io/job-name": meta["name"],
            "job-name": meta["name"],
            "batch.kubernetes.io/controller-uid": meta["uid"],
            "controller-uid": meta["uid"],
        }
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        }

    # --- the kubelet's part ------------------------------------------------------------------------------

    async def _try_to_run(self, job: RunningJob, raw: dict[str, Any], pod: Pod) -> None:
        pod.last_try = time.monotonic()
        template = raw["spec"]["template"]
        try:
            plan = pods.plan(
                {"metadata": {"name": pod.name}, "spec": template["spec"]},
                job.namespace,
                secrets=self._secret,
                image_user=self._image_user,
                labels={**self.labels, "io.employessync.job": job.name},
            )
        except pods.PodConfigError as exc:
            if pod.waiting != exc.message:
                pod.waiting = exc.message
                await self._pod_status(
                    job.namespace, pod, "Pending", {"waiting": {"reason": exc.reason, "message": exc.message}}
                )
            return
        assert self.client is not None
        client = self.client
        container = await asyncio.to_thread(
            lambda: client.containers.run(detach=True, name=pod.name, **plan.create_kwargs())
        )
        pod.container = container
        await self._pod_status(job.namespace, pod, "Running", {"running": {"startedAt": _now()}})
        await self._patch_status(job.namespace, job.name, {"ready": 1})

    def _secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        assert self.cluster.emulator is not None
        secret = _find(self.cluster.emulator, SECRETS, namespace, name)
        if secret is None or secret.deleted:
            return None
        return dict(secret.raw.get("data") or {})

    def _image_user(self, image: str) -> str:
        assert self.client is not None
        try:
            return engine.image_user(self.client, image)
        except docker.errors.ImageNotFound as exc:
            # imagePullPolicy aside, nothing can be pulled here: the pod waits, as on a cluster.
            raise pods.PodConfigError(f"image {image} is not present", reason="ErrImageNeverPull") from exc

    async def _watch(self, key: tuple[str, str, str], raw: dict[str, Any]) -> None:
        job = self.running[key]
        pod = self.pods[job.uid]
        if await self._past_deadline(key):
            return
        if pod.container is None:
            if time.monotonic() - pod.last_try >= CONFIG_RETRY_SECONDS:
                await self._try_to_run(job, raw, pod)
            return
        await asyncio.to_thread(pod.container.reload)
        if pod.container.status not in ("exited", "dead"):
            return
        terminated = await self._terminated(job, pod)
        await self._pod_exited(key, int(terminated["exitCode"]))

    def _oom_logged(self, container: Container) -> bool:
        """Whether Docker logs an ``oom`` event for a container that exited 137 without its flag.

        containerd reports the cgroup's OOM and the task's exit as two events from two sources, so the
        daemon can record the exit first and set ``OOMKilled`` a moment later: seen once in a loaded CI
        run as exit 137 with reason "Error". The daemon logs the ``oom`` event when it sets the flag, so
        the event log alone answers, one call per poll, for a bounded time; a plain SIGKILL costs only
        that wait. Blocking: run it in a thread.
        """
        assert self.client is not None
        since = int(time.time()) - 3600
        deadline = time.monotonic() + OOM_EVENT_WAIT_SECONDS
        while True:
            events = self.client.events(
                since=since, until=int(time.time()), filters={"container": container.id, "event": "oom"}
            )
            try:
                if next(events, None) is not None:
                    return True
            finally:
                events.close()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    async def _terminated(self, job: RunningJob, pod: Pod, killed: bool = False) -> dict[str, Any]:
        """The pod's terminated state as the kubelet reports it; the container's log kept, then removed."""
        assert pod.container is not None
        container = pod.container
        await asyncio.to_thread(container.reload)
        state = container.attrs["State"]
        code = int(state.get("ExitCode", -1))
        oom = bool(state.get("OOMKilled")) or (
            code == SIGKILL_EXIT and not killed and await asyncio.to_thread(self._oom_logged, container)
        )
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": state.get("StartedAt", "")[:19] + "Z",
            "finishedAt": state.get("FinishedAt", "")[:19] + "Z",
        }
        logs = await asyncio.to_thread(container.logs)
        job.log = self.logdir / f"{job.name}.log"
        job.log.write_bytes(logs)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            await asyncio.to_thread(container.remove, force=True)
        phase = "Succeeded" if code == 0 else "Failed"
        await self._pod_status(job.namespace, pod, phase, {"terminated": terminated})
        return terminated

    async def _kill(self, job: RunningJob) -> None:
        pod = self.pods.get(job.uid)
        if pod is None or pod.container is None:
            return
        container = pod.container
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            await asyncio.to_thread(container.kill)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            await asyncio.to_thread(container.wait, timeout=30)
        await self._terminated(job, pod, killed=True)
        pod.container = None

    def container_of(self, job_name: str) -> Container | None:
        """The running container of a Job's pod (for a test that kills it), or None."""
        for key, job in self.running.items():
            pod = self.pods.get(key[2])
            if job.name == job_name and pod is not None and pod.container is not None:
                return pod.container
        return None

    # --- API writes ----------------------------------------------------------------------------------

    async def _pod_status(self, ns: str, pod: Pod, phase: str, state: dict[str, Any]) -> None:
        status = {
            "phase": phase,
            "containerStatuses": [
                {"name": pod.container_name, "ready": phase == "Running", "restartCount": 0, "state": state}
            ],
        }
        await self._api("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod.name}/status", {"status": status})

    async def _api(self, method: str, path: str, body: dict[str, Any]) -> None:
        emulator = self.cluster.emulator
        assert emulator is not None
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with emulator.request(method, path, json=body, headers=headers) as resp:
            await resp.read()
