"""LISTEN employes_sync on every database the operator uses, so SQL can wake a resource at once.

An application's ``SELECT request_sync('ns/name', ...)`` notifies at commit; the listener of that
database wakes the resource's reconciler, which finds the open request and starts (or, during a run,
coalesces) a run. One dedicated connection per database, not per resource: LISTEN holds a connection
for good, and a pool's connections are for statements. A lost connection is reopened with backoff;
on every (re)connect all reconcilers are woken, since requests made meanwhile were not heard.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import psycopg

from employes_sync.cancelling import cancel_and_wait
from employes_sync.store.db import redact_dsn
from employes_sync.store.notify import CHANNEL

log = logging.getLogger(__name__)

OnNotification = Callable[[dict[str, Any]], None]
OnConnect = Callable[[], None]

RECONNECT_BASE_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


def parse_payload(text: str) -> dict[str, Any] | None:
    """A notification's JSON object, or None for anything else (never raises: the channel is shared)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) else None


def requested_resource(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) a ``sync.requested`` notification is for; None for other types or scopes."""
    if payload.get("type") != "sync.requested":
        return None
    scope = payload.get("scope")
    if not isinstance(scope, str) or scope.count("/") != 1:
        return None
    namespace, name = scope.split("/")
    return (namespace, name) if namespace and name else None


class DatabaseListeners:
    """One LISTEN task per database (keyed by the DSN's hash, never the DSN itself)."""

    def __init__(self, on_notification: OnNotification, on_connect: OnConnect) -> None:
        self._on_notification = on_notification
        self._on_connect = on_connect
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def ensure(self, dsn: str) -> None:
        key = hashlib.sha256(dsn.encode()).hexdigest()
        task = self._tasks.get(key)
        if task is None or task.done():
            self._tasks[key] = asyncio.create_task(self._listen(dsn), name=f"listen-{key[:8]}")

    @property
    def count(self) -> int:
        return sum(1 for task in self._tasks.values() if not task.done())

    async def close(self) -> None:
        await cancel_and_wait(*self._tasks.values())
        self._tasks.clear()

    async def _listen(self, dsn: str) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    dsn, autocommit=True, connect_timeout=10
                ) as conn:
                    await conn.execute("LISTEN employes_sync")
                    failures = 0
                    log.debug("listening on %s at %s", CHANNEL, redact_dsn(dsn))
                    self._on_connect()
                    async for message in conn.notifies():
                        payload = parse_payload(message.payload)
                        if payload is not None:
                            self._on_notification(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(RECONNECT_MAX_SECONDS, RECONNECT_BASE_SECONDS * 2 ** (failures - 1))
                log.warning(
                    "listening at %s stopped (%s); again in %.1f s",
                    redact_dsn(dsn),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
