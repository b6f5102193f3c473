"""Job manifests, status conditions and spec parsing: the operator's rules, without a cluster."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from employes_sync.allowlist import API_URL_ENV, API_URLS_ENV, DATABASE_HOSTS_ENV
from employes_sync.kube import jobs, spec, status, triggers
from employes_sync.settings import (
    EXTRA_CA_FILE_ENV,
    WORKER_COMPANY_ENV,
    WORKER_EXTRA_CA_ENV,
    WORKER_REDACT_ENV,
)
from employes_sync.store.queue import Batch

OWNER = {
    "apiVersion": "employessync.io/v1alpha1",
    "kind": "EmployesSync",
    "metadata": {"name": "acme", "namespace": "payroll", "uid": "u-1", "labels": {"team": "hr"}},
}
SPEC = {
    "api": {"companyId": "00000000-0000-4000-8000-000000000001", "tokenSecretRef": {"name": "api"}},
    "database": {"dsnSecretRef": {"name": "db", "key": "url"}},
    "batches": {"activeDeadlineSeconds": 120, "ttlSecondsAfterFinished": 60},
    "worker": {"resources": {"limits": {"memory": "256Mi"}}, "serviceAccountName": "esync-worker"},
}


def batch(no: int | None = 3, status_: str = "pending", attempts: int = 0, **kw: Any) -> Batch:
    return Batch(
        id=kw.pop("id", "0b6f0c1e-1111-4222-8333-444455556666"), scope="payroll/acme", run_id=7,
        employee_ids=["e1"], status=status_, priority=5, attempts=attempts, max_attempts=3,
        run_after=datetime.now(UTC), error_message=kw.pop("error", None), job_name=kw.pop("job", None),
        batch_no=no,
    )  # fmt: skip


def test_job_names_are_deterministic_dns_labels_per_attempt() -> None:
    assert jobs.job_name("acme", 7, batch(), 1) == "acme-r7-b3-a1"
    assert jobs.job_name("acme", 7, batch(), 2) == "acme-r7-b3-a2"
    assert jobs.job_name("acme", 7, batch(), 1) == jobs.job_name("acme", 7, batch(), 1)
    long_a, long_b = "x" * 80 + "-alpha", "x" * 80 + "-beta"
    for name in (
        jobs.job_name(long_a, 123456, batch(499), 10),
        jobs.job_name(long_b, 123456, batch(499), 10),
    ):
        assert len(name) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
        assert name.endswith("-r123456-b499-a10")
    assert jobs.job_name(long_a, 1, batch(1), 1) != jobs.job_name(long_b, 1, batch(1), 1)
    assert jobs.job_name("acme", 7, batch(None), 1).startswith("acme-r7-b0b6f0c1e11-a1")


def test_job_manifest_is_owned_labelled_and_hardened() -> None:
    parsed = spec.parse(SPEC)
    job = jobs.job_manifest(
        OWNER,
        parsed,
        7,
        batch(),
        2,
        default_image="img:1",
        allowed_api_urls=[parsed.base_url, "https://x/v4"],
        allowed_database_hosts=["pg.payroll.svc", "/cloudsql"],
    )
    meta = job["metadata"]
    assert meta["name"] == "acme-r7-b3-a2" and meta["namespace"] == "payroll"
    assert meta["ownerReferences"][0]["uid"] == "u-1" and meta["ownerReferences"][0]["controller"]
    assert meta["labels"].items() >= {
        "app.kubernetes.io/name": "employes-sync", "app.kubernetes.io/managed-by": "employes-sync-operator",
        "employessync.io/sync": "acme", "employessync.io/run": "7", "employessync.io/batch": "3",
        "employessync.io/attempt": "2",
    }.items()  # fmt: skip
    js = job["spec"]
    assert js["backoffLimit"] == 0
    assert js["activeDeadlineSeconds"] == 120 and js["ttlSecondsAfterFinished"] == 60
    pod = js["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "esync-worker"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["image"] == "img:1"
    assert c["command"] == ["employes-sync", "worker", "--batch-id", batch().id]
    assert c["resources"] == {"limits": {"memory": "256Mi"}}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    env = {e["name"]: e for e in c["env"]}
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "url"}}
    assert env["EMPLOYES_API_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "api", "key": "token"}}
    # The API's destination comes from the spec and the operator's allowlist, never from the database.
    assert env[API_URL_ENV]["value"] == parsed.base_url
    assert parsed.base_url in env[API_URLS_ENV]["value"].split(",")
    # So do the company and the redaction: the database's copy may have been rewritten by another tenant.
    assert env[WORKER_COMPANY_ENV]["value"] == parsed.company_id
    assert json.loads(env[WORKER_REDACT_ENV]["value"]) == list(parsed.redact)
    # The database's too: the worker checks the DSN its pod read, and dials it as a resource's.
    assert env[DATABASE_HOSTS_ENV]["value"] == "pg.payroll.svc,/cloudsql"
    # Secrets only by reference: no other variable carries a literal value.
    literal = {n for n, e in env.items() if "value" in e}
    jobs_own = {
        "TMPDIR",
        API_URL_ENV,
        API_URLS_ENV,
        DATABASE_HOSTS_ENV,
        WORKER_COMPANY_ENV,
        WORKER_REDACT_ENV,
    }
    assert literal <= jobs_own, literal


def test_a_job_reaches_the_api_through_the_operators_proxy() -> None:
    environ = {
        "HTTPS_PROXY": "http://proxy.internal:3128", "no_proxy": ".svc,10.0.0.0/8",
        "HTTP_PROXY": "", "PGPASSWORD": "never-passed", "PATH": "/usr/bin",
        "PGSERVICE": "payroll-elsewhere", "PGHOST": "db.elsewhere", "PGSSLROOTCERT": "/etc/ssl/ca.pem",
    }  # fmt: skip
    proxies = jobs.proxy_environment(environ)
    assert proxies == {"HTTPS_PROXY": "http://proxy.internal:3128", "no_proxy": ".svc,10.0.0.0/8"}
    job = jobs.job_manifest(OWNER, spec.parse(SPEC), 7, batch(), 1, default_image="img:1", proxy_env=proxies)
    (c,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HTTPS_PROXY"] == "http://proxy.internal:3128" and env["no_proxy"] == ".svc,10.0.0.0/8"
    assert "PGPASSWORD" not in env and "PATH" not in env and "HTTP_PROXY" not in env
    # None of libpq's variables either: a worker's connection is its Secret's DSN alone (the worker drops
    # those of its image's ENV: tests/test_job_worker_dsn.py).
    assert not [name for name in env if name.startswith("PG")], env
    # Without a proxy in the operator's environment a Job's environment is what it was.
    plain = jobs.job_manifest(OWNER, spec.parse(SPEC), 7, batch(), 1, default_image="img:1")
    names = [e["name"] for e in plain["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert not set(names) & {"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "no_proxy"}


def test_a_job_trusts_the_operators_extra_ca_through_its_environment() -> None:
    # What `configured_extra_ca()` returns: certificates only (tests/test_extra_ca.py checks that).
    pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
    job = jobs.job_manifest(OWNER, spec.parse(SPEC), 7, batch(), 1, default_image="img:1", extra_ca_pem=pem)
    (c,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env[WORKER_EXTRA_CA_ENV] == {"name": WORKER_EXTRA_CA_ENV, "value": pem}
    # No file: the pod runs in the resource's namespace, where the operator's ConfigMap is not.
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert EXTRA_CA_FILE_ENV not in env
    # Without an extra CA the Job's environment is what it was.
    for none in (None, ""):
        plain = jobs.job_manifest(
            OWNER, spec.parse(SPEC), 7, batch(), 1, default_image="img:1", extra_ca_pem=none
        )
        names = [e["name"] for e in plain["spec"]["template"]["spec"]["containers"][0]["env"]]
        assert WORKER_EXTRA_CA_ENV not in names and EXTRA_CA_FILE_ENV not in names


def test_job_finished_reads_controller_conditions() -> None:
    job = {"metadata": {"name": "j"}, "status": {}}
    assert jobs.job_finished(job) == (False, False, "")
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert jobs.job_finished(job) == (True, True, "")
    job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}
    finished, ok, reason = jobs.job_finished(job)
    assert finished and not ok and "DeadlineExceeded" in reason


def test_pod_failure_names_what_the_kubelet_reports() -> None:
    def pod(name: str, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "status": {"containerStatuses": [{"name": "worker", "state": state}]},
        }

    assert jobs.pod_failure([]) == ""
    assert jobs.pod_failure([pod("p0", {"terminated": {"reason": "Completed", "exitCode": 0}})]) == ""
    oom = pod("p1", {"terminated": {"reason": "OOMKilled", "exitCode": 137}})
    assert jobs.pod_failure([oom]) == "pod p1: container worker OOMKilled (exit code 137)"
    message = "couldn't find key token in Secret default/esync"
    waiting = pod("p2", {"waiting": {"reason": "CreateContainerConfigError", "message": message}})
    assert jobs.pod_failure([oom, waiting]) == (
        "pod p1: container worker OOMKilled (exit code 137); pod p2: container worker waiting: "
        "CreateContainerConfigError (couldn't find key token in Secret default/esync)"
    )
    assert jobs.pod_failure([{"metadata": {"name": "p3"}}]) == ""  # a pod not scheduled yet says nothing


def test_condition_transition_time_moves_only_on_a_flip() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    c = status.set_condition([], "Ready", False, "RunInProgress", "first run", 1, now=t0)
    assert c == [{"type": "Ready", "status": "False", "reason": "RunInProgress", "message": "first run",
                  "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1}]  # fmt: skip
    c = status.set_condition(c, "Ready", False, "SecretNotFound", "no secret", 2, now=t0 + timedelta(1))
    assert c[0]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert (c[0]["reason"], c[0]["observedGeneration"]) == ("SecretNotFound", 2)
    c = status.set_condition(c, "Ready", True, "RunSucceeded", "ok", 2, now=t0 + timedelta(2))
    assert c[0]["lastTransitionTime"] == "2025-01-03T00:00:00Z"
    c = status.set_condition(c, "Degraded", False, "NoFailedBatches", "", 2, now=t0)
    c = status.set_condition(c, "Progressing", False, "Idle", "", 2, now=t0)
    assert [x["type"] for x in c] == ["Ready", "Progressing", "Degraded"]
    assert status.is_true(c, "Ready") and not status.is_true(c, "Degraded")


def test_messages_are_one_bounded_line() -> None:
    c = status.set_condition([], "Ready", False, "X", "line one\nline two " + "y" * 5000, None)
    assert "\n" not in c[0]["message"] and len(c[0]["message"]) <= 1000
    assert "observedGeneration" not in c[0]


def test_unfinished_batches_are_bounded_and_failed_first() -> None:
    batches = [batch(i, "pending", id=f"p{i}") for i in range(1, 30)]
    batches += [batch(40, "completed", id="c"), batch(41, "failed", 3, id="f", error="boom", job="acme-x")]
    listed = status.unfinished_batches(batches)
    assert len(listed) == 20
    assert listed[0] == {"id": "f", "state": "failed", "attempts": 3, "maxAttempts": 3, "number": 41,
                         "jobName": "acme-x", "lastError": "boom"}  # fmt: skip
    assert all(b["state"] != "completed" for b in listed)
    assert status.batch_counts(batches) == {"pending": 29, "processing": 0, "completed": 1, "failed": 1}


def test_spec_defaults_apply_when_fields_are_missing() -> None:
    parsed = spec.parse(SPEC)
    assert parsed.token_ref == spec.SecretRef("api", "token")
    assert parsed.dsn_ref == spec.SecretRef("db", "url")
    assert (parsed.inline_count, parsed.batch_size, parsed.parallelism, parsed.max_attempts) == (5, 25, 2, 3)
    assert parsed.redact == ("personal_identification_number", "iban")
    settings = parsed.settings("payroll/acme", trigger="created", mode="background", extra={"generation": 1})
    assert settings.inline_count == 0  # background runs process nothing inline
    assert settings.locale == "en"
    dutch = spec.parse({**SPEC, "timeline": {"locale": "nl"}}).settings(
        "payroll/acme", trigger="created", mode="interactive", extra={}
    )
    assert dutch.locale == "nl"  # spec.timeline.locale reaches every batch through the run's settings
    assert settings.lease_seconds > parsed.active_deadline_seconds
    with pytest.raises(spec.SpecError, match="companyId"):
        spec.parse({"api": {}, "database": {"dsnSecretRef": {"name": "db"}}})


def test_the_longest_job_deadline_the_crd_allows_gives_usable_settings() -> None:
    """A day's deadline gave a lease of 86,460 s, which the settings refused: every run InvalidSpec."""
    day = {**SPEC, "batches": {**SPEC["batches"], "activeDeadlineSeconds": 86400}}
    settings = spec.parse(day).settings("payroll/acme", trigger="created", mode="background", extra={})
    assert settings.lease_seconds == 86460


