"""One EmployesSync as the operator sees it: its spec read from the live body, its status and its events.

Every part of the reconciler (connection.py, ownership.py, runs.py, reconciler.py) writes through one
`Resource`, so the cached status that conditions are recomputed from is the one the last patch wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from employes_sync.controller import outcomes, reasons
from employes_sync.controller.context import OperatorContext
from employes_sync.kube import status
from employes_sync.kube.problem import Problem
from employes_sync.kube.spec import ResourceSpec, SpecError, parse


class Resource:
    """The object behind one reconciler: who it is, what it asks for, what its status says."""

    def __init__(
        self, ctx: OperatorContext, body: kopf.Body, logger: logging.Logger | logging.LoggerAdapter[Any]
    ):
        self.ctx = ctx
        self.body = body  # kopf keeps a daemon's body current
        self.namespace: str = body.metadata.namespace or ""
        self.name: str = body.metadata.name or ""
        self.scope = f"{self.namespace}/{self.name}"
        self.logger = logger
        self.status: dict[str, Any] = dict(body.get("status") or {})

    @property
    def generation(self) -> int:
        return int(self.body.metadata.get("generation") or 1)

    def spec(self) -> ResourceSpec:
        try:
            return parse(self.body.get("spec") or {})
        except SpecError as exc:
            raise reasons.problem_for(exc) from None

    def refuse_unless_allowed(self, spec: ResourceSpec) -> None:
        """The API URL, worker image and ServiceAccount must be on the operator's lists.

        Checked before a Secret is read (the token's destination decides whether it may be read at
        all), and again before each Job, since the spec may change while a run drives its batches.
        """
        refusal = self.ctx.config.allowlists.refusal(
            spec.base_url, spec.worker.image, spec.worker.service_account_name
        )
        if refusal is not None:
            raise Problem(refusal.reason, refusal.message)

    # --- writing --------------------------------------------------------------------------------

    async def patch(
        self,
        changes: Mapping[str, Any],
        *,
        ready: outcomes.Condition | None = None,
        progressing: outcomes.Condition | None = None,
        degraded: outcomes.Condition | None = None,
        ready_while_running: bool = False,
    ) -> None:
        """`publish` without events, for a status change no outcome function names."""
        await self.publish(outcomes.Publication(
            changes=changes, ready=ready, progressing=progressing, degraded=degraded,
            ready_while_running=ready_while_running,
        ))  # fmt: skip

    async def publish(self, publication: outcomes.Publication) -> None:
        """Merge-patch the status (conditions recomputed from the cached ones), then post the events."""
        body = outcomes.status_patch(publication, self.status, self.generation)
        await self.ctx.api.patch_status(self.namespace, self.name, body)
        for key, value in body.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value
        for event in publication.events:
            self.event(event.type, event.reason, event.message)

    def event(self, type_: str, reason: str, message: str) -> None:
        try:
            kopf.event(self.body, type=type_, reason=reason, message=status.clip(message, 1000))
        except Exception as exc:  # events are nice to have; never let one stop a run
            self.logger.debug("event %s not posted: %s", reason, exc)
