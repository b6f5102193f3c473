"""A pod spec, as the API server stores it, turned into the settings of one ``docker run``.

This is the kubelet's part of the container tests: every setting comes from the pod spec (the Job the
operator created, or the chart's Deployment), never from flags a test writes by hand. What a kubelet
refuses before a container starts raises :class:`PodConfigError` with the reason it would report
(``CreateContainerConfigError``). Pure: Secrets and the image's user are looked up through callables.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: (namespace, name) -> the Secret's ``data`` (base64 values), or None when there is no such Secret.
SecretLookup = Callable[[str, str], Mapping[str, str] | None]

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<suffix>[KMGTPE]i?|m|k|)$")
_FACTORS = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


class PodConfigError(Exception):
    """The kubelet would not start this container; ``reason`` is what the pod's status says."""

    def __init__(self, message: str, reason: str = "CreateContainerConfigError") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity ("64Mi", "500m", "1.5") as a plain number."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"not a resource quantity: {text!r}")
    number = float(match["number"])
    if match["suffix"] == "m":
        return number / 1000
    return number * _FACTORS[match["suffix"]]


@dataclass(frozen=True)
class ContainerPlan:
    """Keyword arguments for docker-py's ``containers.create`` (the ``docker run`` flags in comments)."""

    image: str
    entrypoint: list[str] | None  # --entrypoint (the pod's command)
    command: list[str] | None  # the arguments (the pod's args)
    environment: dict[str, str]
    user: str | None  # --user UID[:GID]
    group_add: list[str]
    read_only: bool  # --read-only
    cap_drop: list[str]
    cap_add: list[str]
    security_opt: list[str]  # no-new-privileges; seccomp: Docker's default profile is RuntimeDefault
    privileged: bool
    tmpfs: dict[str, str]  # emptyDir volumes: --tmpfs PATH:size=...
    mem_limit: int | None  # --memory
    nano_cpus: int | None  # --cpus
    working_dir: str | None
    stop_grace_seconds: int
    labels: dict[str, str] = field(default_factory=dict)

    def create_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "image": self.image,
            "entrypoint": self.entrypoint,
            "command": self.command,
            "environment": self.environment,
            "read_only": self.read_only,
            "cap_drop": self.cap_drop or None,
            "cap_add": self.cap_add or None,
            "security_opt": self.security_opt or None,
            "privileged": self.privileged,
            "tmpfs": self.tmpfs or None,
            "labels": self.labels,
            "network_mode": "host",
            "stop_signal": "SIGTERM",
        }
        if self.user is not None:
            kwargs["user"] = self.user
        if self.group_add:
            kwargs["group_add"] = self.group_add
        if self.mem_limit is not None:
            kwargs["mem_limit"] = self.mem_limit
            kwargs["memswap_limit"] = self.mem_limit  # no swap, as a kubelet sets it
        if self.nano_cpus is not None:
            kwargs["nano_cpus"] = self.nano_cpus
        if self.working_dir:
            kwargs["working_dir"] = self.working_dir
        return kwargs


def _environment(
    container: Mapping[str, Any], namespace: str, pod: Mapping[str, Any], secrets: SecretLookup
) -> dict[str, str]:
    env: dict[str, str] = {}
    fields = {
        "metadata.namespace": namespace,
        "metadata.name": str((pod.get("metadata") or {}).get("name", "")),
        "spec.serviceAccountName": str((pod.get("spec") or {}).get("serviceAccountName", "default")),
    }
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = str(item["value"])
            continue
        source = item.get("valueFrom") or {}
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in fields:
                raise PodConfigError(f"unsupported fieldRef {path!r} in env {name}")
            env[name] = fields[path]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = secrets(namespace, ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                if data is None:
                    raise PodConfigError(f'secret "{ref["name"]}" not found')
                raise PodConfigError(f"couldn't find key {ref['key']} in Secret {namespace}/{ref['name']}")
            env[name] = base64.b64decode(data[ref["key"]]).decode()
        else:
            raise PodConfigError(f"unsupported valueFrom in env {name}: {sorted(source)}")
    return env


def _user(security: Mapping[str, Any], image_user: str) -> tuple[str | None, bool]:
    """(--user, whether it was set by the pod) after the kubelet's runAsNonRoot check."""
    uid = security.get("runAsUser")
    gid = security.get("runAsGroup")
    if security.get("runAsNonRoot"):
        if uid is not None:
            if int(uid) == 0:
                raise PodConfigError("container's runAsUser breaks non-root policy")
        else:
            name = image_user.partition(":")[0]
            if not name or name in ("0", "root"):
                raise PodConfigError("container has runAsNonRoot and image will run as root")
            if not name.isdigit():
                raise PodConfigError(
                    f"container has runAsNonRoot and image has non-numeric user ({name}), "
                    "cannot verify user is non-root"
                )
    if uid is None and gid is None:
        return None, False
    if uid is None:
        uid = image_user.partition(":")[0] or "0"
    return (f"{uid}:{gid}" if gid is not None else str(uid)), True


def plan(
    pod: Mapping[str, Any],
    namespace: str,
    *,
    secrets: SecretLookup,
    image_user: Callable[[str], str],
    labels: Mapping[str, str] | None = None,
) -> ContainerPlan:
    """The ``docker run`` for the pod's only container. Raises PodConfigError where a kubelet would."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if len(containers) != 1 or spec.get("initContainers"):
        raise PodConfigError("only pods with exactly one container (and no init containers) are supported")
    container = containers[0]
    security = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
    image = container["image"]
    user, _ = _user(security, image_user(image))
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    tmpfs: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise PodConfigError(f"volume {mount['name']!r} is mounted but not defined")
        if "emptyDir" not in volume:
            raise PodConfigError(f"volume {mount['name']!r}: only emptyDir volumes are supported")
        size = (volume["emptyDir"] or {}).get("sizeLimit")
        options = ["rw", "nosuid", "nodev", "mode=1777"]
        if size is not None:
            options.append(f"size={int(quantity(size))}")
        tmpfs[mount["mountPath"]] = ",".join(options)
    limits = (container.get("resources") or {}).get("limits") or {}
    capabilities = security.get("capabilities") or {}
    security_opt = []
    if security.get("allowPrivilegeEscalation") is False:
        security_opt.append("no-new-privileges")
    profile = (security.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if profile == "Unconfined":
        security_opt.append("seccomp=unconfined")
    elif profile != "RuntimeDefault":
        raise PodConfigError(f"seccompProfile {profile} is not supported")
    fs_group = security.get("fsGroup")
    return ContainerPlan(
        image=image,
        entrypoint=list(container["command"]) if container.get("command") else None,
        command=list(container["args"]) if container.get("args") else None,
        environment=_environment(container, namespace, pod, secrets),
        user=user,
        group_add=[str(fs_group)] if fs_group is not None else [],
        read_only=bool(security.get("readOnlyRootFilesystem")),
        cap_drop=list(capabilities.get("drop") or []),
        cap_add=list(capabilities.get("add") or []),
        security_opt=security_opt,
        privileged=bool(security.get("privileged")),
        tmpfs=tmpfs,
        mem_limit=int(quantity(limits["memory"])) if "memory" in limits else None,
        nano_cpus=int(quantity(limits["cpu"]) * 1e9) if "cpu" in limits else None,
        working_dir=container.get("workingDir"),
        stop_grace_seconds=int(spec.get("terminationGracePeriodSeconds", 30)),
        labels=dict(labels or {}),
    )