def test_a_secret_key_named_for_two_purposes_is_refused_before_anything_is_read() -> None:
    """A token reference naming the DSN's key would send the database password to the API host."""
    same_key = {**SPEC, "api": {**SPEC["api"], "tokenSecretRef": {"name": "db", "key": "url"}}}
    with pytest.raises(spec.SpecError) as info:
        spec.parse(same_key)
    assert str(info.value) == (
        "spec.database.dsnSecretRef names Secret key db/url, which spec.api.tokenSecretRef names for the "
        "API token: each Secret key is for one purpose"
    )

    def hook(name: str, url: tuple[str, str], signing: tuple[str, str]) -> dict[str, Any]:
        return {"name": name, "urlSecretRef": dict(zip(("name", "key"), url, strict=True)),
                "signingSecretRef": dict(zip(("name", "key"), signing, strict=True))}  # fmt: skip

    shared_signing = {**SPEC, "notifications": {"webhooks": [
        hook("a", ("hooks", "a-url"), ("hooks", "secret")), hook("b", ("hooks", "b-url"), ("hooks", "secret"))
    ]}}  # fmt: skip
    assert len(spec.parse(shared_signing).webhooks) == 2  # one receiver secret for two webhooks is fine
    url_is_token = {**SPEC, "notifications": {"webhooks": [hook("a", ("api", "token"), ("hooks", "s"))]}}
    with pytest.raises(
        spec.SpecError, match=r"^spec.notifications.webhooks\[0\].urlSecretRef names Secret key "
    ):
        spec.parse(url_is_token)


