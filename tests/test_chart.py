"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk, offline).

Every manifest the chart can produce is validated in strict mode against the Kubernetes 1.33 schemas,
and the security promises (least-privilege RBAC without wildcards, hardened pods, a worker identity with
no API access) are checked on the rendered objects, for the default values and for each toggle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.reliability import rows

ROOT = Path(__file__).resolve().parent.parent
CHART_DIR = ROOT / "charts" / "employes-sync"
TOP_LEVEL_CRD = ROOT / "crds" / "employessync.yaml"
CHART_CRD = CHART_DIR / "crds" / "employessync.yaml"
KUBE_VERSION = "1.33.0"
RELEASE = "esync"
NAMESPACE = "employes-sync-system"

Manifest = dict[str, Any]

SCHEDULE = {
    "name": "nightly",
    "syncName": "acme",
    "namespace": "payroll",
    "schedule": "0 2 * * *",
    "timeZone": "Europe/Amsterdam",
    "mode": "background",
}

# One scenario per toggle, plus everything at once.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["payroll", "payroll-test"]},
    "cluster-wide": {"clusterWide": True},
    "scanning-namespaced": {"watchNamespaces": ["payroll"], "rbac": {"scanning": True}},
    "scanning-cluster-wide": {"clusterWide": True, "rbac": {"scanning": True}},
    "network-policies": {"networkPolicy": {"enabled": True}},
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}},
    "dashboard": {"dashboard": {"enabled": True}},
    "prometheus-rule": {"prometheusRule": {"enabled": True}},
    "schedules": {"schedules": [SCHEDULE, {"name": "hourly", "syncName": "beta", "schedule": "@hourly"}]},
    "simulator": {"simulator": {"enabled": True}},
    "two-replicas": {"replicaCount": 2, "clusterWide": True},
    "two-replicas-release-namespace": {"replicaCount": 2},
    "two-replicas-namespaced": {"replicaCount": 2, "watchNamespaces": ["payroll", "payroll-test"]},
    "two-replicas-no-pdb": {"replicaCount": 3, "podDisruptionBudget": {"enabled": False}},
    "extra-ca": {"operator": {"extraCA": {"configMap": "company-ca"}}},
    "everything": {
        "replicaCount": 2,
        "watchNamespaces": ["payroll"],
        "rbac": {"scanning": True},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "dashboard": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "schedules": [SCHEDULE],
        "simulator": {"enabled": True},
        "imagePullSecrets": [{"name": "regcred"}],
        "operator": {"extraCA": {"configMap": "proxy-ca.example", "key": "bundle.pem"}},
        "worker": {"serviceAccount": {"extraNamespaces": ["other"]}},
        "networkPolicy": {
            "enabled": True,
            "operator": {"ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]},
            "worker": {"databaseTo": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "apiTo": []},
        },
        "allowlist": {
            "workerImages": ["registry.example/esync:1.2.3"],
            "workerServiceAccounts": ["batch"],
            "databaseHosts": ["pg.payroll.svc", "[fd00::5]:6432"],
            "webhookHosts": ["hooks.example", "10.0.0.9:8080"],
        },
    },
}

#: Cluster-scoped kinds the chart renders (no namespace).
CLUSTER_SCOPED = {
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ClusterKopfPeering",
}

# Kinds that are not part of Kubernetes itself (Prometheus Operator CRDs): kubernetes-validate has no
# schema for them, so only their ObjectMeta is validated strictly (see _validate_strict).
FOREIGN_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("kopf.dev/v1", "ClusterKopfPeering"),  # crds/kopfpeering.yaml: checked by the peering tests
    ("kopf.dev/v1", "KopfPeering"),
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[Manifest]:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def notes(chart: helm.Chart, values: dict[str, Any] | None = None) -> str:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[m['metadata'] for m in found]}"
    return found[0]


