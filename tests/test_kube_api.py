"""kube/kubeapi.py against the Kubernetes emulator: what the operator's own API calls cost the API server."""

from __future__ import annotations

from typing import Any

import kubernetes

from employes_sync.kube import jobs
from employes_sync.kube.kubeapi import KubeApi
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import ESYNC, JOBS, Cluster, load_crd, wait_for

NS = "default"


def api_for(emulator: Cluster) -> KubeApi:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(emulator.kubeconfig), client_configuration=configuration
    )
    return KubeApi(configuration)


def connections_made(api: KubeApi) -> int:
    """TCP connections the client's urllib3 pools opened so far (their own count)."""
    manager: Any = api._client.rest_client.pool_manager
    return sum(manager.pools[key].num_connections for key in manager.pools.keys())


def job(name: str) -> dict[str, Any]:
    pod = {"restartPolicy": "Never", "containers": [{"name": "w", "image": "x"}]}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "labels": {jobs.MANAGED_BY_LABEL: jobs.MANAGER}},
        "spec": {"template": {"spec": pod}},
    }  # fmt: skip


async def test_status_writes_and_job_creations_reuse_one_connection(cluster: Cluster) -> None:
    """An answer left unread kept its connection out of the pool: every write opened a new one."""
    cluster.apply(load_crd())
    wait_for(lambda: cluster.request("GET", "/apis/employessync.io/v1alpha1")[0] == 200, 10, what="CRD")
    cluster.apply({"apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
                   "metadata": {"name": "a", "namespace": NS}, "spec": {}})  # fmt: skip
    api = api_for(cluster)
    try:
        for i in range(10):
            await api.patch_status(NS, "a", {"observedGeneration": i})
            assert await api.create_job(NS, job(f"j{i}"))
        assert not await api.create_job(NS, job("j0"))  # exists: False, and its 409 read too
        await api.patch_status(NS, "a", {"observedGeneration": 99})
        assert connections_made(api) == 1
    finally:
        api.close()
    (obj,) = cluster.list(ESYNC, NS)
    assert obj["status"]["observedGeneration"] == 99  # every write landed
    assert len(cluster.list(JOBS, NS)) == 10
