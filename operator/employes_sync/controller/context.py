"""What every reconciler of one operator process shares: its configuration, Kubernetes API and pools."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from employes_sync.allowlist import Allowlists
from employes_sync.controller.pools import Pools
from employes_sync.kube.kubeapi import KubeApi


@dataclass
class OperatorConfig:
    """What the command line gave the operator (see cli/operator.py)."""

    worker_image: str = "employes-sync:latest"
    worker_service_account: str | None = None
    poll_seconds: float = 2.0
    idle_seconds: float = 30.0
    #: What a resource may make the operator reach (API URLs, worker images and ServiceAccounts).
    allowlists: Allowlists = field(default_factory=Allowlists)
    #: scope -> DSN of the resources managed now, for the metrics collector (never logged or shown).
    dsns: dict[str, str] = field(default_factory=dict)


@dataclass
class OperatorContext:
    config: OperatorConfig
    api: KubeApi
    pools: Pools = field(default_factory=Pools)
    wakers: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    def waker(self, namespace: str, name: str) -> asyncio.Event:
        return self.wakers.setdefault((namespace, name), asyncio.Event())

    def wake(self, namespace: str | None, name: str | None) -> None:
        event = self.wakers.get((namespace or "", name or ""))
        if event is not None:
            event.set()
