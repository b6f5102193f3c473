"""API requests counted where they are made, and added to the database once per worker attempt.

A worker process or Job pod lives for one batch and is never scraped; its request counts reach
Prometheus through the `api_request_counts` table, which the metrics collector reads.
"""

from __future__ import annotations

import threading
from collections import Counter

from psycopg_pool import AsyncConnectionPool

from employes_sync.store.queries import Q


class RequestTally:
    """An `EmployesClient(on_response=...)` callback that counts attempts by endpoint and status class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, endpoint: str, status_class: str, seconds: float) -> None:
        with self._lock:
            self._counts[(endpoint, status_class)] += 1

    def take(self) -> dict[tuple[str, str], int]:
        """The counts so far, and start again from zero (so a count is never added twice)."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


async def add_request_counts(
    pool: AsyncConnectionPool, scope: str, counts: dict[tuple[str, str], int]
) -> None:
    if not counts:
        return
    keys = sorted(counts)
    async with pool.connection() as conn:
        await conn.execute(
            Q.add_api_requests,
            {
                "scope": scope,
                "endpoints": [endpoint for endpoint, _ in keys],
                "status_classes": [status_class for _, status_class in keys],
                "requests": [counts[key] for key in keys],
            },
        )
