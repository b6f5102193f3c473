"""A resource's Secrets, database pool and webhooks: what a pass connects to before it looks at runs.

Reading both Secrets (four GETs with the label checks) on every idle pass of every resource was most
of the idle operator's work, so an idle pass reuses a recent read; a run reads them afresh, once. A
token and a DSN kept in one Secret (as in examples/) are one read of it: two GETs, not four. The
webhooks' Secrets are read with the others, or when the webhooks or the database changed: an idle
pass that reuses the token and DSN reads no Secret at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.controller.resource import Resource
from employes_sync.dsn import dsn_problem, for_resource
from employes_sync.kube import status
from employes_sync.kube.problem import Problem
from employes_sync.kube.secrets import ValueCheck, read_labelled_secret, secret_value
from employes_sync.kube.spec import ResourceSpec, SecretRef, WebhookSpec
from employes_sync.settings import token_problem
from employes_sync.store import sync_requests
from employes_sync.webhooks.delivery import Receiver
from employes_sync.webhooks.signing import WebhookConfigError, check_url, parse_secret

#: How long an idle pass may use Secrets read before; a run always reads them afresh.
SECRETS_REUSE_SECONDS = 300.0


@dataclass(frozen=True)
class SecretsRead:
    """The token and DSN one read of a resource's Secrets returned, and when (its repr shows neither)."""

    refs: tuple[SecretRef, SecretRef]
    token: str = field(repr=False)
    dsn: str = field(repr=False)
    at: float  # time.monotonic()

    def usable(self, refs: tuple[SecretRef, SecretRef], *, reuse: bool, fresh_since: float | None) -> bool:
        """Read for these references less than SECRETS_REUSE_SECONDS ago, and usable now: by an idle
        pass (`reuse`), or by a run when this very pass read them (at or after `fresh_since`)."""
        if self.refs != refs or time.monotonic() - self.at >= SECRETS_REUSE_SECONDS:
            return False
        return reuse or (fresh_since is not None and self.at >= fresh_since)


