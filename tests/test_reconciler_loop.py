"""The reconcile loop survives a cancellation nobody asked for, and still stops when it is cancelled.

kopf counts a daemon that ends with CancelledError, unasked, as exited on its own and never starts it
again: in a 200-resource start burst three daemons died so, and their runs stayed open for good. The
loop runs here against kmock's emulator (its status writes are real); only the pass itself is a stand-in
that raises what a library call raised there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import kubernetes
import pytest

from employes_sync.controller import reasons
from employes_sync.controller.context import OperatorConfig, OperatorContext
from employes_sync.controller.reconciler import Reconciler
from employes_sync.kube.kubeapi import KubeApi
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import Cluster

NS = "default"


class Stopped:
    """What the loop reads of kopf's DaemonStopped: truthiness and wait()."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


async def stray_cancellation() -> None:
    """What escaped a library call in the burst: a cancelled future's error, our task not cancelled."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    await future


class Passes(Reconciler):
    """The real loop; each pass is a scripted stand-in."""

    def __init__(self, *args: Any, script: list[str], stopped: Stopped) -> None:
        super().__init__(*args)
        self.script = script
        self.done: list[str] = []
        self.stop = stopped
        self.hanging = asyncio.Event()

    async def step(self) -> bool:
        what = self.script.pop(0) if self.script else "stop"
        self.done.append(what)
        if what == "stray":
            await stray_cancellation()
        if what == "stop":
            self.stop.event.set()
        if what == "hang":
            self.hanging.set()
            await asyncio.Event().wait()
        return True


def reconciler(cluster: Cluster, script: list[str], stopped: Stopped) -> Passes:
    obj = cluster.apply({
        "apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
        "metadata": {"name": "acme", "namespace": NS},
        "spec": {"api": {"companyId": "c1", "tokenSecretRef": {"name": "esync", "key": "token"}},
                 "database": {"dsnSecretRef": {"name": "esync", "key": "dsn"}}},
    })  # fmt: skip
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    config = OperatorConfig(retry_base_seconds=0.01, retry_max_seconds=0.05)
    ctx = OperatorContext(config=config, api=KubeApi(configuration))
    return Passes(ctx, kopf.Body(obj), logging.getLogger("test"), script=script, stopped=stopped)


def test_a_cancellation_is_stray_only_when_nobody_asked_for_one() -> None:
    assert reasons.is_stray_cancellation(0, stopping=False)
    assert not reasons.is_stray_cancellation(1, stopping=False)  # kopf cancelled the daemon's task
    assert not reasons.is_stray_cancellation(0, stopping=True)  # kopf asked the daemon to stop


async def test_the_loop_goes_on_after_a_stray_cancellation_and_says_so(cluster_with_crd: Cluster) -> None:
    stopped = Stopped()
    loop = reconciler(cluster_with_crd, ["stray", "idle"], stopped)
    await asyncio.wait_for(loop.run(stopped), 30)  # type: ignore[arg-type]
    assert loop.done == ["stray", "idle", "stop"]  # the pass after the stray one ran
    conditions = cluster_with_crd.get("employessync.io/v1alpha1/employessyncs", NS, "acme")["status"][
        "conditions"
    ]
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileInterrupted")


async def test_a_real_cancellation_still_stops_the_loop(cluster_with_crd: Cluster) -> None:
    stopped = Stopped()
    loop = reconciler(cluster_with_crd, ["hang"], stopped)
    task = asyncio.create_task(loop.run(stopped))  # type: ignore[arg-type]
    await asyncio.wait_for(loop.hanging.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    obj = cluster_with_crd.get("employessync.io/v1alpha1/employessyncs", NS, "acme")
    assert not (obj.get("status") or {}).get("conditions")  # no problem was reported: it just stopped
