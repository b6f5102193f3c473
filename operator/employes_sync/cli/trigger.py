"""`employes-sync trigger NAME`: ask the operator for a sync now, by setting an annotation.

The same as `kubectl annotate esync NAME employessync.io/sync-requested-at=<now> --overwrite`; a
CronJob runs it for scheduled syncs. Requests made during a run add up to one follow-up run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _default_namespace() -> str:
    """The pod's own namespace in a cluster, else the kubeconfig context's, else "default"."""
    if IN_CLUSTER_NAMESPACE.exists():
        return IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
    try:
        import kubernetes

        _, context = kubernetes.config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
        return (context or {}).get("context", {}).get("namespace") or "default"
    except Exception:
        return "default"


@click.command()
@click.argument("name")
@click.option(
    "-n", "--namespace", default=None, help="Namespace of the EmployesSync (default: the current one)."
)
@click.option(
    "--mode",
    type=click.Choice(["interactive", "background"]),
    default="interactive",
    show_default=True,
    help="background: nothing inline, lower queue priority (for scheduled syncs).",
)
def trigger(name: str, namespace: str | None, mode: str) -> None:
    """Ask the operator to sync the EmployesSync NAME now."""
    from kubernetes.client import ApiException

    from employes_sync.cli.common import fail
    from employes_sync.kube.kubeapi import KubeApi, NoCluster, load_configuration_or_explain
    from employes_sync.kube.triggers import REQUESTED_AT, request_patch

    namespace = namespace or _default_namespace()
    try:
        api = KubeApi(load_configuration_or_explain())
    except NoCluster as exc:  # the operator's line and exit code: "cannot reach" hid which file was read
        fail(str(exc), 1)
    patch = request_patch(mode)  # type: ignore[arg-type]
    try:
        asyncio.run(api.patch_resource(namespace, name, patch))
    except ApiException as exc:
        if exc.status == 404:
            fail(f"EmployesSync {namespace}/{name} not found")
        if exc.status == 403:
            fail(f"not allowed to patch EmployesSync {namespace}/{name} (RBAC: get, patch on employessyncs)")
        fail(f"could not annotate EmployesSync {namespace}/{name}: HTTP {exc.status} {exc.reason}")
    finally:
        api.close()
    stamp = patch["metadata"]["annotations"][REQUESTED_AT]
    click.echo(f"employessync.employessync.io/{name} sync requested at {stamp} ({mode})")
