"""The `/metrics` HTTP endpoint: prometheus-client's server in a daemon thread.

It runs beside the asyncio loop (the operator's, or `employes-sync sync`'s), never inside it, so a
busy loop never delays a scrape and a scrape never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.registry import CollectorRegistry

from employes_sync.metrics.collector import DatabaseCollector, Targets
from employes_sync.metrics.definitions import LOCAL_LABELS, METRICS

#: scope ("<namespace>/<name>") -> the DSN of that resource's database.
DsnProvider = Callable[[], Mapping[str, str]]


class MetricsServer:
    """A running `/metrics` endpoint and its database collector; `close()` stops both."""

    def __init__(
        self,
        port: int,
        targets: Targets,
        *,
        addr: str = "0.0.0.0",
        registry: CollectorRegistry = REGISTRY,
        ttl: float = 3.0,
    ) -> None:
        self.collector = DatabaseCollector(targets, ttl=ttl)
        self._registry = registry
        registry.register(self.collector)
        try:
            self._server, self._thread = start_http_server(port, addr, registry=registry)
        except BaseException:
            registry.unregister(self.collector)
            raise
        self.port: int = self._server.server_port

    @property
    def server(self) -> WSGIServer:
        return self._server

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._registry.unregister(self.collector)
        self.collector.close()


def _by_database(provider: DsnProvider) -> Targets:
    def targets() -> Mapping[str, Sequence[str] | None]:
        grouped: dict[str, list[str]] = {}
        for scope, dsn in dict(provider()).items():
            grouped.setdefault(dsn, []).append(scope)
        return grouped

    return targets


def start_metrics_server(
    port: int, dsn_provider: DsnProvider, *, addr: str = "0.0.0.0", ttl: float = 3.0
) -> MetricsServer:
    """The operator's endpoint: the queue and run metrics of exactly the resources it manages now.

    `dsn_provider()` is called from a background thread at most every `ttl` seconds and returns
    {scope: dsn}; a resource that is gone from it disappears from the metrics (its rows stay).
    """
    return MetricsServer(port, _by_database(dsn_provider), addr=addr, ttl=ttl)


def serve_metrics(port: int, dsn: str, *, addr: str = "0.0.0.0", ttl: float = 3.0) -> MetricsServer:
    """`employes-sync sync --metrics-port`: every scope of this one database, as namespace=name=local."""
    METRICS.prepare(*LOCAL_LABELS, trigger="cli")
    # prometheus-client's server thread is a daemon: the process exits when the sync does.
    return MetricsServer(port, lambda: {dsn: None}, addr=addr, ttl=ttl)
