"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk, offline).

Every manifest the chart can produce is validated in strict mode against the Kubernetes 1.33 schemas,
and the security promises (least-privilege RBAC without wildcards, hardened pods, a worker identity with
no API access) are checked on the rendered objects, for the default values and for each toggle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

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
    "cluster-wide": {"watchNamespaces": []},
    "scanning-namespaced": {"watchNamespaces": ["payroll"], "rbac": {"scanning": True}},
    "scanning-cluster-wide": {"rbac": {"scanning": True}},
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}},
    "dashboard": {"dashboard": {"enabled": True}},
    "prometheus-rule": {"prometheusRule": {"enabled": True}},
    "schedules": {"schedules": [SCHEDULE, {"name": "hourly", "syncName": "beta", "schedule": "@hourly"}]},
    "simulator": {"simulator": {"enabled": True}},
    "everything": {
        "watchNamespaces": ["payroll"],
        "rbac": {"scanning": True},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "dashboard": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "schedules": [SCHEDULE],
        "simulator": {"enabled": True},
        "imagePullSecrets": [{"name": "regcred"}],
        "worker": {"serviceAccount": {"extraNamespaces": ["other"]}},
    },
}

# Kinds that are not part of Kubernetes itself (Prometheus Operator CRDs): kubernetes-validate has no
# schema for them, so only their ObjectMeta is validated strictly (see _validate_strict).
FOREIGN_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
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
        if m["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
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
    assert "--all-namespaces" in args
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
    ("batch", "jobs"): {"create", "delete", "get", "list", "watch"},
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


def test_cluster_wide_rbac_is_a_least_privilege_cluster_role(chart: helm.Chart) -> None:
    manifests = render(chart)
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
    everything_else = [r for r in rbac_rules(render(chart)) if "namespaces" in r[1]["resources"]]
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
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(manifests, "Role")}
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
        {"replicaCount": 2},
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
    if not TOP_LEVEL_CRD.exists():
        pytest.skip(f"{TOP_LEVEL_CRD.relative_to(ROOT)} does not exist yet (the operator work adds it)")
    assert CHART_CRD.exists(), f"copy {TOP_LEVEL_CRD.relative_to(ROOT)} to {CHART_CRD.relative_to(ROOT)}"
    assert CHART_CRD.read_bytes() == TOP_LEVEL_CRD.read_bytes(), (
        f"{CHART_CRD.relative_to(ROOT)} differs from {TOP_LEVEL_CRD.relative_to(ROOT)}: copy it again"
    )


def test_chart_crd_is_a_valid_customresourcedefinition(chart: helm.Chart) -> None:
    if not CHART_CRD.exists():
        pytest.skip(f"{CHART_CRD.relative_to(ROOT)} does not exist yet (copied once the operator adds it)")
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
    if not examples:
        pytest.skip("examples/ has no built-in Kubernetes manifests yet")
    for name, doc in examples:
        # EmployesSync objects are checked against the CRD's own schema in tests/test_crd.py.
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"examples/{name}: {doc['kind']}/{doc['metadata']['name']}: {error.message}")


def test_example_reaches_the_simulator_the_chart_installs(chart: helm.Chart) -> None:
    """docs/install.md installs the release as `employes-sync` next to the examples."""
    syncs = [doc for _, doc in _examples() if doc["kind"] == "EmployesSync"]
    if not syncs:
        pytest.skip("examples/ has no EmployesSync yet")
    rendered = chart.render({"simulator": {"enabled": True}}, name="employes-sync", namespace=NAMESPACE)
    manifests = [d for d in yaml.safe_load_all(rendered["employes-sync/templates/simulator.yaml"]) if d]
    service = one(manifests, "Service")
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/v4"
    assert syncs[0]["spec"]["api"]["baseUrl"] == url
