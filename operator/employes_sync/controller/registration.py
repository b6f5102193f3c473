"""The kopf registration: handlers that start one reconciler per EmployesSync and wake it on changes.

Importing this module registers the handlers with kopf (cli/operator.py does, and so can a test that
runs kopf in-process); everything they do is in reconciler.py.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

import kopf

from employes_sync.controller.context import DsnRegistry, OperatorConfig, OperatorContext
from employes_sync.controller.pools import Pools
from employes_sync.controller.reconciler import Reconciler
from employes_sync.kube import jobs
from employes_sync.kube.kubeapi import KubeApi
from employes_sync.kube.spec import GROUP, PLURAL, VERSION

#: The component named by every Event the operator posts (`source.component`, `reportingComponent`).
EVENT_COMPONENT = "employes-sync"


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings: our own annotation prefix, no cluster scanning, quiet event posting."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled")
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # The chart grants no access to CRDs or namespaces: work from discovery at start (see rbac.scanning).
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING
    # Events say who wrote them: kopf's defaults ("kopf", instance "dev") showed `From: kopf` in
    # `kubectl describe` and named no replica; the pod's name tells which one posted.
    settings.posting.reporting_component = EVENT_COMPONENT
    settings.posting.reporting_instance = (os.environ.get("POD_NAME") or socket.gethostname())[:128]
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure(settings)
    if getattr(memo, "ctx", None) is None:
        config = getattr(memo, "config", None) or OperatorConfig()
        memo.ctx = OperatorContext(
            config=config,
            api=KubeApi(getattr(memo, "kube", None)),  # loaded by the CLI, which explains a missing one
            pools=Pools(max_size=config.db_pool_size),
            dsns=getattr(memo, "dsns", None) or DsnRegistry(),  # the metrics server's, if it runs
        )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext | None = getattr(memo, "ctx", None)
    if ctx is not None:
        await ctx.listeners.close()
        await ctx.webhooks.close()
        await ctx.close_heartbeats()
        await ctx.pools.close()
        ctx.api.close()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=5.0)
async def reconcile(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    ctx: OperatorContext = memo.ctx
    reconciler = Reconciler(ctx, body, logger)
    try:
        await reconciler.run(stopped)
    finally:
        ctx.dsns.discard(reconciler.scope)
        ctx.webhooks.forget(reconciler.scope)
        ctx.forget(reconciler.resource.namespace, reconciler.resource.name)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def resource_changed(
    namespace: str | None, name: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """A change (spec, annotations, suspend) wakes that resource's reconciler at once; its own status
    writes do not (see triggers.watched)."""
    ctx: OperatorContext | None = getattr(memo, "ctx", None)
    if ctx is not None:
        ctx.changed(namespace, name, body)


@kopf.on.event("batch", "v1", "jobs", labels={jobs.MANAGED_BY_LABEL: jobs.MANAGER})
async def job_changed(
    namespace: str | None, labels: Mapping[str, str], meta: kopf.Meta, memo: kopf.Memo, **_: Any
) -> None:
    """A Job of ours moved: its owner's run looks at its Jobs now, instead of at the next resync."""
    ctx: OperatorContext | None = getattr(memo, "ctx", None)
    if ctx is None:
        return
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "EmployesSync":
            ctx.job_changed(namespace, owner.get("name"))
