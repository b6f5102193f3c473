"""The few Kubernetes API calls the operator makes besides kopf's own: Secrets, Jobs, pods, status.

The synchronous `kubernetes` client runs in threads, with plain dicts in and out (no models), so an
object with fields the client's models do not know never breaks a reconcile. kopf keeps its own
connection for watching; this one is for the work.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from employes_sync.kube.spec import GROUP, PLURAL, VERSION
from employes_sync.messages import said

MERGE_PATCH = "application/merge-patch+json"
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def load_configuration() -> kubernetes.client.Configuration:
    """In a pod: its ServiceAccount (the token file is re-read as it rotates). Elsewhere: $KUBECONFIG."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


class NoCluster(Exception):
    """No cluster to talk to: one line naming the kubeconfig and what is wrong with it."""


def load_configuration_or_explain() -> kubernetes.client.Configuration:
    """`load_configuration()`, with a missing or broken kubeconfig told as one `NoCluster` line.

    The kubernetes client says `Invalid kube-config file. No configuration found.` without naming
    the file, or a multi-line YAML error; the operator and `employes-sync trigger` say the same line.
    """
    import yaml

    try:
        return load_configuration()
    except (kubernetes.config.ConfigException, yaml.YAMLError, OSError) as exc:
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise NoCluster(
            f"no Kubernetes cluster to talk to: not in a pod, and the kubeconfig {where}: {said(exc)}"
        ) from None


class KubeApi:
    def __init__(self, configuration: kubernetes.client.Configuration | None = None) -> None:
        self._client = kubernetes.client.ApiClient(configuration or load_configuration())
        self._core = kubernetes.client.CoreV1Api(self._client)
        self._batch = kubernetes.client.BatchV1Api(self._client)
        self._custom = kubernetes.client.CustomObjectsApi(self._client)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        return json.loads(response.data) if response.data else {}

    @staticmethod
    def _done(response: Any) -> None:
        """Read an answer nobody looks at: its connection goes back to the pool only when read.

        Left unread, every status write and Job creation opened a new connection to the API server
        (and the old one was closed when collected).
        """
        response.drain_conn()
        response.release_conn()

    async def read_secret_metadata(self, namespace: str, name: str) -> dict[str, Any]:
        """Only the Secret's metadata (a PartialObjectMetadata): its labels, without its data.

        The operator decides from the labels whether it may use a Secret at all, before it reads a value.
        """
        response = await asyncio.to_thread(
            self._core.read_namespaced_secret, name, namespace,
            _preload_content=False, _headers={"Accept": PARTIAL_METADATA},
        )  # fmt: skip
        return dict(self._json(response).get("metadata") or {})

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any]:
        """The Secret as a dict; raises ApiException (404, 403) for the caller to explain."""
        response = await asyncio.to_thread(
            self._core.read_namespaced_secret, name, namespace, _preload_content=False
        )
        return self._json(response)

    async def create_job(self, namespace: str, manifest: Mapping[str, Any]) -> bool:
        """Create the Job; False when one of that name exists already (a restarted operator's case)."""
        try:
            response = await asyncio.to_thread(
                self._batch.create_namespaced_job,
                namespace,
                dict(manifest),  # type: ignore[arg-type]  # the client serializes a plain dict too
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self._done(response)
        return True

    async def list_jobs(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Jobs with all these labels (checked here too: a selector is a filter, not a promise)."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        response = await asyncio.to_thread(
            self._batch.list_namespaced_job, namespace, label_selector=selector, _preload_content=False
        )
        return _labelled(self._json(response).get("items") or [], labels)

    async def list_pods(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Pods with all these labels (a failed Job's, to say why it failed), checked here too."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        response = await asyncio.to_thread(
            self._core.list_namespaced_pod, namespace, label_selector=selector, _preload_content=False
        )
        return _labelled(self._json(response).get("items") or [], labels)

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        response = await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, PLURAL, name, {"status": dict(status)},
            _preload_content=False, _content_type=MERGE_PATCH,
        )  # fmt: skip
        self._done(response)

    async def patch_resource(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        response = await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object,
            GROUP, VERSION, namespace, PLURAL, name, dict(patch),
            _preload_content=False, _content_type=MERGE_PATCH,
        )  # fmt: skip
        return self._json(response)


def _labelled(items: list[dict[str, Any]], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        item for item in items
        if all((item.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in labels.items())
    ]  # fmt: skip
