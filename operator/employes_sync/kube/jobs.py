"""The Job that runs one attempt of one batch: its name, labels and a hardened pod.

Names are deterministic per (resource, run, batch, attempt), so an operator that restarts computes
the same name, gets 409 for a Job that already exists, and never starts an attempt twice. The pod
runs `employes-sync worker --batch-id ID`; the token and DSN arrive through secretKeyRef only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import kopf

from employes_sync.allowlist import API_URL_ENV, API_URLS_ENV, DATABASE_HOSTS_ENV
from employes_sync.kube.spec import ResourceSpec
from employes_sync.settings import (
    WORKER_COMPANY_ENV,
    WORKER_DATABASE_ENV,
    WORKER_EXTRA_CA_ENV,
    WORKER_REDACT_ENV,
    WORKER_TOKEN_ENV,
)
from employes_sync.store.queue import Batch

NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
COMPONENT_LABEL = "app.kubernetes.io/component"
SYNC_LABEL = "employessync.io/sync"
RUN_LABEL = "employessync.io/run"
BATCH_LABEL = "employessync.io/batch"
ATTEMPT_LABEL = "employessync.io/attempt"
BATCH_ID_ANNOTATION = "employessync.io/batch-id"

APP = "employes-sync"
MANAGER = "employes-sync-operator"

MAX_NAME = 63
TOKEN_ENV = WORKER_TOKEN_ENV
DATABASE_ENV = WORKER_DATABASE_ENV


def job_name(resource: str, run_id: int, batch: Batch, attempt: int) -> str:
    """`<resource>-r<run>-b<batch>-a<attempt>`, at most 63 characters and a valid DNS label.

    A long resource name is cut and given a short hash of the full name, so two long names that share
    a prefix still get different Jobs.
    """
    number = str(batch.batch_no) if batch.batch_no is not None else batch.id.replace("-", "")[:10]
    suffix = f"-r{run_id}-b{number}-a{attempt}"
    base = re.sub(r"[^a-z0-9-]", "-", resource.lower()).strip("-") or "esync"
    room = MAX_NAME - len(suffix)
    if len(base) > room:
        digest = hashlib.sha256(resource.encode()).hexdigest()[:6]
        base = base[: room - 7].rstrip("-") + "-" + digest
    return f"{base}{suffix}"


def selector_labels(resource: str) -> dict[str, str]:
    """The labels every Job of one EmployesSync carries (label values are limited to 63 characters)."""
    return {NAME_LABEL: APP, MANAGED_BY_LABEL: MANAGER, SYNC_LABEL: _label_value(resource)}


def _label_value(value: str) -> str:
    if len(value) <= MAX_NAME:
        return value
    return value[: MAX_NAME - 7].rstrip("-_.") + "-" + hashlib.sha256(value.encode()).hexdigest()[:6]


#: The environment that routes the API client through a proxy (see employes/client.py `env_proxy`).
PROXY_ENV_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


def proxy_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy settings of the operator's environment, upper- or lower-case, that its Jobs get too.

    The operator's environment is the platform's (the chart's `operator.extraEnv`), never a resource
    author's: the Jobs it starts send the token the same way, through the same proxy.
    """
    found: dict[str, str] = {}
    for name in PROXY_ENV_NAMES:
        for variant in (name, name.lower()):
            value = environ.get(variant)
            if value:
                found[variant] = value
    return found


