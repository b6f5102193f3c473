"""What every reconciler of one operator process shares: its configuration, Kubernetes API and pools."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.allowlist import Allowlists
from employes_sync.controller.listener import DatabaseListeners, requested_resource
from employes_sync.controller.pools import DEFAULT_POOL_SIZE, Pools
from employes_sync.controller.webhooks import DeliveryLoops
from employes_sync.executors.lease import Heartbeat
from employes_sync.kube import triggers
from employes_sync.kube.kubeapi import KubeApi
from employes_sync.kube.launcher import JobChanges
from employes_sync.store.runs import Owner


@dataclass
class OperatorConfig:
    """What the command line gave the operator (see cli/operator.py)."""

    worker_image: str = "employes-sync:latest"
    worker_service_account: str | None = None
    #: Pull policy of Jobs that run `worker_image` (the chart's image.pullPolicy); None: Kubernetes' default.
    worker_image_pull_policy: str | None = None
    poll_seconds: float = 2.0
    idle_seconds: float = 30.0
    #: Connections per database, shared by every resource using it (see pools.py).
    db_pool_size: int = DEFAULT_POOL_SIZE
    #: What a resource may make the operator reach (API URLs, worker images and ServiceAccounts).
    allowlists: Allowlists = field(default_factory=Allowlists)
    #: Who this replica is in sync_runs.owner: a restarted replica (same pod name) resumes its runs at
    #: once; another waits until the run's lease has expired (coalescing meanwhile).
    owner: Owner = field(default_factory=Owner.operator)
    #: The lease of a run this operator drives, renewed every third of it.
    run_lease_seconds: float = 20.0
    #: Backoff of a resource whose Secret, database or API is a problem: base * 2^(failures - 1), capped.
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    #: The operator's HTTPS_PROXY and the like, passed on to its Jobs (see kube/jobs.py).
    proxy_env: Mapping[str, str] = field(default_factory=dict)
    #: The CA certificates it trusts besides the bundle (employes/trust.py), as PEM: its Jobs get them too.
    extra_ca_pem: str | None = None


class DsnRegistry:
    """scope -> DSN of the resources managed now, read by the metrics thread (never logged or shown).

    Written by the reconcilers on the event loop and read from the metrics server's thread: a lock
    and a copy on read, so the collector never iterates a dict that changes under it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dsns: dict[str, str] = {}

    def set(self, scope: str, dsn: str) -> None:
        with self._lock:
            self._dsns[scope] = dsn

    def discard(self, scope: str) -> None:
        with self._lock:
            self._dsns.pop(scope, None)

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._dsns)


@dataclass
class OperatorContext:
    config: OperatorConfig
    api: KubeApi
    pools: Pools = field(default_factory=Pools)
    dsns: DsnRegistry = field(default_factory=DsnRegistry)
    wakers: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    #: What each resource's reconciler acts on, as the last watch event showed it (see `changed`).
    seen: dict[tuple[str, str], Hashable] = field(default_factory=dict)
    #: The run being driven of each resource, told when one of its Jobs changes (see `job_changed`).
    job_changes: dict[tuple[str, str], JobChanges] = field(default_factory=dict)
    listeners: DatabaseListeners = field(init=False)
    webhooks: DeliveryLoops = field(default_factory=DeliveryLoops)
    #: One lease renewal per database for every run this replica drives there (see `heartbeat`).
    heartbeats: dict[AsyncConnectionPool, Heartbeat] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.listeners = DatabaseListeners(self.on_notification, self.wake_all)

    def heartbeat(self, pool: AsyncConnectionPool) -> Heartbeat:
        """The heartbeat of this replica's runs on that database, made at its first run there."""
        beat = self.heartbeats.get(pool)
        if beat is None:
            beat = Heartbeat(pool, self.config.owner, self.config.run_lease_seconds)
            self.heartbeats[pool] = beat
        return beat

    async def close_heartbeats(self) -> None:
        for beat in self.heartbeats.values():
            await beat.close()
        self.heartbeats.clear()

    def waker(self, namespace: str, name: str) -> asyncio.Event:
        return self.wakers.setdefault((namespace, name), asyncio.Event())

    def wake(self, namespace: str | None, name: str | None) -> None:
        event = self.wakers.get((namespace or "", name or ""))
        if event is not None:
            event.set()

    def changed(self, namespace: str | None, name: str | None, obj: Mapping[str, Any]) -> None:
        """A watch event of one resource: wake its reconciler unless only its status moved."""
        key, now = (namespace or "", name or ""), triggers.watched(obj)
        if self.seen.get(key) == now:
            return
        self.seen[key] = now
        self.wake(namespace, name)

    def forget(self, namespace: str, name: str) -> None:
        """The resource's reconciler ended (the resource is gone, or the operator stops).

        Its waker stays: a reconciler started for the same name meanwhile holds that very event.
        """
        self.seen.pop((namespace, name), None)

    def watch_jobs(self, namespace: str, name: str) -> JobChanges:
        """A fresh `JobChanges` for the run of that resource that starts being driven now."""
        changes = self.job_changes[(namespace, name)] = JobChanges()
        return changes

    def unwatch_jobs(self, namespace: str, name: str, changes: JobChanges) -> None:
        if self.job_changes.get((namespace, name)) is changes:
            del self.job_changes[(namespace, name)]

    def job_changed(self, namespace: str | None, name: str | None) -> None:
        """One of that resource's Jobs changed: the run being driven looks at them now.

        Only the driver has a use for it: the reconciler is inside that drive while its Jobs run. Woken
        as well, a reconciler waiting out another operator's lease on the run (coalesced) looked at the
        database again at every event of that operator's Jobs, to find the lease still held.
        """
        changes = self.job_changes.get((namespace or "", name or ""))
        if changes is not None:
            changes.mark()

    def wake_all(self) -> None:
        for event in self.wakers.values():
            event.set()

    def on_notification(self, payload: dict[str, Any]) -> None:
        """A notification heard on one of our databases: wake the resource it asks a run of."""
        target = requested_resource(payload)
        if target is not None:
            self.wake(*target)
