"""The operator as a container: the chart's Deployment pod spec, rendered by Helm's engine, run by Docker.

Only what a cluster gives a pod besides its spec is added here: the API server's address and
credentials. In a cluster those come from the ServiceAccount token mounted into the pod; here the
emulator's kubeconfig is bind-mounted read-only and named by ``KUBECONFIG``. Every other setting
(args, env, securityContext, the /tmp emptyDir, resources, the grace period) is the chart's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import helm_python as helm
import yaml
from docker.models.containers import Container

from tests.containers import pods
from tests.containers.engine import REPO, image_user

CHART_DIR = REPO / "charts" / "employes-sync"
RELEASE = "esync"
KUBECONFIG_IN_POD = "/var/run/employes-sync/kubeconfig"


def render_deployment(values: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The operator Deployment the chart renders with these values (Helm v4's engine, offline)."""
    with helm.Chart.load(CHART_DIR) as chart:
        rendered = chart.render(dict(values), name=RELEASE, namespace=namespace, is_install=True)
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc and doc["kind"] == "Deployment" and "operator" in str(doc["metadata"].get("labels")):
                return dict(doc)
    raise AssertionError("the chart rendered no operator Deployment")


def chart_values(image: str, namespace: str, *, metrics_port: int, health_port: int,
                 api_urls: list[str], extra_args: list[str] | None = None,
                 extra_env: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Values as an installer would set them for this test: our image, one namespace, free ports (the
    pod shares the host's network), the simulator's URL allowed."""
    repository, _, tag = image.rpartition(":")
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "watchNamespaces": [namespace],
        "allowlist": {"apiUrls": api_urls},
        "operator": {
            "metricsPort": metrics_port,
            "healthPort": health_port,
            "extraArgs": list(extra_args or []),
            "extraEnv": [{"name": k, "value": v} for k, v in (extra_env or {}).items()],
        },
    }


@dataclass
class OperatorContainer:
    """One pod of the operator Deployment; ``start`` again for the next pod (a new container each time)."""

    client: docker.DockerClient
    deployment: dict[str, Any]
    kubeconfig: Path
    labels: dict[str, str]
    logdir: Path
    secrets: pods.SecretLookup = field(default=lambda namespace, name: None)
    container: Container | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return str(self.deployment["metadata"]["namespace"])

    @property
    def grace_seconds(self) -> int:
        return int(self.deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30))

    def start(self) -> OperatorContainer:
        self.starts += 1
        test = self.labels.get("io.employessync.test", "x")[:8]
        name = f"{self.deployment['metadata']['name']}-{test}-{self.starts}"
        template = self.deployment["spec"]["template"]
        pod = {"metadata": {"name": name, "labels": template["metadata"].get("labels", {})},
               "spec": template["spec"]}  # fmt: skip
        plan = pods.plan(pod, self.namespace, secrets=self.secrets,
                         image_user=lambda image: image_user(self.client, image),
                         labels=self.labels)  # fmt: skip
        kwargs = plan.create_kwargs()
        kwargs["environment"] = {**kwargs["environment"], "KUBECONFIG": KUBECONFIG_IN_POD}
        kwargs["volumes"] = {str(self.kubeconfig): {"bind": KUBECONFIG_IN_POD, "mode": "ro"}}
        self.container = self.client.containers.run(detach=True, name=name, **kwargs)
        return self

    def stop(self) -> int:
        """What the kubelet does to a pod being deleted: SIGTERM, SIGKILL after the grace period.
        Returns the exit code: 137 means the grace period ran out."""
        assert self.container is not None
        self.container.stop(timeout=self.grace_seconds)
        return self._ended()

    def kill(self) -> int:
        assert self.container is not None
        with contextlib.suppress(docker.errors.APIError):
            self.container.kill()
        return self._ended()

    def _ended(self) -> int:
        assert self.container is not None
        result = self.container.wait(timeout=self.grace_seconds + 30)
        self.container.reload()
        code = int(result["StatusCode"])
        self.exits.append(code)
        self.save_logs()
        self.container.remove(force=True)
        self.container = None
        return code

    def running(self) -> bool:
        if self.container is None:
            return False
        self.container.reload()
        return self.container.status == "running"

    def save_logs(self) -> None:
        if self.container is None:
            return
        self.logdir.mkdir(parents=True, exist_ok=True)
        (self.logdir / f"operator-{self.starts}.log").write_bytes(self.container.logs())

    def logs(self) -> str:
        self.save_logs()
        return "".join(
            (self.logdir / f"operator-{i}.log").read_text(errors="replace")
            for i in range(1, self.starts + 1)
            if (self.logdir / f"operator-{i}.log").exists()
        )

    def close(self) -> None:
        if self.container is not None:
            with contextlib.suppress(docker.errors.APIError):
                self.save_logs()
                self.container.remove(force=True)
            self.container = None