class Connection:
    """What `connect()` last read and checked for one resource."""

    def __init__(self, resource: Resource):
        self.resource = resource
        #: The token and DSN Secrets whose label the last connect() checked (the only ones Jobs name).
        self.checked_refs: tuple[SecretRef, SecretRef] | None = None
        self.registered = False
        self.webhook_problems: dict[str, str] = {}
        #: The last read of the token and DSN, for idle passes and a run right after (see connect)
        self.secrets: SecretsRead | None = None
        #: (webhooks, DSN) that configure_webhooks() last handed over
        self.webhooks_for: tuple[tuple[WebhookSpec, ...], str] | None = None
        #: When each Secret (by name) was last read with its label present (see `_secret`)
        self.labelled_at: dict[str, float] = {}

    def forget(self) -> None:
        """After a problem: the fix is often a new Secret value (a working DSN, a new token)."""
        self.secrets = None
        self.labelled_at.clear()

    async def connect(
        self, spec: ResourceSpec, *, reuse: bool = False, fresh_since: float | None = None
    ) -> tuple[AsyncConnectionPool, str]:
        """The pool and token of the resource's Secrets.

        `reuse`: an idle pass only looks at the database, so it may use what was read less than
        SECRETS_REUSE_SECONDS ago, for the same Secret references. `fresh_since` (a monotonic time):
        what was read at or after it counts as fresh, so a run right after a pass that read its
        Secrets does not read them a second time.
        """
        resource, ctx = self.resource, self.resource.ctx
        refs = (spec.token_ref, spec.dsn_ref)
        kept = self.secrets
        read_now = kept is None or not kept.usable(refs, reuse=reuse, fresh_since=fresh_since)
        if kept is not None and not read_now:
            token, dsn = kept.token, kept.dsn
        else:
            token, dsn = await self._read(spec)
            # Before any connection: the DSN is the resource author's, the network position the operator's.
            refusal = ctx.config.allowlists.database_refusal(dsn, f"Secret {spec.dsn_ref}")
            if refusal is not None:
                raise Problem(refusal.reason, refusal.message)
            dsn = for_resource(dsn)  # every connection of this resource: pool, listeners, webhooks
            self.secrets = SecretsRead(refs, token, dsn, time.monotonic())
        self.checked_refs = refs  # these labels were checked when read (the only Secrets Jobs name)
        pool = await ctx.pools.get(dsn)
        ctx.dsns.set(resource.scope, dsn)
        ctx.listeners.ensure(dsn)
        if read_now or self.webhooks_for != (spec.webhooks, dsn):
            await self.configure_webhooks(spec, dsn, pool)
            self.webhooks_for = (spec.webhooks, dsn)
        if not self.registered:
            await sync_requests.register_scope(pool, resource.scope)  # request_sync() knows it from now on
            self.registered = True
        return pool, token

    async def _read(self, spec: ResourceSpec) -> tuple[str, str]:
        """The token and the DSN, both at once; a problem with the token is told first."""
        token, dsn = await self._values(
            [(spec.token_ref, "API token", token_problem), (spec.dsn_ref, "database DSN", dsn_problem)]
        )
        if isinstance(token, Exception):
            raise token
        if isinstance(dsn, Exception):
            raise dsn
        return token, dsn

    async def _values(
        self, wanted: Sequence[tuple[SecretRef, str, ValueCheck | None]]
    ) -> list[str | Exception]:
        """Each wanted (reference, what it is for, what its value must pass) key's value, or what stopped it
        (a Problem, or the error of an API that could not be asked), in order, for the caller to raise.

        Each Secret is read once, however many of its keys are wanted (a token and a DSN in one
        Secret, a webhook's URL and signing secret), and different Secrets at the same time. A read
        that fails is told with what the first key asked of that Secret is for.
        """
        purposes: dict[str, str] = {}
        for ref, what, _ in wanted:
            purposes.setdefault(ref.name, what)
        reads = await asyncio.gather(
            *(self._secret(name, what) for name, what in purposes.items()), return_exceptions=True
        )
        secrets = dict(zip(purposes, reads, strict=True))
        values: list[str | Exception] = []
        for ref, what, check in wanted:
            secret = secrets[ref.name]
            if isinstance(secret, Exception):
                values.append(secret)
            elif isinstance(secret, BaseException):
                raise secret  # cancelled: nothing is told
            else:
                try:
                    values.append(secret_value(secret, self.resource.namespace, ref, what, check=check))
                except Problem as problem:
                    values.append(problem)
        return values

    async def _secret(self, name: str, what: str) -> dict[str, Any]:
        """One Secret. Read labelled less than SECRETS_REUSE_SECONDS ago: one GET, the label checked
        on the object read (see kube/secrets.py); else the label first, from the metadata."""
        at = self.labelled_at.pop(name, None)
        recent = at is not None and time.monotonic() - at < SECRETS_REUSE_SECONDS
        secret = await read_labelled_secret(
            self.resource.ctx.api, self.resource.namespace, name, what, labelled_before=recent
        )
        self.labelled_at[name] = time.monotonic()  # not after a refusal: popped above
        return secret

    async def configure_webhooks(self, spec: ResourceSpec, dsn: str, pool: AsyncConnectionPool) -> None:
        """Hand this resource's receivers to its database's deliverer; a bad one is skipped and told once."""
        resource, ctx = self.resource, self.resource.ctx
        receivers: list[Receiver] = []
        problems: dict[str, str] = {}
        wanted: list[tuple[SecretRef, str, ValueCheck | None]] = []
        for hook in spec.webhooks:
            wanted.append((hook.url_ref, "webhook URL", None))
            wanted.append((hook.signing_ref, "webhook signing secret", None))
        values = await self._values(wanted)
        for hook, url, secret in zip(spec.webhooks, values[0::2], values[1::2], strict=True):
            try:
                if isinstance(url, Exception):
                    raise url
                if isinstance(secret, Exception):
                    raise secret
                receiver_url = check_url(url, hook.name, allow_insecure=hook.allow_insecure)
                refused = ctx.config.allowlists.webhook_refusal(receiver_url, hook.name)
                if refused is not None:
                    raise WebhookConfigError(refused)
                receivers.append(
                    Receiver(resource.scope, hook.name, receiver_url, parse_secret(secret, hook.name))
                )
            except (Problem, WebhookConfigError) as exc:
                problems[hook.name] = exc.message if isinstance(exc, Problem) else str(exc)
        ctx.webhooks.configure(dsn, pool, resource.scope, receivers)
        for name, message in problems.items():
            if self.webhook_problems.get(name) != message:
                resource.logger.warning("webhook %s of %s not delivered: %s", name, resource.scope, message)
                resource.event("Warning", "WebhookInvalid", status.clip(message, 500))
        self.webhook_problems = problems