def test_triggers_are_level_based_and_coalesce() -> None:
    meta: dict[str, Any] = {"generation": 1, "annotations": {}}
    created = triggers.wanted(meta, {})
    assert created == triggers.Trigger("created", "interactive", 1, None)
    synced = {"syncedGeneration": 1, "syncedRequest": None}
    assert triggers.wanted(meta, synced) is None
    # Three requests and a spec change while a run goes on: one follow-up run covers all of them.
    meta = {
        "generation": 2,
        "annotations": {triggers.REQUESTED_AT: "t3", triggers.REQUESTED_MODE: "background"},
    }
    follow_up = triggers.wanted(meta, synced)
    assert follow_up is not None and follow_up.reason == "spec-changed" and follow_up.requested_at == "t3"
    synced = {"syncedGeneration": 2, "syncedRequest": "t3"}
    assert triggers.wanted(meta, synced) is None
    meta["annotations"][triggers.REQUESTED_AT] = "t4"
    requested = triggers.wanted(meta, synced)
    assert requested == triggers.Trigger("requested", "background", 2, "t4")
    meta["annotations"][triggers.REQUESTED_MODE] = "bogus"
    assert triggers.wanted(meta, synced).mode == "interactive"  # type: ignore[union-attr]


def test_only_a_change_past_the_status_is_one_a_reconciler_acts_on() -> None:
    obj: dict[str, Any] = {
        "metadata": {"generation": 1, "resourceVersion": "5", "annotations": {}, "labels": {"a": "b"}},
        "spec": dict(SPEC),
        "status": {"currentRun": {"id": 1, "phase": "Starting"}},
    }
    before = triggers.watched(obj)
    # The reconciler's own status write: a new version, the same object as far as it acts on it.
    written = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "6"}, "status": {"lastRun": {}}}
    assert triggers.watched(written) == before
    moved = [
        {**obj, "metadata": {**obj["metadata"], "annotations": {triggers.REQUESTED_AT: "t1"}}},
        {**obj, "metadata": {**obj["metadata"], "generation": 2}},
        {**obj, "spec": {**SPEC, "suspend": True}},  # a spec change, also where no generation is kept
        {**obj, "metadata": {**obj["metadata"], "labels": {}}},
        {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}},
    ]
    for other in moved:
        assert triggers.watched(other) != before, other