def pod_specs(manifests: list[Manifest]) -> list[tuple[str, Manifest]]:
    """Every pod template the chart renders, named by its owner."""
    specs: list[tuple[str, Manifest]] = []
    for m in manifests:
        owner = f"{m['kind']}/{m['metadata']['name']}"
        if m["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            specs.append((owner, m["spec"]["template"]["spec"]))
        elif m["kind"] == "CronJob":
            specs.append((owner, m["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif m["kind"] == "Pod":
            specs.append((owner, m["spec"]))
    return specs


def rbac_rules(manifests: list[Manifest]) -> list[tuple[str, Manifest]]:
    return [
        (f"{m['kind']}/{m['metadata'].get('namespace', '')}/{m['metadata']['name']}", rule)
        for m in manifests
        if m["kind"] in {"Role", "ClusterRole"}
        for rule in m.get("rules", [])
    ]


def _validate_strict(manifest: Manifest) -> None:
    key = (manifest["apiVersion"], manifest["kind"])
    if key in FOREIGN_KINDS:
        # No schema for Prometheus Operator kinds ships with kubernetes-validate (it knows Kubernetes'
        # own API only), and this repository has no copy of those CRDs. Validate the part Kubernetes
        # itself defines, ObjectMeta, strictly by wrapping it in a ConfigMap; the spec is checked by
        # the dedicated tests below.
        metadata_only = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]}
        kubernetes_validate.validate(metadata_only, KUBE_VERSION, strict=True)
        return
    kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)


# --- rendering and lint ------------------------------------------------------------------------


def test_helm_sdk_works_offline_with_its_bundled_library() -> None:
    # The SDK binds a bundled libhelm_c.so (Helm v4's Go SDK) with ctypes: no helm binary, no download.
    assert Path(helm.library_path).is_file()
    assert helm.helm_sdk_version().startswith("v4.")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_chart_renders(chart: helm.Chart, scenario: str) -> None:
    manifests = render(chart, SCENARIOS[scenario])
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "ServiceAccount", "Service"} <= kinds
    names = [(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in manifests]
    assert len(names) == len(set(names)), "two objects render with the same kind, namespace and name"
    for m in manifests:
        if m["kind"] not in CLUSTER_SCOPED:
            assert m["metadata"].get("namespace"), f"{m['kind']}/{m['metadata']['name']} has no namespace"
        assert m["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


@pytest.mark.parametrize("scenario", ["defaults", "everything"])
def test_helm_lint_reports_no_errors(scenario: str) -> None:
    report = helm.lint(CHART_DIR, SCENARIOS[scenario] or None, namespace=NAMESPACE, kube_version="v1.33.0")
    errors = [m for m in report["messages"] if m["severity"] >= 3]
    assert not report["errors"] and not errors, report
    warnings = [m for m in report["messages"] if m["severity"] == 2]
    assert not warnings, warnings


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_manifest_validates_strictly_against_kubernetes_1_33(chart: helm.Chart, scenario: str) -> None:
    for manifest in render(chart, SCENARIOS[scenario]):
        _validate_strict(manifest)


def test_toggles_add_exactly_their_objects(chart: helm.Chart) -> None:
    default_kinds = {m["kind"] for m in render(chart)}
    assert not default_kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap", "CronJob"}
    assert of_kind(render(chart), "Deployment")[0]["metadata"]["name"] == f"{RELEASE}-employes-sync"
    assert one(render(chart, SCENARIOS["service-monitor"]), "ServiceMonitor")
    assert one(render(chart, SCENARIOS["prometheus-rule"]), "PrometheusRule")
    assert one(render(chart, SCENARIOS["dashboard"]), "ConfigMap")
    assert len(of_kind(render(chart, SCENARIOS["schedules"]), "CronJob")) == 2
    simulator = render(chart, SCENARIOS["simulator"])
    assert len(of_kind(simulator, "Deployment")) == 2
    assert one(simulator, "Service", f"{RELEASE}-employes-sync-simulator")
    assert not of_kind(render(chart, {"metrics": {"service": {"enabled": False}}}), "Service")


def test_service_monitor_without_its_service_fails_with_a_clear_message(chart: helm.Chart) -> None:
    values = {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}}
    with pytest.raises(helm.HelmRenderError, match=r"metrics\.service\.enabled"):
        render(chart, values)


# --- the operator Deployment -------------------------------------------------------------------


def test_operator_deployment(chart: helm.Chart) -> None:
    deployment = one(render(chart), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == f"{RELEASE}-employes-sync"
    (container,) = pod["containers"]
    assert container["image"] == f"employes-sync:{chart.metadata['appVersion']}"
    args = container["args"]
    assert args[:2] == ["-v", "operator"]  # -v is the CLI group's option: info logging
    # Namespaced by default: the release's namespace only.
    assert f"--namespace={NAMESPACE}" in args and "--all-namespaces" not in args
    assert [a for a in args if a.startswith("--allow-api-url")] == [
        "--allow-api-url=https://connect.employes.nl/v4"
    ]
    assert "--metrics-port=8080" in args and "--health-port=8081" in args
    assert f"--worker-image=employes-sync:{chart.metadata['appVersion']}" in args
    assert f"--worker-service-account={RELEASE}-employes-sync-worker" in args
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"

    service = one(render(chart), "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_operator_watches_the_listed_namespaces(chart: helm.Chart) -> None:
    manifests = render(chart, {"watchNamespaces": ["payroll", "payroll-test", "payroll"]})
    args = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    watched = [a for a in args if a.startswith("--namespace")]
    assert watched == ["--namespace=payroll", "--namespace=payroll-test"]
    assert "--all-namespaces" not in args


def test_image_tag_and_worker_image_overrides(chart: helm.Chart) -> None:
    values = {"image": {"repository": "registry.example/esync", "tag": "1.2.3"}, "worker": {"image": "w:9"}}
    container = one(render(chart, values), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/esync:1.2.3"
    assert "--worker-image=w:9" in container["args"]


EXTRA_CA_DIR = "/etc/employes-sync/extra-ca"


def test_an_extra_ca_configmap_is_mounted_read_only_and_named_to_the_operator(chart: helm.Chart) -> None:
    pod = one(render(chart, SCENARIOS["extra-ca"]), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    # The operator reads the file at start and gives its Jobs the certificates (EMPLOYES_SYNC_EXTRA_CA_PEM):
    # the chart mounts nothing into them, and sets no certificate itself.
    assert env["EMPLOYES_SYNC_EXTRA_CA_FILE"] == {"name": "EMPLOYES_SYNC_EXTRA_CA_FILE",
                                                  "value": f"{EXTRA_CA_DIR}/ca.crt"}  # fmt: skip
    assert "EMPLOYES_SYNC_EXTRA_CA_PEM" not in env
    assert {"name": "extra-ca", "mountPath": EXTRA_CA_DIR, "readOnly": True} in container["volumeMounts"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "extra-ca"]
    # Not optional: a ConfigMap or key that is missing keeps the pod from starting, with the kubelet's event.
    items = [{"key": "ca.crt", "path": "ca.crt"}]
    assert volume == {"name": "extra-ca", "configMap": {"name": "company-ca", "items": items}}
    # Another key is mapped to the same file name, so the variable never changes.
    operator = one(render(chart, SCENARIOS["everything"]), "Deployment", f"{RELEASE}-employes-sync")
    everything = operator["spec"]["template"]["spec"]
    [volume] = [v for v in everything["volumes"] if v["name"] == "extra-ca"]
    items = [{"key": "bundle.pem", "path": "ca.crt"}]
    assert volume["configMap"] == {"name": "proxy-ca.example", "items": items}


def test_no_extra_ca_by_default(chart: helm.Chart) -> None:
    for values in ({}, {"operator": {"extraCA": {"configMap": "", "key": "other.pem"}}}):
        pod = one(render(chart, values), "Deployment")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert "EMPLOYES_SYNC_EXTRA_CA_FILE" not in {e["name"] for e in container["env"]}
        assert [v["name"] for v in pod["volumes"]] == ["tmp"]
        assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]


# --- security ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_rbac_has_no_wildcards(chart: helm.Chart, scenario: str) -> None:
    rules = rbac_rules(render(chart, SCENARIOS[scenario]))
    assert rules
    for owner, rule in rules:
        assert "nonResourceURLs" not in rule, owner
        for field in ("verbs", "resources", "apiGroups", "resourceNames"):
            for item in rule.get(field, []):
                assert "*" not in item, f"{owner} has a wildcard in {field}: {rule}"


OPERATOR_RULES = {
    ("employessync.io", "employessyncs"): {"get", "list", "watch", "patch"},
    ("employessync.io", "employessyncs/status"): {"get", "patch"},
    ("employessync.io", "employessyncs/finalizers"): {"update"},
    ("batch", "jobs"): {"create", "delete", "get", "list", "watch"},
    ("", "pods"): {"list"},
    ("", "secrets"): {"get"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}


def _permissions(role: Manifest) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def _worker_job() -> Manifest:
    """A Job as the operator creates it for one batch attempt (kube/jobs.job_manifest)."""
    from employes_sync.kube import jobs
    from employes_sync.kube.spec import parse
    from employes_sync.store.queue import Batch

    owner = {"apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync",
             "metadata": {"name": "acme", "namespace": "payroll", "uid": "u-1"}}  # fmt: skip
    api = {"companyId": "00000000-0000-4000-8000-000000000001", "tokenSecretRef": {"name": "s"}}
    spec = parse({"api": api, "database": {"dsnSecretRef": {"name": "s"}}})
    batch = Batch(id="b-1", scope="payroll/acme", run_id=1, employee_ids=["e"], status="pending", priority=0,
                  attempts=0, max_attempts=3, run_after=datetime.now(UTC), error_message=None, job_name=None,
                  batch_no=1, started_at=None, completed_at=None, lease_expires_at=None,
                  result=None)  # fmt: skip
    return jobs.job_manifest(owner, spec, 1, batch, 1, default_image="x")


@pytest.mark.parametrize("scenario", ["defaults", "namespaced", "cluster-wide"])
def test_the_operator_may_set_the_owner_references_its_jobs_carry(chart: helm.Chart, scenario: str) -> None:
    """With the OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters), a
    create that sets owner references needs `delete` on the object, and one that sets blockOwnerDeletion
    needs `update` on the owner's `finalizers` subresource: without them every Job create is a 403."""
    references = _worker_job()["metadata"]["ownerReferences"]
    assert references
    for role in of_kind(render(chart, SCENARIOS[scenario]), "Role") + of_kind(
        render(chart, SCENARIOS[scenario]), "ClusterRole"
    ):
        if role["metadata"]["name"] != f"{RELEASE}-employes-sync":
            continue
        granted = _permissions(role)
        assert "delete" in granted[("batch", "jobs")]
        for reference in references:
            if reference.get("blockOwnerDeletion"):
                group = reference["apiVersion"].split("/")[0]
                assert "update" in granted.get((group, "employessyncs/finalizers"), set()), role["metadata"]


@pytest.mark.fault(*rows.DEFAULT_RBAC_IS_ONE_ROLE_IN_THE_RELEASE_NAMESPACE)
def test_default_rbac_is_one_role_in_the_release_namespace(chart: helm.Chart) -> None:
    manifests = render(chart)
    assert not of_kind(manifests, "ClusterRole") and not of_kind(manifests, "ClusterRoleBinding")
    (role,) = of_kind(manifests, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _permissions(role) == OPERATOR_RULES
    (binding,) = of_kind(manifests, "RoleBinding")
    assert binding["metadata"]["namespace"] == NAMESPACE and binding["roleRef"]["kind"] == "Role"


@pytest.mark.fault(*rows.CLUSTER_WIDE_IS_EXPLICIT_AND_WARNED_ABOUT)
def test_cluster_wide_is_explicit_and_warned_about(chart: helm.Chart) -> None:
    args = one(render(chart, SCENARIOS["cluster-wide"]), "Deployment")["spec"]["template"]["spec"]
    assert "--all-namespaces" in args["containers"][0]["args"]
    assert "WARNING" in notes(chart, SCENARIOS["cluster-wide"]) and "EVERY namespace" in notes(
        chart, SCENARIOS["cluster-wide"]
    )
    assert "WARNING" not in notes(chart)
    with pytest.raises(helm.HelmRenderError, match="clusterWide"):
        render(chart, {"clusterWide": True, "watchNamespaces": ["payroll"]})


def test_cluster_wide_rbac_is_a_least_privilege_cluster_role(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["cluster-wide"])
    assert not of_kind(manifests, "Role") and not of_kind(manifests, "RoleBinding")
    role = one(manifests, "ClusterRole")
    assert _permissions(role) == OPERATOR_RULES
    binding = one(manifests, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-employes-sync", "namespace": NAMESPACE}
    ]


def test_namespaced_rbac_is_one_role_per_watched_namespace(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["namespaced"])
    assert not of_kind(manifests, "ClusterRole") and not of_kind(manifests, "ClusterRoleBinding")
    roles = of_kind(manifests, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payroll", "payroll-test"]
    for role in roles:
        assert _permissions(role) == OPERATOR_RULES
    bindings = of_kind(manifests, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payroll", "payroll-test"]
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_secrets_are_only_read_by_name(chart: helm.Chart) -> None:
    for scenario in ("defaults", "everything"):
        for owner, rule in rbac_rules(render(chart, SCENARIOS[scenario])):
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"], owner


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("scanning-cluster-wide", {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}),
        (
            "scanning-namespaced",
            {
                ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
                ("", "namespaces"): {"list", "watch"},
            },
        ),
    ],
)
def test_kopf_scanning_permissions_are_opt_in_and_read_only(
    chart: helm.Chart, scenario: str, expected: dict[tuple[str, str], set[str]]
) -> None:
    manifests = render(chart, SCENARIOS[scenario])
    scanning = one(manifests, "ClusterRole", f"{RELEASE}-employes-sync-scanning")
    assert _permissions(scanning) == expected
    everything_else = [
        r for r in rbac_rules(render(chart, SCENARIOS["cluster-wide"])) if "namespaces" in r[1]["resources"]
    ]
    assert not everything_else


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_pod_is_non_root_with_a_read_only_root_filesystem(chart: helm.Chart, scenario: str) -> None:
    specs = pod_specs(render(chart, SCENARIOS[scenario]))
    assert specs
    for owner, pod in specs:
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, owner
        assert isinstance(context["runAsUser"], int) and context["runAsUser"] > 0, owner
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, owner
        tmp_volumes = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert tmp_volumes and "emptyDir" in tmp_volumes[0], owner
        for container in pod["containers"] + pod.get("initContainers", []):
            sc = container["securityContext"]
            where = f"{owner} container {container['name']}"
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["runAsNonRoot"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where
            assert container["resources"].get("limits", {}).get("memory"), where


def test_only_pods_that_call_the_api_mount_a_token(chart: helm.Chart) -> None:
    for owner, pod in pod_specs(render(chart, SCENARIOS["everything"])):
        # The operator and the trigger CronJobs talk to the API server; the simulator does not.
        calls_the_api = owner == f"Deployment/{RELEASE}-employes-sync" or owner.startswith("CronJob/")
        assert pod.get("automountServiceAccountToken") is calls_the_api, owner


@pytest.mark.parametrize("scenario", ["defaults", "namespaced", "everything"])
def test_worker_service_account_has_no_token_and_no_permissions(chart: helm.Chart, scenario: str) -> None:
    manifests = render(chart, SCENARIOS[scenario])
    worker = f"{RELEASE}-employes-sync-worker"
    accounts = [m for m in of_kind(manifests, "ServiceAccount") if m["metadata"]["name"] == worker]
    assert accounts
    for account in accounts:
        assert account["automountServiceAccountToken"] is False
    for binding in of_kind(manifests, "RoleBinding") + of_kind(manifests, "ClusterRoleBinding"):
        assert worker not in {s["name"] for s in binding["subjects"]}, binding["metadata"]["name"]


def test_worker_service_account_exists_where_jobs_run(chart: helm.Chart) -> None:
    def namespaces(values: dict[str, Any]) -> list[str]:
        return sorted(
            m["metadata"]["namespace"]
            for m in of_kind(render(chart, values), "ServiceAccount")
            if m["metadata"]["name"].endswith("-worker")
        )

    assert namespaces({}) == [NAMESPACE]
    assert namespaces(SCENARIOS["namespaced"]) == ["payroll", "payroll-test"]
    assert namespaces({"worker": {"serviceAccount": {"extraNamespaces": ["a", NAMESPACE]}}}) == sorted(
        ["a", NAMESPACE]
    )


def test_worker_jobs_get_the_image_pull_secrets_through_their_service_account(chart: helm.Chart) -> None:
    """The operator's Jobs run the chart's image but name no pull Secret: from a private registry they
    stayed in ImagePullBackOff until their deadline. Their pods take the worker ServiceAccount's."""
    pull = [{"name": "regcred"}]
    manifests = render(chart, {"imagePullSecrets": pull, "watchNamespaces": ["payroll", "payroll-test"]})
    workers = [m for m in of_kind(manifests, "ServiceAccount") if m["metadata"]["name"].endswith("-worker")]
    assert sorted(m["metadata"]["namespace"] for m in workers) == ["payroll", "payroll-test"]
    for account in workers:
        assert account["imagePullSecrets"] == pull, account["metadata"]
    assert "imagePullSecrets" not in _worker_job()["spec"]["template"]["spec"]  # so the account's apply
    for account in of_kind(render(chart), "ServiceAccount"):
        assert "imagePullSecrets" not in account


def test_the_image_pull_policy_reaches_the_worker_jobs(chart: helm.Chart) -> None:
    """image.pullPolicy is the one image's: the operator passes it to the Jobs that run that image."""
    for policy in ("Always", "IfNotPresent", "Never"):
        deployment = one(render(chart, {"image": {"pullPolicy": policy}}), "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["imagePullPolicy"] == policy
        assert f"--worker-image-pull-policy={policy}" in container["args"]


# --- CronJobs --------------------------------------------------------------------------------------


def test_schedules_become_trigger_cronjobs_with_their_own_minimal_rbac(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["schedules"])
    nightly = one(manifests, "CronJob", f"{RELEASE}-employes-sync-nightly")
    assert nightly["metadata"]["namespace"] == NAMESPACE
    assert nightly["spec"]["schedule"] == "0 2 * * *"
    assert nightly["spec"]["timeZone"] == "Europe/Amsterdam"
    assert nightly["spec"]["concurrencyPolicy"] == "Forbid"
    pod = nightly["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["trigger", "acme", "-n", "payroll", "--mode=background"]
    hourly = one(manifests, "CronJob", f"{RELEASE}-employes-sync-hourly")
    assert hourly["spec"]["concurrencyPolicy"] == "Forbid"
    hourly_args = hourly["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert hourly_args == ["trigger", "beta", "-n", NAMESPACE]

    trigger_sa = pod["serviceAccountName"]
    assert one(manifests, "ServiceAccount", trigger_sa)["metadata"]["namespace"] == NAMESPACE
    roles = {
        (r["metadata"]["namespace"], r["metadata"]["name"]): r
        for r in of_kind(manifests, "Role")
        if r["metadata"]["labels"]["app.kubernetes.io/component"] == "trigger"
    }
    assert len(roles) == 2
    nightly_role = roles[("payroll", f"{RELEASE}-employes-sync-nightly-trigger")]
    assert nightly_role["rules"] == [
        {
            "apiGroups": ["employessync.io"],
            "resources": ["employessyncs"],
            "resourceNames": ["acme"],
            "verbs": ["get", "patch"],
        }
    ]
    for binding in of_kind(manifests, "RoleBinding"):
        if binding["metadata"]["labels"]["app.kubernetes.io/component"] != "trigger":
            continue
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": trigger_sa, "namespace": NAMESPACE}]
        assert (binding["metadata"]["namespace"], binding["roleRef"]["name"]) in roles


def test_two_schedules_with_one_name_fail_with_a_clear_message(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match="nightly"):
        render(chart, {"schedules": [SCHEDULE, {**SCHEDULE, "syncName": "other"}]})


# --- monitoring --------------------------------------------------------------------------------


def test_service_monitor_scrapes_the_metrics_service(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["service-monitor"])
    monitor = one(manifests, "ServiceMonitor")
    service = one(manifests, "Service")
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_dashboard_configmap_carries_the_dashboard_for_grafanas_sidecar(chart: helm.Chart) -> None:
    configmap = one(render(chart, SCENARIOS["dashboard"]), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART_DIR / "dashboards" / "employes-sync.json").read_text())
    assert json.loads(configmap["data"]["employes-sync.json"]) == shipped


def test_prometheus_rule_wraps_the_rule_file_groups(chart: helm.Chart) -> None:
    rule = one(render(chart, SCENARIOS["prometheus-rule"]), "PrometheusRule")
    shipped = yaml.safe_load((CHART_DIR / "rules" / "employes-sync.rules.yaml").read_text())
    assert rule["spec"]["groups"] == shipped["groups"]
    for group in rule["spec"]["groups"]:
        assert isinstance(group["name"], str) and isinstance(group["rules"], list)
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and isinstance(r["expr"], str | int)


def test_notes_tell_the_user_what_to_do_next(chart: helm.Chart) -> None:
    text = notes(chart)
    assert "kubectl get esync" in text and "create secret generic" in text
    demo = notes(chart, SCENARIOS["everything"])
    assert f"http://{RELEASE}-employes-sync-simulator.{NAMESPACE}.svc:8089/v4" in demo
    assert "demo-token" in demo and "nightly" in demo


def test_notes_apply_nothing_that_replaces_the_secret_they_have_the_user_create(chart: helm.Chart) -> None:
    """NOTES have the user create the Secret with their own token and DSN, then apply examples: the
    whole of examples/ replaced that Secret with the demo's (and added the example CronJob)."""
    text = notes(chart, SCENARIOS["simulator"])
    created = re.findall(r"create secret generic (\S+)", text)
    assert created
    applied = re.findall(r"kubectl apply .*-f (\S+)", text)
    assert applied
    for target in applied:
        path = ROOT / target
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        assert files, target
        for file in files:
            for doc in yaml.safe_load_all(file.read_text()):
                if doc:
                    assert doc["kind"] != "Secret" or doc["metadata"]["name"] not in created, file.name
                    assert doc["kind"] != "CronJob", f"{file.name}: a schedule the user did not ask for"


# --- values.schema.json ----------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
    return schema


def test_values_schema_is_valid_and_accepts_the_defaults(chart: helm.Chart) -> None:
    schema = _schema()
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(defaults)
    chart.validate_schema(None)
    for scenario in SCENARIOS.values():
        chart.validate_schema(chart.merge_values(scenario))


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "two"},
        {"replicaCount": 11},
        {"peering": {"lifetimeSeconds": 2}},
        {"peering": {"name": "Not A Name"}},
        {"podDisruptionBudget": {"minAvailable": 0}},
        {"image": {"tag": 3}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"watchNamespaces": "payroll"},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"metrics": {"serviceMonitor": {"enabled": "yes"}}},
        {"operator": {"metricsPort": 70000}},
        {"operator": {"verbosity": 3}},
        {"securityContext": {"runAsUser": 0}},
        {"schedules": [{"name": "nightly", "syncName": "acme"}]},
        {"schedules": [{**SCHEDULE, "mode": "sometimes"}]},
        {"simulator": {"enabled": True, "employees": "many"}},
        {"unknownKey": True},
        {"rbac": {"create": True, "wildcard": True}},
        {"operator": {"extraCA": {"configMap": "Company CA"}}},
        {"operator": {"extraCA": {"configMap": "company-ca", "key": ""}}},
        {"operator": {"extraCA": {"configMap": "company-ca", "key": "../ca.crt"}}},
        {"operator": {"extraCA": {"secret": "company-ca"}}},
    ],
    ids=lambda v: json.dumps(v, sort_keys=True)[:60],
)
def test_values_schema_rejects_wrong_values(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(_schema()).validate(chart.merge_values(values))


def test_every_default_value_is_documented() -> None:
    """Each top-level key of values.yaml has a comment right above it."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith(("#", " ")) and ":" in line:
            key = line.split(":", 1)[0]
            before = lines[index - 1].strip() if index else ""
            assert before.startswith("#"), f"values.yaml key {key!r} is undocumented"


# --- the CRD -----------------------------------------------------------------------------------


def test_chart_crd_has_the_same_bytes_as_the_top_level_crd() -> None:
    assert TOP_LEVEL_CRD.exists(), f"{TOP_LEVEL_CRD.relative_to(ROOT)} is missing"
    assert CHART_CRD.exists(), f"copy {TOP_LEVEL_CRD.relative_to(ROOT)} to {CHART_CRD.relative_to(ROOT)}"
    assert CHART_CRD.read_bytes() == TOP_LEVEL_CRD.read_bytes(), (
        f"{CHART_CRD.relative_to(ROOT)} differs from {TOP_LEVEL_CRD.relative_to(ROOT)}: copy it again"
    )


def test_chart_crd_is_a_valid_customresourcedefinition(chart: helm.Chart) -> None:
    assert CHART_CRD.exists(), f"{CHART_CRD.relative_to(ROOT)} is missing"
    (crd,) = [c for c in chart.crds if c["filename"].endswith("employessync.yaml")]
    docs = [d for d in yaml.safe_load_all(crd["data"]) if d]
    assert len(docs) == 1
    doc = docs[0]
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    assert doc["metadata"]["name"] == "employessyncs.employessync.io"
    assert doc["spec"]["group"] == "employessync.io"
    assert doc["spec"]["scope"] == "Namespaced"
    assert doc["spec"]["names"]["kind"] == "EmployesSync"
    assert doc["spec"]["names"]["plural"] == "employessyncs"
    assert "esync" in doc["spec"]["names"]["shortNames"]
    assert [v["name"] for v in doc["spec"]["versions"]] == ["v1alpha1"]


# --- examples/: the other manifests a user applies -------------------------------------------


def _examples() -> list[tuple[str, Manifest]]:
    return [
        (path.name, doc)
        for path in sorted((ROOT / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_example_manifests_validate_strictly_against_kubernetes_1_33() -> None:
    examples = [(name, doc) for name, doc in _examples() if doc["kind"] != "EmployesSync"]
    # The Secret and the CronJob a user applies beside the EmployesSync (see docs/install.md).
    assert {doc["kind"] for _, doc in examples} >= {"Secret", "CronJob"}, [d["kind"] for _, d in examples]
    for name, doc in examples:
        # EmployesSync objects are checked against the CRD's own schema in tests/test_crd.py.
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"examples/{name}: {doc['kind']}/{doc['metadata']['name']}: {error.message}")


def test_example_reaches_the_simulator_the_chart_installs(chart: helm.Chart) -> None:
    """docs/install.md installs the release as `employes-sync` next to the examples."""
    syncs = [doc for _, doc in _examples() if doc["kind"] == "EmployesSync"]
    assert syncs, "examples/ has no EmployesSync"
    rendered = chart.render({"simulator": {"enabled": True}}, name="employes-sync", namespace=NAMESPACE)
    manifests = [d for d in yaml.safe_load_all(rendered["employes-sync/templates/simulator.yaml"]) if d]
    service = one(manifests, "Service")
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/v4"
    assert syncs[0]["spec"]["api"]["baseUrl"] == url
    deployment = yaml.safe_load(rendered["employes-sync/templates/deployment.yaml"])
    assert f"--allow-api-url={url}" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    secrets = [doc for _, doc in _examples() if doc["kind"] == "Secret"]
    assert secrets and all(s["metadata"]["labels"]["employessync.io/secret"] == "true" for s in secrets)


# --- the allowlists ------------------------------------------------------------------------------


def _operator_args(manifests: list[Manifest]) -> list[str]:
    args: list[str] = one(manifests, "Deployment", f"{RELEASE}-employes-sync")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    return args


def _flag(args: list[str], name: str) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]


def test_allowlists_reach_the_operator(chart: helm.Chart) -> None:
    default = _operator_args(render(chart))
    assert _flag(default, "allow-api-url") == ["https://connect.employes.nl/v4"]
    assert _flag(default, "allow-worker-image") == [] and _flag(default, "allow-worker-service-account") == []
    assert _flag(default, "allow-database-host") == []  # any host, as the operator's default
    assert _flag(default, "allow-webhook-host") == []
    # The operator always allows its --worker-image and --worker-service-account (the chart's own).
    assert _flag(default, "worker-image") == [f"employes-sync:{chart.metadata['appVersion']}"]
    assert _flag(default, "worker-service-account") == [f"{RELEASE}-employes-sync-worker"]

    args = _operator_args(render(chart, SCENARIOS["everything"]))
    simulator = f"{RELEASE}-employes-sync-simulator"
    assert _flag(args, "allow-api-url") == [
        "https://connect.employes.nl/v4",
        f"http://{simulator}:8089/v4",
        f"http://{simulator}.{NAMESPACE}.svc:8089/v4",
        f"http://{simulator}.{NAMESPACE}.svc.cluster.local:8089/v4",
    ]
    assert _flag(args, "allow-worker-image") == ["registry.example/esync:1.2.3"]
    assert _flag(args, "allow-worker-service-account") == ["batch"]
    assert _flag(args, "allow-database-host") == ["pg.payroll.svc", "[fd00::5]:6432"]
    assert _flag(args, "allow-webhook-host") == ["hooks.example", "10.0.0.9:8080"]

    own = _operator_args(render(chart, {"allowlist": {"apiUrls": ["https://proxy.example/employes/v4"]}}))
    assert _flag(own, "allow-api-url") == ["https://proxy.example/employes/v4"]


def test_the_notes_url_of_the_simulator_is_allowed(chart: helm.Chart) -> None:
    text = notes(chart, SCENARIOS["simulator"])
    url = f"http://{RELEASE}-employes-sync-simulator.{NAMESPACE}.svc:8089/v4"
    assert url in text
    assert url in _flag(_operator_args(render(chart, SCENARIOS["simulator"])), "allow-api-url")
    assert "employessync.io/secret=true" in notes(chart)


@pytest.mark.parametrize(
    "values",
    [
        {"allowlist": {"apiUrls": []}},
        {"allowlist": {"apiUrls": ["https://user:pass@connect.employes.nl/v4"]}},
        {"allowlist": {"apiUrls": ["https://connect.employes.nl/v4?api_key=x"]}},
        {"allowlist": {"apiUrls": ["ftp://connect.employes.nl/v4"]}},
        {"allowlist": {"workerImages": ["two words"]}},
        {"allowlist": {"workerServiceAccounts": ["Not_A_Name"]}},
        {"allowlist": {"databaseHosts": ["@abstract"]}},
        {"allowlist": {"databaseHosts": ["a.example,b.example"]}},
        {"allowlist": {"databaseHosts": ["pg.example:"]}},
        {"allowlist": {"webhookHosts": ["https://hooks.example/in"]}},
        {"allowlist": {"webhookHosts": ["/var/run/hooks"]}},
        {"clusterWide": "yes"},
        {"networkPolicy": {"enabled": True, "worker": {"databasePort": 0}}},
        {"triggerPolicy": {"enabled": "sometimes"}},
    ],
    ids=lambda v: json.dumps(v, sort_keys=True)[:60],
)
def test_values_schema_rejects_unsafe_allowlists(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


# --- NetworkPolicies ----------------------------------------------------------------------------


def test_network_policies_are_off_by_default(chart: helm.Chart) -> None:
    assert not of_kind(render(chart), "NetworkPolicy")


@pytest.mark.fault(*rows.OPERATOR_NETWORK_POLICY_ADMITS_ONLY_THE_LISTED_SOURCES)
def test_operator_network_policy_admits_only_the_listed_sources(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["everything"])
    policy = one(manifests, "NetworkPolicy", f"{RELEASE}-employes-sync-operator")
    deployment = one(manifests, "Deployment", f"{RELEASE}-employes-sync")
    assert policy["spec"]["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    assert {p["port"] for p in rule["ports"]} == {8080, 8081}
    closed = one(
        render(chart, SCENARIOS["network-policies"]), "NetworkPolicy", f"{RELEASE}-employes-sync-operator"
    )
    assert closed["spec"]["ingress"] == []


@pytest.mark.fault(*rows.WORKER_NETWORK_POLICY_SELECTS_THE_OPERATORS_JOBS_AND_LIMITS_)
def test_worker_network_policy_selects_the_operators_jobs_and_limits_their_egress(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["everything"])
    policies = [p for p in of_kind(manifests, "NetworkPolicy") if p["metadata"]["name"].endswith("-worker")]
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["other", "payroll"]
    pod_labels = _worker_job()["spec"]["template"]["metadata"]["labels"]
    for policy in policies:
        spec_ = policy["spec"]
        assert spec_["podSelector"]["matchLabels"].items() <= pod_labels.items()
        assert spec_["policyTypes"] == ["Ingress", "Egress"] and spec_["ingress"] == []
        egress = spec_["egress"]
        ports = [sorted((p["port"], p["protocol"]) for p in rule["ports"]) for rule in egress]
        assert ports[:3] == [[(53, "TCP"), (53, "UDP")], [(5432, "TCP")], [(443, "TCP")]]
        assert egress[1]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
        assert "to" not in egress[2]  # the API: any address on 443 unless apiTo narrows it
        simulator = egress[3]["to"][0]["podSelector"]["matchLabels"]
        assert simulator["app.kubernetes.io/component"] == "simulator" and ports[3] == [(8089, "TCP")]


# --- the trigger's ValidatingAdmissionPolicy ------------------------------------------------------


def _trigger_policy(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "ValidatingAdmissionPolicy")


class Admission:
    """Evaluates a ValidatingAdmissionPolicy's CEL the way the API server does: the match conditions
    first (all must hold for the policy to apply), then its variables, then every validation."""

    def __init__(self, policy: Manifest) -> None:
        import celpy

        self.celpy = celpy
        self.env = celpy.Environment()
        self.spec = policy["spec"]

    def _eval(self, expression: str, activation: dict[str, Any]) -> Any:
        program = self.env.program(self.env.compile(expression))
        return program.evaluate(activation)

    def review(self, request: dict[str, Any], obj: Manifest, old: Manifest) -> list[str] | None:
        """None when the policy does not apply; else the messages of the validations that failed."""
        to_cel = self.celpy.json_to_cel
        activation: dict[str, Any] = {
            "request": to_cel(request),
            "object": to_cel(obj),
            "oldObject": to_cel(old),
        }
        for condition in self.spec.get("matchConditions", []):
            if not bool(self._eval(condition["expression"], activation)):
                return None
        variables: dict[str, Any] = {}
        for variable in self.spec.get("variables", []):
            variables[variable["name"]] = self._eval(
                variable["expression"], {**activation, "variables": self.celpy.celtypes.MapType(variables)}
            )
        activation["variables"] = self.celpy.celtypes.MapType(variables)
        failed = []
        for validation in self.spec["validations"]:
            result = self._eval(validation["expression"], activation)
            # An evaluation error fails the request too (failurePolicy: Fail).
            if not (isinstance(result, self.celpy.celtypes.BoolType) and bool(result)):
                failed.append(validation["message"])
        return failed


def _esync(**changes: Any) -> Manifest:
    obj: Manifest = {
        "apiVersion": "employessync.io/v1alpha1",
        "kind": "EmployesSync",
        "metadata": {"name": "acme", "namespace": "payroll", "labels": {"team": "payroll"},
                     "annotations": {"employessync.io/last-handled": "{}"},
                     "finalizers": ["employessync.io/finalizer"]},
        "spec": {"api": {"companyId": "00000000-0000-4000-8000-000000000001",
                         "baseUrl": "https://connect.employes.nl/v4",
                         "tokenSecretRef": {"name": "employes-sync", "key": "token"}},
                 "database": {"dsnSecretRef": {"name": "employes-sync", "key": "dsn"}}},
    }  # fmt: skip
    for dotted, value in changes.items():
        node = obj
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return obj


TRIGGER_USER = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-employes-sync-trigger"
ANNOTATED = {
    "employessync.io/last-handled": "{}",
    "employessync.io/sync-requested-at": "2026-12-01T02:00:00Z",
    "employessync.io/sync-mode": "background",
}


def _request(user: str = TRIGGER_USER, sub_resource: str = "") -> dict[str, Any]:
    resource = {"group": "employessync.io", "version": "v1alpha1", "resource": "employessyncs"}
    return {
        "operation": "UPDATE",
        "userInfo": {"username": user},
        "subResource": sub_resource,
        "resource": resource,
    }


@pytest.mark.fault(*rows.TRIGGER_POLICY_IS_INSTALLED_WITH_THE_SCHEDULES_AND_BINDS_DEN)
def test_trigger_policy_is_installed_with_the_schedules_and_binds_deny(chart: helm.Chart) -> None:
    assert not of_kind(render(chart), "ValidatingAdmissionPolicy")
    assert not of_kind(render(chart, {**SCENARIOS["schedules"], "triggerPolicy": {"enabled": False}}),
                       "ValidatingAdmissionPolicy")  # fmt: skip
    manifests = render(chart, SCENARIOS["schedules"])
    policy = _trigger_policy(manifests)
    binding = one(manifests, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["employessync.io"] and "UPDATE" in rule["operations"]
    # The CronJobs run as exactly the account the policy is about.
    cronjob = of_kind(manifests, "CronJob")[0]
    account = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert TRIGGER_USER == f"system:serviceaccount:{NAMESPACE}:{account}"


@pytest.mark.fault(*rows.TRIGGER_POLICY_LETS_THE_TRIGGER_SET_ITS_ANNOTATIONS_ONLY)
def test_trigger_policy_lets_the_trigger_set_its_annotations_only(chart: helm.Chart) -> None:
    admission = Admission(_trigger_policy(render(chart, SCENARIOS["schedules"])))
    old = _esync()
    # What `employes-sync trigger` sends: both annotations, first time and again.
    assert admission.review(_request(), _esync(metadata__annotations=ANNOTATED), old) == []
    again = {**ANNOTATED, "employessync.io/sync-requested-at": "2026-12-02T02:00:00Z"}
    assert (
        admission.review(
            _request(), _esync(metadata__annotations=again), _esync(metadata__annotations=ANNOTATED)
        )
        == []
    )
    no_annotations = _esync(metadata__annotations=None)
    only_trigger = {"employessync.io/sync-requested-at": "x"}
    assert admission.review(_request(), _esync(metadata__annotations=only_trigger), no_annotations) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"spec__worker": {"image": "attacker/img", "serviceAccountName": "ci-deployer"}},
            "not change the spec",
        ),
        ({"spec__api__baseUrl": "https://evil.example/v4"}, "not change the spec"),
        ({"spec__api__tokenSecretRef": {"name": "other-secret", "key": "password"}}, "not change the spec"),
        ({"metadata__annotations": {**ANNOTATED, "other": "x"}}, "no annotation but"),
        ({"metadata__annotations": {"employessync.io/sync-mode": "background"}}, "no annotation but"),
        ({"metadata__labels": {"team": "other"}}, "not change labels"),
        ({"metadata__labels": None}, "not change labels"),
        ({"metadata__finalizers": None}, "finalizers"),
        (
            {
                "metadata__ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u"}
                ]
            },
            "owner references",
        ),
    ],
    ids=lambda v: json.dumps(v, sort_keys=True)[:50] if isinstance(v, dict) else v,
)
@pytest.mark.fault(*rows.TRIGGER_POLICY_DENIES_EVERY_OTHER_CHANGE)
def test_trigger_policy_denies_every_other_change(
    chart: helm.Chart, change: dict[str, Any], message: str
) -> None:
    admission = Admission(_trigger_policy(render(chart, SCENARIOS["schedules"])))
    failed = admission.review(_request(), _esync(**change), _esync())
    assert failed and any(message in m for m in failed), failed


@pytest.mark.fault(*rows.TRIGGER_POLICY_DENIES_STATUS_WRITES_AND_LEAVES_EVERYONE_ELSE)
def test_trigger_policy_denies_status_writes_and_leaves_everyone_else_alone(chart: helm.Chart) -> None:
    admission = Admission(_trigger_policy(render(chart, SCENARIOS["schedules"])))
    changed = _esync(spec__worker={"image": "attacker/img"})
    assert admission.review(_request(sub_resource="status"), _esync(), _esync())
    # The operator, a person, another ServiceAccount: the policy does not apply to them.
    for user in ("system:serviceaccount:employes-sync-system:esync-employes-sync", "alice",
                 "system:serviceaccount:payroll:esync-employes-sync-trigger"):  # fmt: skip
        assert admission.review(_request(user), changed, _esync()) is None


# --- replicas: standalone, or active + standby through kopf peering ----------------------------

PEERING_CRDS = list(yaml.safe_load_all((ROOT / "crds" / "kopfpeering.yaml").read_text()))


def _operator_container(manifests: list[Manifest]) -> Manifest:
    deployment = one(manifests, "Deployment")
    container: Manifest = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _peering_rules(manifests: list[Manifest]) -> list[tuple[str, Manifest]]:
    return [(owner, rule) for owner, rule in rbac_rules(manifests) if "kopf.dev" in rule["apiGroups"]]


def test_one_replica_runs_standalone_with_recreate(chart: helm.Chart) -> None:
    manifests = render(chart)
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not [a for a in _operator_container(manifests)["args"] if a.startswith("--peering")]
    assert not of_kind(manifests, "PodDisruptionBudget"), "a PDB of 1 with 1 replica would block drains"
    assert not of_kind(manifests, "ClusterKopfPeering") and not of_kind(manifests, "KopfPeering")
    assert not _peering_rules(manifests)


def test_two_replicas_peer_roll_one_at_a_time_and_keep_one_through_a_drain(chart: helm.Chart) -> None:
    manifests = render(chart, SCENARIOS["two-replicas"])
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    name = f"{RELEASE}-employes-sync"
    args = _operator_container(manifests)["args"]
    assert f"--peering={name}" in args and "--peering-lifetime=15" in args
    env = {e["name"]: e for e in _operator_container(manifests)["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"

    pdb = one(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pdb["metadata"]["namespace"] == NAMESPACE

    peering = one(manifests, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == name
    (owner, rule), *more = _peering_rules(manifests)
    assert not more and owner.startswith("ClusterRole/")
    assert rule == {
        "apiGroups": ["kopf.dev"],
        "resources": ["clusterkopfpeerings"],
        "resourceNames": [name],
        "verbs": ["get", "list", "watch", "patch"],
    }
    # everything else the operator may do is unchanged
    role = one(manifests, "ClusterRole")
    granted = _permissions(role)
    assert granted.pop(("kopf.dev", "clusterkopfpeerings")) == {"get", "list", "watch", "patch"}
    assert granted == OPERATOR_RULES


@pytest.mark.parametrize(
    ("scenario", "namespaces"),
    [
        ("two-replicas-namespaced", ["payroll", "payroll-test"]),
        ("two-replicas-release-namespace", [NAMESPACE]),
    ],
)
def test_two_replicas_in_watched_namespaces_peer_in_each_of_them(
    chart: helm.Chart, scenario: str, namespaces: list[str]
) -> None:
    manifests = render(chart, SCENARIOS[scenario])
    peerings = of_kind(manifests, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == namespaces
    assert not of_kind(manifests, "ClusterKopfPeering")
    for role in of_kind(manifests, "Role"):
        rules = [r for r in role["rules"] if "kopf.dev" in r["apiGroups"]]
        assert rules == [
            {
                "apiGroups": ["kopf.dev"],
                "resources": ["kopfpeerings"],
                "resourceNames": [f"{RELEASE}-employes-sync"],
                "verbs": ["get", "list", "watch", "patch"],
            }
        ], role["metadata"]


def test_peering_name_lifetime_and_pdb_are_settable(chart: helm.Chart) -> None:
    values = {
        "replicaCount": 3,
        "clusterWide": True,
        "peering": {"name": "payroll-operators", "lifetimeSeconds": 30},
        "podDisruptionBudget": {"minAvailable": 2},
    }
    manifests = render(chart, values)
    args = _operator_container(manifests)["args"]
    assert "--peering=payroll-operators" in args and "--peering-lifetime=30" in args
    assert one(manifests, "ClusterKopfPeering")["metadata"]["name"] == "payroll-operators"
    assert one(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert not of_kind(render(chart, SCENARIOS["two-replicas-no-pdb"]), "PodDisruptionBudget")


@pytest.mark.parametrize(
    "scenario", ["two-replicas", "two-replicas-namespaced", "two-replicas-release-namespace"]
)
def test_peering_objects_match_the_peering_crds(chart: helm.Chart, scenario: str) -> None:
    """What kubernetes-validate cannot check: each peering object is a kind crds/kopfpeering.yaml defines."""
    crds = {(f"{c['spec']['group']}/v1", c["spec"]["names"]["kind"]): c for c in PEERING_CRDS}
    for manifest in render(chart, SCENARIOS[scenario]):
        if manifest["apiVersion"] != "kopf.dev/v1":
            continue
        crd = crds[(manifest["apiVersion"], manifest["kind"])]
        namespaced = crd["spec"]["scope"] == "Namespaced"
        assert ("namespace" in manifest["metadata"]) == namespaced, manifest["metadata"]
        assert set(manifest) == {"apiVersion", "kind", "metadata"}, "kopf writes the status itself"


def test_peering_crds_are_valid_and_ship_with_the_chart(chart: helm.Chart) -> None:
    top_level = (ROOT / "crds" / "kopfpeering.yaml").read_bytes()
    assert (CHART_DIR / "crds" / "kopfpeering.yaml").read_bytes() == top_level
    assert {c["metadata"]["name"] for c in PEERING_CRDS} == {
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    }
    for crd in PEERING_CRDS:
        kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)
