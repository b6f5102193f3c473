"""The riskiest plumbing first: kopf, as a real process, against kmock's emulator over HTTP.

If this fails, nothing else in the operator tests can pass: the emulator must serve discovery, lists,
watches, patches (including the status subresource) and Jobs well enough for kopf and kubectl.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import BIN, JOBS, Cluster, JobRunner, OperatorProcess, wait_for

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.test"},
    "spec": {
        "group": "smoke.test",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

OPERATOR = textwrap.dedent(
    f"""
    import sys
    import kopf

    @kopf.on.startup()
    def configure(settings, **_):
        settings.scanning.disabled = True
        settings.posting.level = 0
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="smoke.test")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="smoke.test")

    @kopf.on.create("smoke.test", "v1", "widgets")
    def created(body, patch, **_):
        job = {{
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {{"name": body.metadata.name + "-job", "labels": {{"employessync.io/sync": "w"}}}},
            "spec": {{"backoffLimit": 0, "template": {{"spec": {{"restartPolicy": "Never",
                "containers": [{{"name": "c", "image": "x",
                                 "command": [{sys.executable!r}, "-c", "print('hello from a job')"]}}]}}}}}},
        }}
        kopf.adopt(job)
        import kubernetes
        kubernetes.config.load_kube_config()
        kubernetes.client.BatchV1Api().create_namespaced_job(body.metadata.namespace, job)
        kopf.info(body, reason="WidgetCreated", message="made a Job")
        patch.status["phase"] = "Created"

    @kopf.on.event("batch", "v1", "jobs")
    def job_seen(body, **_):
        for c in body.get("status", {{}}).get("conditions", []):
            if c["type"] == "Complete":
                print("JOB-COMPLETE", body.metadata.name, flush=True)
    """
)


def test_kopf_runs_against_the_emulator_and_jobs_run(
    cluster: Cluster, job_runner: JobRunner, operator_factory: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    cluster.apply(WIDGET_CRD)
    script = tmp_path / "smoke_operator.py"
    script.write_text(OPERATOR)
    op = operator_factory([str(BIN / "kopf"), "run", "--standalone", "-n", "default", str(script)])

    cluster.apply(
        {
            "apiVersion": "smoke.test/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default"},
            "spec": {"size": 1},
        }
    )

    def phase() -> object:
        obj = cluster.get("smoke.test/v1/widgets", "default", "w1")
        return obj and obj.get("status", {}).get("phase")

    assert wait_for(phase, 30, what="the handler's status patch") == "Created"
    job = wait_for(lambda: cluster.get(JOBS, "default", "w1-job"), 10, what="the Job")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Widget"
    wait_for(lambda: job_runner.outcomes.get("w1-job") == "Complete", 20, what="the Job to complete")
    assert "hello from a job" in (tmp_path / "jobs" / "w1-job.log").read_text()
    wait_for(lambda: "JOB-COMPLETE w1-job" in op.logs(), 10, what="kopf to see the Job status")
    wait_for(lambda: any(e.get("reason") == "WidgetCreated" for e in cluster.events()), 10, what="the event")

    # The real kubectl understands the emulator too.
    out = cluster.kubectl("get", "jobs", "-o", "name").stdout
    assert "job.batch/w1-job" in out
    assert op.process is not None and op.process.poll() is None, op.logs()
    assert sys.version_info >= (3, 11)


def test_a_json_patch_on_a_stale_version_is_422_as_from_an_api_server(cluster: Cluster) -> None:
    """kopf tests metadata.resourceVersion in its JSON patches and takes a 422 as "retry next cycle"."""
    obj = cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}}
    )
    path = "/api/v1/namespaces/default/configmaps/cm"
    stale = obj["metadata"]["resourceVersion"]
    cluster.patch(path, {"data": {"moved": "on"}})

    async def json_patch(version: str) -> tuple[int, Any]:
        assert cluster.emulator is not None
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}},
        ]
        headers = {"Content-Type": "application/json-patch+json"}
        async with cluster.emulator.request("PATCH", path, json=ops, headers=headers) as resp:
            return resp.status, await resp.json()

    status, body = cluster.call(json_patch(stale))
    assert (status, body["reason"]) == (422, "Invalid")
    fresh = cluster.get("v1/configmaps", "default", "cm")
    assert "annotations" not in fresh["metadata"] or "a" not in fresh["metadata"]["annotations"]
    status, _ = cluster.call(json_patch(fresh["metadata"]["resourceVersion"]))
    assert status == 200
    assert cluster.get("v1/configmaps", "default", "cm")["metadata"]["annotations"] == {"a": "b"}
