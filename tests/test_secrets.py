"""kube/secrets.py against the Kubernetes emulator: which GETs a Secret read makes, and what it refuses."""

from __future__ import annotations

import kubernetes
import pytest

from employes_sync.kube.kubeapi import KubeApi
from employes_sync.kube.problem import Problem
from employes_sync.kube.secrets import read_labelled_secret, secret_value
from employes_sync.kube.spec import SecretRef
from employes_sync.settings import token_problem
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import SECRETS, Cluster

NS = "default"
REF = SecretRef(name="esync", key="token")


async def read_secret_value(
    api: KubeApi,
    namespace: str,
    ref: SecretRef,
    what: str,
    *,
    labelled_before: bool = False,
    header_value: bool = False,
) -> str:
    """One key's value as the operator takes it: the labelled Secret, then the key."""
    secret = await read_labelled_secret(api, namespace, ref.name, what, labelled_before=labelled_before)
    return secret_value(secret, namespace, ref, what, check=token_problem if header_value else None)


def api_for(emulator: Cluster) -> KubeApi:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(emulator.kubeconfig), client_configuration=configuration
    )
    return KubeApi(configuration)


def secret(labels: dict[str, str]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "esync", "namespace": NS, "labels": labels},
            "stringData": {"token": "t0ken"}}  # fmt: skip


async def test_a_secret_read_labelled_before_takes_one_get_and_its_label_is_still_checked(
    cluster: Cluster,
) -> None:
    cluster.apply(secret({"employessync.io/secret": "true"}))
    api = api_for(cluster)
    cluster.forget_reads()
    assert await read_secret_value(api, NS, REF, "API token") == "t0ken"
    assert cluster.reads(SECRETS, NS, "esync") == [True, False]  # its metadata first, then its data
    cluster.forget_reads()
    assert await read_secret_value(api, NS, REF, "API token", labelled_before=True) == "t0ken"
    assert cluster.reads(SECRETS, NS, "esync") == [False]  # one GET

    # Its owner takes the label away: the one GET's object says so, and its value is not returned.
    cluster.patch(
        f"/api/v1/namespaces/{NS}/secrets/esync", {"metadata": {"labels": {"employessync.io/secret": None}}}
    )
    with pytest.raises(Problem) as refused:
        await read_secret_value(api, NS, REF, "API token", labelled_before=True)
    assert refused.value.reason == "SecretNotAllowed" and "t0ken" not in refused.value.message
    # Not known as labelled: its data is never fetched at all.
    cluster.forget_reads()
    with pytest.raises(Problem):
        await read_secret_value(api, NS, REF, "API token")
    assert cluster.reads(SECRETS, NS, "esync") == [True]


@pytest.mark.parametrize("value", ["True", "yes", "1", "TRUE", " true", ""])
async def test_only_the_label_value_true_opts_in(cluster: Cluster, value: str) -> None:
    cluster.apply(secret({"employessync.io/secret": value}))
    api = api_for(cluster)
    cluster.forget_reads()
    with pytest.raises(Problem) as refused:
        await read_secret_value(api, NS, REF, "API token")
    assert refused.value.reason == "SecretNotAllowed"
    assert cluster.reads(SECRETS, NS, "esync") == [True]  # its metadata only, never its data


@pytest.mark.parametrize("token", ["S3CRET\nsecond", "S3CRET tok", "S3CRETé"])
async def test_a_token_no_header_can_hold_is_refused_by_reason_without_its_value(
    cluster: Cluster, token: str
) -> None:
    labelled = secret({"employessync.io/secret": "true"})
    labelled["stringData"] = {"token": token}
    cluster.apply(labelled)
    api = api_for(cluster)
    with pytest.raises(Problem) as refused:
        await read_secret_value(api, NS, REF, "API token", header_value=True)
    assert refused.value.reason == "SecretKeyInvalid", refused.value.message
    assert "S3CRET" not in refused.value.message and "default/esync" in refused.value.message
    # Only a header value is held to that: a DSN may hold spaces (key=value form).
    assert await read_secret_value(api, NS, REF, "database DSN") == token.strip()
