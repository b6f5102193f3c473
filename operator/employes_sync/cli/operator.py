"""`employes-sync operator`: kopf with our handlers and a health endpoint.

It runs standalone (one replica), or with `--peering NAME` as one of two or more replicas of which
only one works at a time (controller/peering.py). kopf handles SIGTERM: it stops the reconcilers
(Jobs keep running; a new operator picks them up by name), leaves the peering group so a standby
takes over at once, and exits. The watched namespaces come from the flags, or
$EMPLOYES_SYNC_WATCH_NAMESPACES.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, NoReturn

import click

from employes_sync import allowlist
from employes_sync.cli.common import drop_libpq_environment, extra_ca, fail, libpq_environment_ignored
from employes_sync.settings import DEFAULT_API_URL

if TYPE_CHECKING:
    import kubernetes

NAMESPACES_ENV = "EMPLOYES_SYNC_WATCH_NAMESPACES"
IMAGE_ENV = "EMPLOYES_SYNC_WORKER_IMAGE"
SERVICE_ACCOUNT_ENV = "EMPLOYES_SYNC_WORKER_SERVICE_ACCOUNT"
POLL_ENV = "EMPLOYES_SYNC_POLL_SECONDS"
PEERING_ENV = "EMPLOYES_SYNC_PEERING"


def _namespaces(given: tuple[str, ...]) -> list[str]:
    names = list(given) or os.environ.get(NAMESPACES_ENV, "").split(",")
    return [n.strip() for n in names if n.strip()]


@click.command()
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help=f"Namespace to watch (repeatable; or ${NAMESPACES_ENV}, comma-separated).",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Watch the whole cluster.")
@click.option(
    "--metrics-port",
    type=int,
    default=8080,
    show_default=True,
    help="Port of the Prometheus /metrics endpoint (0: none).",
)
@click.option(
    "--health-port",
    type=int,
    default=8081,
    show_default=True,
    help="Port of kopf's liveness endpoint /healthz (0: none).",
)
@click.option(
    "--worker-image",
    envvar=IMAGE_ENV,
    default="employes-sync:latest",
    show_default=True,
    help=f"Image of the batch Jobs when a resource names none (or ${IMAGE_ENV}).",
)
@click.option(
    "--worker-service-account",
    envvar=SERVICE_ACCOUNT_ENV,
    default=None,
    help=f"ServiceAccount of the batch Jobs when a resource names none (or ${SERVICE_ACCOUNT_ENV}).",
)
@click.option(
    "--worker-image-pull-policy",
    envvar="EMPLOYES_SYNC_WORKER_IMAGE_PULL_POLICY",
    type=click.Choice(["Always", "IfNotPresent", "Never"]),
    default=None,
    help="Pull policy of the batch Jobs that run --worker-image, when a resource names none (or "
    "$EMPLOYES_SYNC_WORKER_IMAGE_PULL_POLICY; the chart passes its image.pullPolicy). Default: "
    "Kubernetes' own for the image's tag.",
)
@click.option(
    "--allow-api-url",
    "allowed_api_urls",
    multiple=True,
    metavar="URL",
    help=f"An API base URL resources may send their token to (repeatable; or ${allowlist.API_URLS_ENV}, "
    f"comma-separated). Default: only {DEFAULT_API_URL}. https only unless an http:// URL is listed.",
)
@click.option(
    "--allow-worker-image",
    "allowed_images",
    multiple=True,
    metavar="IMAGE",
    help=f"Another image resources may run as workers, besides --worker-image (repeatable; or "
    f"${allowlist.IMAGES_ENV}).",
)
@click.option(
    "--allow-worker-service-account",
    "allowed_service_accounts",
    multiple=True,
    metavar="NAME",
    help=f"Another ServiceAccount resources may run workers as, besides --worker-service-account "
    f"(repeatable; or ${allowlist.SERVICE_ACCOUNTS_ENV}).",
)
@click.option(
    "--allow-database-host",
    "allowed_database_hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help=f"A database host resources' DSNs may name (repeatable; or ${allowlist.DATABASE_HOSTS_ENV}, "
    "comma-separated). Default: any host. A DSN that uses the operator's own files (service, passfile, "
    "sslcert, sslkey) is refused either way.",
)
@click.option(
    "--allow-webhook-host",
    "allowed_webhook_hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help=f"A host resources' webhook receivers may be on (repeatable; or ${allowlist.WEBHOOK_HOSTS_ENV}, "
    "comma-separated). Default: any host.",
)
@click.option(
    "--poll-seconds",
    envvar=POLL_ENV,
    type=click.FloatRange(0.05, 60),
    default=2.0,
    show_default=True,
    help="How often a running sync looks at its queue. A change of one of its Jobs wakes it at once; "
    "its Jobs are listed only then, and every 30 s.",
)
@click.option(
    "--db-pool-size",
    type=click.IntRange(2, 200),
    default=10,
    show_default=True,
    help="Connections per database, shared by every resource that uses it.",
)
@click.option(
    "--retry-base-seconds",
    envvar="EMPLOYES_SYNC_RETRY_BASE_SECONDS",
    type=click.FloatRange(0.01, 3600),
    default=5.0,
    show_default=True,
    help="First wait before a resource whose Secret, database or API failed is tried again; "
    "it doubles with each failure.",
)
@click.option(
    "--retry-max-seconds",
    envvar="EMPLOYES_SYNC_RETRY_MAX_SECONDS",
    type=click.FloatRange(0.01, 86400),
    default=300.0,
    show_default=True,
    help="Longest wait between two tries of a resource with a problem.",
)
@click.option(
    "--peering",
    "peering_name",
    envvar=PEERING_ENV,
    default=None,
    metavar="NAME",
    help="Run as one of several replicas through kopf peering, with the (Cluster)KopfPeering object NAME "
    f"(or ${PEERING_ENV}); only the oldest live replica works. Without it: standalone.",
)
@click.option(
    "--peering-lifetime",
    type=click.IntRange(5, 600),
    default=15,
    show_default=True,
    help="Seconds a keep-alive stays valid: a standby takes over at most this long after the active "
    "replica dies (at once when it stops cleanly).",
)
@click.option(
    "--priority",
    type=click.IntRange(0, 2**53),
    default=None,
    help="Peering priority (the highest live one works). Default: from the start time, older is higher, "
    "with $POD_NAME breaking ties.",
)
def operator(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    metrics_port: int,
    health_port: int,
    worker_image: str,
    worker_service_account: str | None,
    worker_image_pull_policy: str | None,
    allowed_api_urls: tuple[str, ...],
    allowed_images: tuple[str, ...],
    allowed_service_accounts: tuple[str, ...],
    allowed_database_hosts: tuple[str, ...],
    allowed_webhook_hosts: tuple[str, ...],
    poll_seconds: float,
    db_pool_size: int,
    retry_base_seconds: float,
    retry_max_seconds: float,
    peering_name: str | None,
    peering_lifetime: int,
    priority: int | None,
) -> None:
    """Run the Kubernetes operator for EmployesSync resources.

    A resource may only make the operator use Secrets labelled employessync.io/secret=true, send its
    token to an allowed API URL, and run Jobs with an allowed image and ServiceAccount.
    """
    import kopf

    from employes_sync.controller import registration  # noqa: F401  (registers the handlers with kopf)
    from employes_sync.controller.context import DsnRegistry, OperatorConfig
    from employes_sync.kube.jobs import proxy_environment

    try:
        allowed = allowlist.Allowlists.build(
            api_urls=allowed_api_urls
            or allowlist.Allowlists.parse_env(os.environ.get(allowlist.API_URLS_ENV)),
            worker_images=allowed_images
            or allowlist.Allowlists.parse_env(os.environ.get(allowlist.IMAGES_ENV)),
            worker_service_accounts=allowed_service_accounts
            or allowlist.Allowlists.parse_env(os.environ.get(allowlist.SERVICE_ACCOUNTS_ENV)),
            database_hosts=allowed_database_hosts
            or allowlist.Allowlists.parse_env(os.environ.get(allowlist.DATABASE_HOSTS_ENV)),
            webhook_hosts=allowed_webhook_hosts
            or allowlist.Allowlists.parse_env(os.environ.get(allowlist.WEBHOOK_HOSTS_ENV)),
            default_image=worker_image,
            default_service_account=worker_service_account or None,
        )
    except allowlist.AllowlistError as exc:
        raise click.BadParameter(str(exc)) from None
    watched = _namespaces(namespaces)
    if watched and all_namespaces:
        raise click.UsageError("give --namespace or --all-namespaces, not both")
    ignored = drop_libpq_environment()  # before anything connects: the metrics server, kopf's handlers
    if ignored:
        logging.getLogger(__name__).warning(libpq_environment_ignored(ignored, "operator"))
    clusterwide = all_namespaces or not watched
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("kopf.objects").addFilter(_QuietWakeups())
    logging.getLogger("kopf._core.reactor.running").addFilter(_PortTakenTold())
    config = OperatorConfig(
        worker_image=worker_image,
        worker_service_account=worker_service_account or None,
        worker_image_pull_policy=worker_image_pull_policy,
        poll_seconds=poll_seconds,
        idle_seconds=max(30.0, poll_seconds),
        db_pool_size=db_pool_size,
        retry_base_seconds=retry_base_seconds,
        retry_max_seconds=max(retry_max_seconds, retry_base_seconds),
        allowlists=allowed,
        proxy_env=proxy_environment(os.environ),
        extra_ca_pem=extra_ca(),
    )
    dsns = DsnRegistry()
    # kopf binds the health port later, inside its loop, where a taken port ends in a traceback, and
    # where another process may have taken it in the meantime: hold it from now on (see _reserve_port).
    reserved = _reserve_port(health_port, "--health-port") if health_port else None
    if metrics_port:
        from employes_sync.metrics import start_metrics_server

        try:
            start_metrics_server(metrics_port, dsns.snapshot)
        except OSError as exc:
            _port_taken(metrics_port, "--metrics-port", exc)
    kube = _kube_configuration()
    logging.getLogger(__name__).info(
        "watching %s; worker image %s; API URLs allowed: %s; database hosts allowed: %s; webhook hosts "
        "allowed: %s",
        "all namespaces" if clusterwide else ", ".join(watched),
        worker_image,
        ", ".join(sorted(allowed.api_urls)),
        ", ".join(sorted(allowed.database_hosts)) or "any",
        ", ".join(sorted(allowed.webhook_hosts)) or "any",
    )
    settings: kopf.OperatorSettings | None = None
    rank: int | None = None
    if peering_name:
        from employes_sync.controller.peering import auto_priority, peering_settings

        pod = os.environ.get("POD_NAME") or socket.gethostname()
        rank = auto_priority(time.time(), pod) if priority is None else priority
        settings = peering_settings(
            name=peering_name, lifetime=peering_lifetime, priority=rank, clusterwide=clusterwide
        )
        logging.getLogger(__name__).info(
            "peering as %s with priority %d (keep-alive lifetime %d s)", peering_name, rank, peering_lifetime
        )
    try:
        kopf.run(
            settings=settings,
            standalone=not peering_name,
            peering_name=peering_name or None,
            priority=rank,
            clusterwide=clusterwide,
            namespaces=[] if clusterwide else watched,
            liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz" if health_port else None,
            memo=kopf.Memo(config=config, dsns=dsns, kube=kube),
        )
    except OSError as exc:
        if health_port and exc.errno == errno.EADDRINUSE:  # only kopf's health reporter binds a port
            _port_taken(health_port, "--health-port", exc)
        raise
    finally:
        if reserved is not None:
            reserved.close()


def _kube_configuration() -> kubernetes.client.Configuration:
    """The cluster to talk to, loaded before kopf starts.

    Inside kopf, a missing or broken kubeconfig fails the startup activity, which kopf retries every
    minute with a traceback, and the operator never says plainly that it has no cluster.
    """
    from employes_sync.kube.kubeapi import NoCluster, load_configuration_or_explain

    try:
        return load_configuration_or_explain()
    except NoCluster as exc:
        fail(str(exc), 1)


def _reserve_port(port: int, flag: str) -> socket.socket:
    """Bind the port, not listening, for as long as the operator runs.

    Both this socket and aiohttp's set SO_REUSEADDR, so kopf can still bind and listen on the port,
    while an ephemeral port of an outgoing connection (which is drawn from the same range) or a plain
    bind by another process can no longer take it between this check and kopf's bind.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds it
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as exc:
        sock.close()
        _port_taken(port, flag, exc)
    return sock


def _port_taken(port: int, flag: str, exc: OSError) -> NoReturn:
    why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
    fail(f"port {port} {why}: choose another with {flag} (0 turns it off)", 1)


class _QuietWakeups(logging.Filter):
    """Drop kopf's "Handler ... succeeded" lines of the wake-up handlers: one per Job or status change."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Handler '") and ("resource_changed" in message or "job_changed" in message)
        )


class _PortTakenTold(logging.Filter):
    """Drop kopf's traceback of a health port taken after our check: the CLI ends with its one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE)
