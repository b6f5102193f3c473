"""The operator's own Job manifest (kube/jobs.job_manifest) for the container tests' pods."""

from __future__ import annotations

import datetime
from typing import Any

from employes_sync.kube import jobs
from employes_sync.kube.spec import parse
from employes_sync.store.queue import Batch

NS = "default"


def worker_job(
    image: str, name: str = "acme", command: list[str] | None = None, *, deadline: int = 120, **worker: Any
) -> dict[str, Any]:
    """The Job the operator creates for batch 1 of run 1 of resource ``name``; ``command`` swaps only
    the container's command for a probe. A ``deadline`` under the CRD's minimum (10 s, which the
    spec refuses) is set on the Job itself: the runner's deadline works the same for any value, and a
    probe of it need not wait 10 s."""
    spec = parse(
        {
            "api": {"companyId": "00000000-0000-0000-0000-000000000001",
                    "tokenSecretRef": {"name": "esync", "key": "token"}},
            "database": {"dsnSecretRef": {"name": "esync", "key": "dsn"}},
            "batches": {"activeDeadlineSeconds": max(deadline, 10)},
            "worker": {"image": image, **worker},
        }
    )  # fmt: skip
    owner = {"apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
             "metadata": {"name": name, "namespace": NS, "uid": "u-" + name}}  # fmt: skip
    batch = Batch(id=f"b-{name}", scope=f"{NS}/{name}", run_id=1, employee_ids=["e1"], status="pending",
                  priority=0, attempts=0, max_attempts=1, run_after=datetime.datetime.now(datetime.UTC),
                  error_message=None, job_name=None, batch_no=1)  # fmt: skip
    manifest = jobs.job_manifest(owner, spec, 1, batch, 1, default_image=image)
    manifest["spec"]["activeDeadlineSeconds"] = deadline
    if command is not None:
        manifest["spec"]["template"]["spec"]["containers"][0]["command"] = command
    return manifest
