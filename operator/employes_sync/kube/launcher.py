"""Batches as Kubernetes Jobs: the launcher the shared driver (executors/driver.py) uses in a cluster.

The cluster is the memory: which attempts run and which ended is read from the Jobs of the run, so
an operator that restarts finds them again, and a Job name computed twice is created once (409).
Closing the launcher leaves Jobs running: they are the work, and outlive any one operator process.

The Jobs are listed when the operator's watch says one of the resource's Jobs changed (`JobChanges`),
and otherwise only every `resync_seconds`, the safety net for an event the watch missed. Listing at
every look of the driver made 200 running resources ask the API server for their Jobs 100 times a
second while nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client import ApiException
from psycopg_pool import AsyncConnectionPool

from employes_sync.executors.driver import Ended
from employes_sync.kube import jobs
from employes_sync.kube.kubeapi import KubeApi
from employes_sync.store import queue as queue_store
from employes_sync.store.queue import Batch

log = logging.getLogger(__name__)

#: (batch, attempt) -> the Job manifest
ManifestFactory = Callable[[Batch, int], dict[str, Any]]


#: The longest the Jobs go unlisted while the watch reports no change (a missed event costs this).
RESYNC_SECONDS = 30.0


class JobChanges:
    """The watch's word that one resource's Jobs changed, for the launcher and the driver of its run.

    `mark` is called for every event of one of its Jobs; the launcher `take`s whether any came since
    it last listed, and the driver waits on `event` to look at once instead of at its next poll. A
    new one says "changed": a run that starts or resumes lists its Jobs first.
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._changed = True

    def mark(self) -> None:
        self._changed = True
        self.event.set()

    def take(self) -> bool:
        changed, self._changed = self._changed, False
        return changed


def must_list(changed: bool, since_listed: float | None, resync_seconds: float) -> bool:
    """Whether to list the run's Jobs now: never listed, a change reported, or the resync is due."""
    return changed or since_listed is None or since_listed >= resync_seconds


class KubernetesLauncher:
    def __init__(
        self,
        api: KubeApi,
        pool: AsyncConnectionPool,
        namespace: str,
        resource: str,
        run_id: int,
        manifest: ManifestFactory,
        *,
        changes: JobChanges | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._pool = pool
        self._namespace = namespace
        self._labels = {**jobs.selector_labels(resource), jobs.RUN_LABEL: str(run_id)}
        self._manifest = manifest
        self._active: dict[str, tuple[str, int]] = {}  # job name -> (batch id, attempt)
        self._reported: set[str] = set()
        #: Without a watch's changes (None), every look lists.
        self._changes = changes
        self._resync_seconds = resync_seconds
        self._clock = clock
        self._listed_at: float | None = None
        self.created: list[str] = []

    async def launch(self, batch: Batch, attempt: int) -> str:
        manifest = self._manifest(batch, attempt)
        name = str(manifest["metadata"]["name"])
        if await self._api.create_job(self._namespace, manifest):
            self.created.append(name)
        else:
            log.info("Job %s exists already: not creating it again", name)
        self._active[name] = (batch.id, attempt)
        await queue_store.set_job_name(self._pool, batch.id, name)
        return name

    async def ended(self) -> list[Ended]:
        """Attempts that ended, from a list of the run's Jobs when one is due (see `must_list`); with
        nothing reported changed since the last list, nothing has ended that it would show."""
        now = self._clock()
        if self._changes is not None:
            # Taken before listing: an event during the list is a change the next look lists for.
            changed = self._changes.take()
            since = None if self._listed_at is None else now - self._listed_at
            if not must_list(changed, since, self._resync_seconds):
                return []
        self._listed_at = now
        found = await self._api.list_jobs(self._namespace, self._labels)
        seen: set[str] = set()
        done: list[Ended] = []
        for job in found:
            name = job["metadata"]["name"]
            seen.add(name)
            identity = _identity(job)
            if identity is None:
                continue
            finished, succeeded, reason = jobs.job_finished(job)
            if not finished:
                self._active[name] = identity
                continue
            self._active.pop(name, None)
            if name not in self._reported:
                self._reported.add(name)
                if not succeeded:
                    reason = await self._with_pod_failure(name, reason)
                done.append(Ended(identity[0], identity[1], succeeded, reason))
        for name, (batch_id, attempt) in list(self._active.items()):
            if name not in seen:  # deleted while it ran (or by its TTL before we looked)
                del self._active[name]
                self._reported.add(name)
                done.append(Ended(batch_id, attempt, False, f"Job {name} was deleted before it finished"))
        return done

    async def _with_pod_failure(self, job_name: str, reason: str) -> str:
        """The Job's failure plus what its pod says (OOMKilled, exit code, a config error), when readable:
        without the pods permission, or once the pods are gone, the Job's own reason stands alone."""
        try:
            pods = await self._api.list_pods(self._namespace, {jobs.JOB_NAME_LABEL: job_name})
        except ApiException as exc:
            log.debug(
                "cannot read the pods of Job %s (%s): reporting the Job's reason only", job_name, exc.status
            )
            return reason
        detail = jobs.pod_failure(pods)
        return f"{reason}: {detail}" if detail else reason

    def running(self) -> set[str]:
        return {batch_id for batch_id, _ in self._active.values()}

    def active_jobs(self) -> int:
        return len(self._active)

    async def close(self) -> None:
        """Jobs keep running without the operator; a restarted one picks them up by name."""
        return None


def _identity(job: Mapping[str, Any]) -> tuple[str, int] | None:
    meta = job.get("metadata") or {}
    batch_id = (meta.get("annotations") or {}).get(jobs.BATCH_ID_ANNOTATION)
    attempt = (meta.get("labels") or {}).get(jobs.ATTEMPT_LABEL)
    if not batch_id or not attempt or not str(attempt).isdigit():
        return None
    return batch_id, int(attempt)