async def test_a_resource_event_wakes_its_reconciler_unless_only_the_status_moved() -> None:
    from employes_sync.controller.context import OperatorConfig, OperatorContext

    ctx = OperatorContext(config=OperatorConfig(), api=None)  # type: ignore[arg-type]  # no API call here
    wake = ctx.waker("payroll", "acme")
    obj: dict[str, Any] = {"metadata": {"generation": 1, "annotations": {}}, "spec": dict(SPEC)}
    ctx.changed("payroll", "acme", obj)
    assert wake.is_set()  # the first event of a resource always wakes
    wake.clear()
    ctx.changed("payroll", "acme", {**obj, "status": {"lastRun": {"id": 1}}})
    assert not wake.is_set()
    annotated = {**obj, "metadata": {"generation": 1, "annotations": {triggers.REQUESTED_AT: "t1"}}}
    ctx.changed("payroll", "acme", {**annotated, "status": {"lastRun": {"id": 1}}})
    assert wake.is_set()
    wake.clear()
    ctx.forget("payroll", "acme")  # its reconciler ended: a later one is woken by its first event
    ctx.changed("payroll", "acme", annotated)
    assert wake.is_set() and ctx.waker("payroll", "acme") is wake


def test_trigger_patch_sets_the_annotations() -> None:
    patch = triggers.request_patch("background", datetime(2025, 3, 1, 2, 30, tzinfo=UTC))
    stamp = "2025-03-01T02:30:00.000000Z"
    annotations = {triggers.REQUESTED_AT: stamp, triggers.REQUESTED_MODE: "background"}
    assert patch == {"metadata": {"annotations": annotations}}