def job_manifest(
    owner: Mapping[str, Any],
    spec: ResourceSpec,
    run_id: int,
    batch: Batch,
    attempt: int,
    *,
    default_image: str,
    default_service_account: str | None = None,
    default_image_pull_policy: str | None = None,
    allowed_api_urls: Iterable[str] = (),
    allowed_database_hosts: Iterable[str] = (),
    proxy_env: Mapping[str, str] | None = None,
    extra_ca_pem: str | None = None,
) -> dict[str, Any]:
    """The Job for one attempt of one batch, owned by (and garbage-collected with) the EmployesSync.

    The API URL, company and redaction come from the spec through the environment, with the operator's
    allowlist: a worker never takes the token's destination or scope from the database, which others
    may be able to write. `allowed_database_hosts` (the operator's list; empty: any host) tells the
    worker its DSN is a resource's: it checks the value its pod read as the operator checked its own
    read, and dials it as the operator does (`dsn.for_resource`, without libpq's variables of the
    image). `proxy_env` (`proxy_environment()` of the operator's own): a worker reaches
    the API the way the operator does. `extra_ca_pem` (the operator's `configured_extra_ca()`): the CA
    certificates it trusts besides the bundle, as text in `$EMPLOYES_SYNC_EXTRA_CA_PEM`; the pod runs
    in the resource's namespace, where the operator's ConfigMap cannot be mounted. They are public and
    checked to be certificates only, so the Job's spec may carry them. `default_image_pull_policy` (the
    operator's, the chart's image.pullPolicy) applies when the Job runs `default_image`: with `Always`
    for a re-pushed tag, the workers would otherwise keep running the node's older copy of it.
    """
    resource = owner["metadata"]["name"]
    name = job_name(resource, run_id, batch, attempt)
    labels = {
        **selector_labels(resource),
        COMPONENT_LABEL: "worker",
        RUN_LABEL: str(run_id),
        BATCH_LABEL: str(batch.batch_no if batch.batch_no is not None else batch.id),
        ATTEMPT_LABEL: str(attempt),
    }
    container: dict[str, Any] = {
        "name": "worker",
        "image": spec.worker.image or default_image,
        "command": ["employes-sync", "worker", "--batch-id", batch.id],
        "env": [
            _secret_env(DATABASE_ENV, spec.dsn_ref.name, spec.dsn_ref.key),
            _secret_env(TOKEN_ENV, spec.token_ref.name, spec.token_ref.key),
            {"name": API_URL_ENV, "value": spec.base_url},
            {"name": WORKER_COMPANY_ENV, "value": spec.company_id},
            {"name": WORKER_REDACT_ENV, "value": json.dumps(list(spec.redact))},
            {"name": API_URLS_ENV, "value": ",".join(allowed_api_urls)},
            {"name": DATABASE_HOSTS_ENV, "value": ",".join(allowed_database_hosts)},
            {"name": "TMPDIR", "value": "/tmp"},
            *({"name": name, "value": value} for name, value in sorted((proxy_env or {}).items())),
            *([{"name": WORKER_EXTRA_CA_ENV, "value": extra_ca_pem}] if extra_ca_pem else []),
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if spec.worker.image_pull_policy:
        container["imagePullPolicy"] = spec.worker.image_pull_policy
    elif default_image_pull_policy and not spec.worker.image:
        container["imagePullPolicy"] = default_image_pull_policy
    if spec.worker.resources:
        container["resources"] = spec.worker.resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    service_account = spec.worker.service_account_name or default_service_account
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"].get("namespace"),
            "labels": labels,
            "annotations": {BATCH_ID_ANNOTATION: batch.id},
        },
        "spec": {
            "backoffLimit": 0,  # the operator owns retries: each attempt is a new Job
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }
    kopf.adopt(job, owner=owner)  # type: ignore[arg-type]
    # adopt() copies the owner's labels too; ours must win for selection to stay exact.
    job["metadata"]["labels"].update(labels)
    return job


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def job_finished(job: Mapping[str, Any]) -> tuple[bool, bool, str]:
    """(finished, succeeded, reason) from a Job's status, as the Job controller writes it."""
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") in ("Complete", "SuccessCriteriaMet"):
            return True, True, ""
        if condition.get("type") in ("Failed", "FailureTarget"):
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or ""
            return (
                True,
                False,
                f"Job {job['metadata']['name']} failed: {reason}" + (f" ({message})" if message else ""),
            )
    return False, False, ""


#: The label the Job controller puts on each pod it creates (Kubernetes 1.27+; `job-name` before).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def pod_failure(pods: Sequence[Mapping[str, Any]]) -> str:
    """Why a Job's pod ended or never started, as its kubelet reports it; "" when no pod says.

    A Job's own conditions only say that it failed (BackoffLimitExceeded, DeadlineExceeded); the pod
    says why: OOMKilled and the exit code of its container, or the reason it is still waiting
    (CreateContainerConfigError for a missing Secret key, ImagePullBackOff). The reasons are the
    kubelet's; its messages can name a Secret and a key, never a value.
    """
    details: list[str] = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            state = status.get("state") or {}
            terminated = state.get("terminated")
            waiting = state.get("waiting")
            container = status.get("name", "?")
            if terminated and terminated.get("reason") != "Completed":
                code = terminated.get("exitCode")
                details.append(f"pod {name}: container {container} {terminated.get('reason') or 'terminated'}"
                               + (f" (exit code {code})" if code is not None else ""))  # fmt: skip
            elif waiting and waiting.get("reason"):
                message = waiting.get("message")
                details.append(f"pod {name}: container {container} waiting: {waiting['reason']}"
                               + (f" ({message})" if message else ""))  # fmt: skip
    return "; ".join(details)
