"""A resource's Secrets, database pool and webhooks: what a pass connects to before it looks at runs.

Reading both Secrets (four GETs with the label checks) on every idle pass of every resource was most
of the idle operator's work, so an idle pass reuses a recent read; a run always reads them afresh.
"""

from __future__ import annotations

import asyncio
import time

from psycopg_pool import AsyncConnectionPool

from employes_sync.controller.resource import Resource
from employes_sync.kube import status
from employes_sync.kube.problem import Problem
from employes_sync.kube.secrets import read_secret_value
from employes_sync.kube.spec import ResourceSpec, SecretRef
from employes_sync.store import sync_requests
from employes_sync.webhooks.delivery import Receiver
from employes_sync.webhooks.signing import WebhookConfigError, check_url, parse_secret

#: How long an idle pass may use Secrets read before; a run always reads them afresh.
SECRETS_REUSE_SECONDS = 300.0


class Connection:
    """What `connect()` last read and checked for one resource."""

    def __init__(self, resource: Resource):
        self.resource = resource
        #: The token and DSN Secrets whose label the last connect() checked (the only ones Jobs name).
        self.checked_refs: tuple[SecretRef, SecretRef] | None = None
        self.registered = False
        self.webhook_problems: dict[str, str] = {}
        #: (references, token, DSN, when read) of the last Secret read, for idle passes (see connect)
        self.secrets: tuple[tuple[SecretRef, SecretRef], str, str, float] | None = None

    def forget(self) -> None:
        """After a problem: the fix is often a new Secret value (a working DSN, a new token)."""
        self.secrets = None

    async def connect(self, spec: ResourceSpec, *, reuse: bool = False) -> tuple[AsyncConnectionPool, str]:
        """The pool and token of the resource's Secrets.

        `reuse`: an idle pass only looks at the database, so it may use what was read less than
        SECRETS_REUSE_SECONDS ago, for the same Secret references.
        """
        resource, ctx = self.resource, self.resource.ctx
        refs = (spec.token_ref, spec.dsn_ref)
        kept = self.secrets
        # The same references, read labelled less than SECRETS_REUSE_SECONDS ago.
        recent = kept is not None and kept[0] == refs and time.monotonic() - kept[3] < SECRETS_REUSE_SECONDS
        if reuse and recent:
            assert kept is not None
            token, dsn = kept[1], kept[2]
        else:
            # A run waits for these. Recently read labelled: one GET each, the label checked on the
            # object read (see kube/secrets.py); else the label first, from the metadata alone.
            # Both at once; a problem with the token is told first, as before.
            token_read, dsn_read = await asyncio.gather(
                read_secret_value(
                    ctx.api,
                    resource.namespace,
                    spec.token_ref,
                    "API token",
                    labelled_before=recent,
                    header_value=True,
                ),
                read_secret_value(
                    ctx.api, resource.namespace, spec.dsn_ref, "database DSN", labelled_before=recent
                ),
                return_exceptions=True,
            )
            for read in (token_read, dsn_read):
                if isinstance(read, BaseException):
                    raise read
            assert isinstance(token_read, str) and isinstance(dsn_read, str)
            token, dsn = token_read, dsn_read
            self.secrets = (refs, token, dsn, time.monotonic())
        self.checked_refs = refs  # these labels were checked when read (the only Secrets Jobs name)
        pool = await ctx.pools.get(dsn)
        ctx.dsns.set(resource.scope, dsn)
        ctx.listeners.ensure(dsn)
        await self.configure_webhooks(spec, dsn, pool)
        if not self.registered:
            await sync_requests.register_scope(pool, resource.scope)  # request_sync() knows it from now on
            self.registered = True
        return pool, token

    async def configure_webhooks(self, spec: ResourceSpec, dsn: str, pool: AsyncConnectionPool) -> None:
        """Hand this resource's receivers to its database's deliverer; a bad one is skipped and told once."""
        resource, ctx = self.resource, self.resource.ctx
        receivers: list[Receiver] = []
        problems: dict[str, str] = {}
        for hook in spec.webhooks:
            try:
                url = await read_secret_value(ctx.api, resource.namespace, hook.url_ref, "webhook URL")
                secret = await read_secret_value(
                    ctx.api, resource.namespace, hook.signing_ref, "webhook signing secret"
                )
                receivers.append(
                    Receiver(
                        resource.scope,
                        hook.name,
                        check_url(url, hook.name, allow_insecure=hook.allow_insecure),
                        parse_secret(secret, hook.name),
                    )
                )
            except (Problem, WebhookConfigError) as exc:
                problems[hook.name] = exc.message if isinstance(exc, Problem) else str(exc)
        ctx.webhooks.configure(dsn, pool, resource.scope, receivers)
        for name, message in problems.items():
            if self.webhook_problems.get(name) != message:
                resource.logger.warning("webhook %s of %s not delivered: %s", name, resource.scope, message)
                resource.event("Warning", "WebhookInvalid", status.clip(message, 500))
        self.webhook_problems = problems
