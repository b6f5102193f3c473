"""The operator's webhook delivery: one `Deliverer` per database, fed the receivers of each resource.

A reconciler reads its webhooks' URL and signing secret from their Secrets on every pass and hands
them to the deliverer of its database (`configure`); a webhook whose Secret is missing or invalid is
left out (its events wait in the outbox, then dead-letter) and reported once, by name only: a URL may
carry a token, so it is never in a log line, an event or the status.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from psycopg_pool import AsyncConnectionPool

from employes_sync.cancelling import cancel_and_wait
from employes_sync.metrics import record_webhook_delivery
from employes_sync.webhooks.delivery import Deliverer, DeliverySettings, Receiver

log = logging.getLogger(__name__)


class DeliveryLoops:
    def __init__(self, settings: DeliverySettings | None = None) -> None:
        self.settings = settings or DeliverySettings()
        self._loops: dict[str, tuple[Deliverer, asyncio.Task[None]]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # the sessions of loops that ended, closing

    def deliverer(self, dsn: str, pool: AsyncConnectionPool) -> Deliverer:
        key = hashlib.sha256(dsn.encode()).hexdigest()
        found = self._loops.get(key)
        if found is not None and not found[1].done():
            return found[0]
        deliverer = Deliverer(pool, self.settings, dsn=dsn, on_result=record_webhook_delivery)
        if found is not None:
            # A loop that ended by a bug: said once, in one line (never a URL: only the exception's
            # class), and replaced with every receiver it had, not only this resource's.
            ended, task = found
            error = None if task.cancelled() else task.exception()
            log.warning(
                "webhook delivery of a database stopped (%s); restarting it",
                type(error).__name__ if error is not None else "ended",
            )
            deliverer.adopt(ended)
            self._closing.add(closing := asyncio.create_task(ended.close()))
            closing.add_done_callback(self._closing.discard)
        task = asyncio.create_task(deliverer.run(), name=f"webhooks-{key[:8]}")
        self._loops[key] = (deliverer, task)
        return deliverer

    def configure(self, dsn: str, pool: AsyncConnectionPool, scope: str, receivers: list[Receiver]) -> None:
        if receivers or self._loops:
            self.deliverer(dsn, pool).set_receivers(scope, receivers)

    def forget(self, scope: str) -> None:
        for deliverer, _ in self._loops.values():
            deliverer.set_receivers(scope, [])

    async def close(self) -> None:
        for deliverer, _ in self._loops.values():
            deliverer.stop()
        for deliverer, task in self._loops.values():
            try:
                async with asyncio.timeout(self.settings.timeout_seconds + 5):
                    await task
            except TimeoutError:
                await cancel_and_wait(task)
            await deliverer.close()
        self._loops.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
