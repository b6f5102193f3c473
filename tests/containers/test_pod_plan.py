"""The kubelet's part, without Docker: a pod spec becomes exactly the docker run settings it asks for,
and the pods a kubelet refuses are refused with its reason."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.containers.manifests import worker_job
from tests.containers.pods import PodConfigError, plan, quantity

SECRETS = {
    ("default", "esync"): {
        "token": base64.b64encode(b"t0ken").decode(),
        "dsn": base64.b64encode(b"postgresql://x").decode(),
    }
}


def lookup(namespace: str, name: str) -> dict[str, str] | None:
    return SECRETS.get((namespace, name))


def worker_pod(**worker: Any) -> dict[str, Any]:
    """The pod template of a Job exactly as the operator writes it."""
    job = worker_job("employes-sync:test", **worker)
    return {"metadata": {"name": "acme-r1-b1-a1-x"}, "spec": job["spec"]["template"]["spec"]}


def test_quantities() -> None:
    assert quantity("64Mi") == 64 * 2**20
    assert quantity("1G") == 10**9
    assert quantity("500m") == 0.5
    assert quantity(2) == 2
    with pytest.raises(ValueError, match="quantity"):
        quantity("lots")


def test_the_operators_worker_pod_runs_hardened_with_its_secrets() -> None:
    result = plan(
        worker_pod(resources={"limits": {"memory": "96Mi", "cpu": "500m"}}),
        "default",
        secrets=lookup,
        image_user=lambda image: "10001:10001",
    )
    kwargs = result.create_kwargs()
    assert kwargs["image"] == "employes-sync:test"
    assert kwargs["entrypoint"] == ["employes-sync", "worker", "--batch-id", "b-acme"]
    assert kwargs["command"] is None
    environment = kwargs["environment"]
    assert environment["DATABASE_URL"] == "postgresql://x" and environment["EMPLOYES_API_TOKEN"] == "t0ken"
    container = worker_pod()["spec"]["containers"][0]
    assert environment == {**{e["name"]: e["value"] for e in container["env"] if "value" in e},
                           "DATABASE_URL": "postgresql://x", "EMPLOYES_API_TOKEN": "t0ken"}  # fmt: skip
    assert kwargs["read_only"] is True
    assert kwargs["cap_drop"] == ["ALL"] and kwargs["cap_add"] is None
    assert kwargs["security_opt"] == ["no-new-privileges"]  # RuntimeDefault seccomp is Docker's default
    assert kwargs["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,mode=1777,size={64 * 2**20}"}
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 96 * 2**20
    assert kwargs["nano_cpus"] == 500_000_000
    assert kwargs["network_mode"] == "host"
    assert "user" not in kwargs  # the image's own numeric user, checked non-root


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: SECRETS.pop(("default", "esync")), 'secret "esync" not found'),
        (
            lambda p: SECRETS[("default", "esync")].pop("token"),
            "couldn't find key token in Secret default/esync",
        ),
    ],
)
def test_a_missing_secret_or_key_is_a_create_container_config_error(change: Any, message: str) -> None:
    saved = {k: dict(v) for k, v in SECRETS.items()}
    try:
        pod = worker_pod()
        change(pod)
        with pytest.raises(PodConfigError) as caught:
            plan(pod, "default", secrets=lookup, image_user=lambda image: "10001")
        assert caught.value.reason == "CreateContainerConfigError"
        assert str(caught.value) == message
    finally:
        SECRETS.clear()
        SECRETS.update(saved)


@pytest.mark.parametrize(
    ("image_user", "security", "expected"),
    [
        ("", {}, "image will run as root"),
        ("root", {}, "image will run as root"),
        ("app", {}, "non-numeric user (app)"),
        ("10001", {"runAsUser": 0}, "runAsUser breaks non-root policy"),
    ],
)
def test_run_as_non_root_refuses_a_root_image(
    image_user: str, security: dict[str, Any], expected: str
) -> None:
    pod = worker_pod()
    pod["spec"]["containers"][0]["securityContext"].update(security)
    with pytest.raises(PodConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        plan(pod, "default", secrets=lookup, image_user=lambda image: image_user)


def test_run_as_user_and_group_and_fs_group() -> None:
    pod = worker_pod()
    pod["spec"]["securityContext"].update(runAsUser=10001, runAsGroup=10002, fsGroup=10003)
    result = plan(pod, "default", secrets=lookup, image_user=lambda image: "")
    assert result.user == "10001:10002" and result.group_add == ["10003"]


def test_unsupported_volumes_and_env_are_refused_not_ignored() -> None:
    pod = worker_pod()
    pod["spec"]["volumes"] = [{"name": "tmp", "hostPath": {"path": "/"}}]
    with pytest.raises(PodConfigError, match="only emptyDir"):
        plan(pod, "default", secrets=lookup, image_user=lambda image: "10001")
    pod = worker_pod()
    pod["spec"]["containers"][0]["env"].append({"name": "X", "valueFrom": {"configMapKeyRef": {}}})
    with pytest.raises(PodConfigError, match="unsupported valueFrom"):
        plan(pod, "default", secrets=lookup, image_user=lambda image: "10001")


def test_field_refs_resolve_like_the_downward_api() -> None:
    pod = worker_pod()
    pod["spec"]["containers"][0]["env"].append(
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    )
    result = plan(
        pod, "payroll", secrets=lambda ns, name: SECRETS[("default", name)], image_user=lambda image: "10001"
    )
    assert result.environment["POD_NAMESPACE"] == "payroll"
