"""The CRD's own schema: structural, documented, bounded; the examples pass it and bad values do not.

Validation uses the CRD's openAPIV3Schema as a JSON schema (jsonschema), which is what the API server
enforces for these keywords (type, pattern, minimum/maximum, enum, required, maxItems).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from employes_sync.kube.spec import SpecError, parse
from tests.reliability import rows

REPO = Path(__file__).resolve().parents[1]
CRD = yaml.safe_load((REPO / "crds" / "employessync.yaml").read_text())
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
EXAMPLE = yaml.safe_load((REPO / "examples" / "employessync.yaml").read_text())


def validate(obj: dict[str, Any]) -> None:
    jsonschema.validate(obj, SCHEMA, format_checker=jsonschema.FormatChecker())


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_identity_of_the_resource() -> None:
    assert CRD["metadata"]["name"] == "employessyncs.employessync.io"
    spec = CRD["spec"]
    assert (spec["group"], spec["scope"]) == ("employessync.io", "Namespaced")
    assert spec["names"]["kind"] == "EmployesSync"
    assert spec["names"]["plural"] == "employessyncs"
    assert spec["names"]["shortNames"] == ["esync"]
    assert VERSION["name"] == "v1alpha1" and VERSION["served"] and VERSION["storage"]
    assert VERSION["subresources"] == {"status": {}}


def test_schema_is_structural() -> None:
    """Every node has a type (int-or-string excepted), as apiextensions/v1 requires."""
    for path, node in walk(SCHEMA):
        if node.get("x-kubernetes-int-or-string"):
            continue
        assert "type" in node, f"{path or '<root>'} has no type"
        if node["type"] == "object" and path.startswith(".spec"):
            assert node.get("properties") or node.get("additionalProperties"), f"{path} is an open object"


def test_every_spec_field_is_described() -> None:
    """So that `kubectl explain esync.spec...` teaches every field."""
    missing = [
        path
        for path, node in walk(SCHEMA["properties"]["spec"], ".spec")
        if "description" not in node and not path.endswith("[]") and not path.endswith("{}")
    ]
    assert missing == []


def test_status_is_fully_declared() -> None:
    status = SCHEMA["properties"]["status"]["properties"]
    for key in ("observedGeneration", "conditions", "currentRun", "lastRun", "batches"):
        assert key in status
    condition = status["conditions"]["items"]["properties"]
    assert set(condition) >= {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    run = status["currentRun"]["properties"]
    assert set(run) >= {
        "id", "trigger", "mode", "startedAt", "finishedAt", "employees", "inlineProcessed",
        "queued", "batches", "eventsCreated", "timeToFirstFeedbackSeconds",
    }  # fmt: skip
    assert status["lastRun"]["properties"] == run
    assert status["batches"]["maxItems"] == 20
    assert set(status["batches"]["items"]["properties"]) >= {"attempts", "jobName", "lastError"}


def test_printer_columns() -> None:
    names = [c["name"] for c in VERSION["additionalPrinterColumns"] if c.get("priority", 0) == 0]
    assert names == ["Ready", "Employees", "Queued", "Failed", "Last Sync", "Age"]


def test_the_example_validates() -> None:
    validate(EXAMPLE)


def test_minimal_resource_validates() -> None:
    validate({
        "apiVersion": "employessync.io/v1alpha1", "kind": "EmployesSync", "metadata": {"name": "x"},
        "spec": {
            "api": {"companyId": "00000000-0000-4000-8000-000000000001", "tokenSecretRef": {"name": "s"}},
            "database": {"dsnSecretRef": {"name": "s"}},
        },
    })  # fmt: skip


def _pruned(value: Any, schema: dict[str, Any], path: str = ".status") -> list[str]:
    """Fields the API server would drop silently: absent from a structural schema, not preserved."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        found: list[str] = []
        for key, item in value.items():
            sub = props.get(key) or (extra if isinstance(extra, dict) else None)
            if sub is None:
                found.append(f"{path}.{key}")
            else:
                found += _pruned(item, sub, f"{path}.{key}")
        return found
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [p for i, item in enumerate(value) for p in _pruned(item, schema["items"], f"{path}[{i}]")]
    return []


def _statuses_the_operator_writes() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every status the reconciler publishes, built by its own functions (controller/outcomes.py)."""
    from datetime import UTC, datetime

    from employes_sync.controller import outcomes, reasons
    from employes_sync.kube import status
    from employes_sync.kube.problem import Problem
    from employes_sync.store.queue import Batch

    now = datetime(2025, 1, 1, tzinfo=UTC)

    def batch(no: int, state: str, attempts: int, error: str | None = None) -> Batch:
        return Batch(
            id=f"b{no}", scope="default/demo", run_id=3, employee_ids=["e"], status=state, priority=5,
            attempts=attempts, max_attempts=3, run_after=now, error_message=error,
            job_name=f"demo-r3-b{no}-a{attempts}", batch_no=no,
        )  # fmt: skip

    current = status.run_status(
        run_id=3, trigger="created", mode="interactive", phase="Batches", state="running", started_at=now,
        employees=78, inline_processed=5, queued=3, time_to_first_feedback=1.5,
    )  # fmt: skip
    running = [batch(1, "completed", 1), batch(2, "processing", 2, "exit 1"), batch(3, "pending", 0)]
    ended = [batch(1, "completed", 1), batch(2, "completed", 2), batch(3, "failed", 3, "boom")]
    summary = {"employees_processed": 78, "events_created": 400, "events_updated": 12, "events_removed": 1,
               "employees_removed": 1, "removed_employee_ids": ["e9"]}  # fmt: skip
    failure = reasons.RunFailure("TokenRejected", "the API rejected the token", "HTTP 401")
    resumed_row = {
        "id": 3, "trigger": "created", "mode": "interactive", "started_at": now,
        "summary": {"employees_processed": 78}, "settings": {"extra": {"generation": 1}},
    }  # fmt: skip
    progress = outcomes.run_progress(current, running, {})
    assert progress is not None
    publications = {
        "started": outcomes.run_started(current, "created", "interactive"),
        "resumed": outcomes.run_resumed(current, resumed_row, 1),
        "progress": progress,
        "succeeded": outcomes.run_finished(
            current, ended[:2], state="succeeded", error=None, summary=summary,
            finished_at="2025-01-01T00:01:00Z",
        ),
        "degraded": outcomes.run_finished(
            current, ended, state="failed", error="1 of 3 batches failed", summary=summary,
            finished_at="2025-01-01T00:01:00Z",
        ),
        "interrupted": outcomes.run_finished(
            current, ended[:2], state="failed", error="stopped", summary=summary,
            finished_at="2025-01-01T00:01:00Z", interrupted="stopped",
        ),
        "failed to list": outcomes.run_failed(current, failure, "2025-01-01T00:00:10Z"),
        "problem": outcomes.problem(Problem("SecretNotFound", "Secret default/x does not exist")),
        "suspended": outcomes.suspended(),
    }  # fmt: skip
    published: dict[str, Any] = {}
    for name, publication in publications.items():
        patch = outcomes.status_patch(publication, published, generation=1, now=now)
        published = {k: v for k, v in {**published, **patch}.items() if v is not None}
        yield name, published


def test_status_written_by_the_operator_validates() -> None:
    """Each status the operator's own functions build passes the schema and loses no field to pruning."""
    status_schema = SCHEMA["properties"]["status"]
    seen: dict[str, dict[str, Any]] = {}
    for name, status in _statuses_the_operator_writes():
        obj = copy.deepcopy(EXAMPLE)
        obj["status"] = status
        validate(obj)
        assert _pruned(status, status_schema) == [], name
        seen[name] = copy.deepcopy(status)
    assert len(seen) == 9
    # The degraded run: batch 2 took two attempts, batch 3 three; both kept through the schema.
    assert seen["degraded"]["lastRun"]["batches"] == {
        "pending": 0, "processing": 0, "completed": 2, "failed": 1, "retried": 2, "attempts": 6
    }  # fmt: skip


def test_defaults_match_the_operator() -> None:
    """The CRD's defaults and the operator's fallbacks (for fields a client left out) are the same."""
    from employes_sync.kube.spec import DEFAULTS

    spec = SCHEMA["properties"]["spec"]["properties"]
    for dotted, value in DEFAULTS.items():
        node: dict[str, Any] = {"properties": spec}
        for part in dotted.split("."):
            node = node["properties"][part]
        assert node.get("default") == value, dotted


_DELETE = object()


def _with(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(EXAMPLE)
    *parents, leaf = path.split(".")
    node = obj["spec"]
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return obj


BAD = [
    ("inline.count", -1), ("inline.count", 51),
    ("batches.size", 0), ("batches.size", 501),
    ("batches.parallelism", 0), ("batches.parallelism", 51),
    ("batches.maxAttempts", 0), ("batches.maxAttempts", 11),
    ("batches.backoffSeconds", -1),
    ("api.companyId", "not-a-uuid"), ("api.companyId", "00000000-0000-4000-8000-00000000000"),
    ("api.baseUrl", "ftp://connect.employes.nl/v4"), ("api.baseUrl", "connect.employes.nl"),
    ("api.baseUrl", "https:///v4"),
    ("api.requestsPerSecond", 0), ("api.pageSize", 0),
    ("api.tokenSecretRef", _DELETE), ("database.dsnSecretRef", _DELETE), ("api.companyId", _DELETE),
    ("suspend", "yes"), ("redact", "iban"), ("worker.imagePullPolicy", "Sometimes"),
    ("api.tokenSecretRef", {"key": "token"}),
    ("timeline.locale", "fr"), ("timeline.locale", "NL"),
    ("api.baseUrl", "http://[::1]x:8089/v4"), ("api.baseUrl", "https://h\\@evil/v4"),
    ("api.baseUrl", "https://hé.example/v4"), ("api.baseUrl", "https://h:123456/v4"),
    ("api.tokenSecretRef.name", "a/b"), ("api.tokenSecretRef.name", ".."), ("api.tokenSecretRef.name", "Tok"),
    ("api.tokenSecretRef.key", "../token"), ("database.dsnSecretRef.name", "x%2F.."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value"), BAD, ids=[f"{p}=<deleted>" if v is _DELETE else f"{p}={v!r}" for p, v in BAD]
)
def test_out_of_bounds_values_are_rejected(path: str, value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(_with(path, value))


#: Values of a type the CRD refuses, which Python's int()/bool()/tuple() would have taken.
WRONG_TYPES = [
    ("batches.parallelism", "two"), ("batches.parallelism", -1), ("batches.size", 2.5),
    ("inline.count", True),
    ("incremental", "false"), ("suspend", "false"), ("suspend", 0), ("redact", ["iban", 7]),
    ("api.requestsPerSecond", "5"), ("api.timeoutSeconds", 0), ("notifications.maxAgeSeconds", 59),
    ("batches.activeDeadlineSeconds", 86401),
]  # fmt: skip

#: The base URL's form is the allowlist's to refuse (ApiHostNotAllowed, tests/test_allowlist.py).
REFUSED_BY_THE_OPERATOR = [(p, v) for p, v in BAD if p != "api.baseUrl"] + WRONG_TYPES


@pytest.mark.parametrize(
    ("path", "value"),
    REFUSED_BY_THE_OPERATOR,
    ids=[f"{p}=<deleted>" if v is _DELETE else f"{p}={v!r}" for p, v in REFUSED_BY_THE_OPERATOR],
)
def test_the_operator_refuses_what_the_crd_refuses_naming_the_field(path: str, value: Any) -> None:
    """An object the schema never checked (an old CRD, a client writing around it) is InvalidSpec with
    the field named: a parallelism of -1 ran a run whose Jobs never started, `redact: iban` redacted
    the letters i, b, a and n, `suspend: "false"` suspended, and "two" read `invalid literal for int()`."""
    with pytest.raises(jsonschema.ValidationError):
        validate(_with(path, value))
    with pytest.raises(SpecError) as caught:
        parse(_with(path, value)["spec"])
    message = caught.value.args[0]
    assert message.startswith(f"spec.{path}") and "\n" not in message, message


def test_the_operators_bounds_are_the_crds() -> None:
    from employes_sync.kube.spec import BOUNDS

    crd = {
        path.removeprefix(".spec."): (node["minimum"], node["maximum"])
        for path, node in walk(SCHEMA)
        if path.startswith(".spec.") and node.get("type") in ("integer", "number")
    }
    assert crd == BOUNDS


GOOD = [
    ("inline.count", 0), ("inline.count", 50), ("batches.size", 1), ("batches.size", 500),
    ("batches.parallelism", 50), ("batches.maxAttempts", 10), ("batches.maxAttempts", 1),
    ("api.baseUrl", "https://connect.employes.nl/v4"), ("api.baseUrl", "http://sim:8089/v4"),
    ("api.baseUrl", "https://[::1]:8443/v4/"), ("api.baseUrl", "https://proxy.example"),
    ("timeline.locale", "nl"), ("timeline.locale", "en"),
    ("api.baseUrl", "http://sim.payroll.svc:8089/v4"), ("api.baseUrl", "https://xn--bcher-kva.example/v4"),
    ("api.tokenSecretRef.name", "employes.token-1"), ("api.tokenSecretRef.key", "API_token.v2"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value"), GOOD, ids=[f"{p}={v!r}" for p, v in GOOD])
def test_bounds_are_inclusive(path: str, value: Any) -> None:
    validate(_with(path, value))


NUMERIC_BOUNDS = [
    (path.removeprefix(".spec."), node[bound])
    for path, node in walk(SCHEMA)
    if path.startswith(".spec.") and node.get("type") in ("integer", "number")
    for bound in ("minimum", "maximum")
    if bound in node
]


@pytest.mark.parametrize(("path", "value"), NUMERIC_BOUNDS, ids=[f"{p}={v!r}" for p, v in NUMERIC_BOUNDS])
def test_the_operator_accepts_every_bound_the_crd_accepts(path: str, value: Any) -> None:
    """A value the API server lets through must give settings the operator runs with: a day's Job
    deadline once gave a batch lease the settings refused, so every run of it was InvalidSpec."""
    obj = _with(path, value)
    validate(obj)
    parsed = parse(obj["spec"])
    for mode in ("interactive", "background"):
        parsed.settings("payroll/acme", trigger="created", mode=mode, extra={})


CREDENTIAL_URLS = [
    "https://apiuser:pass@connect.employes.nl/v4", "https://u@h/v4", "https://connect.employes.nl/v4?api_key=k",
    "https://h/v4#frag", "https://h/v4?", "http://h:8089/v4/?token=t",
]  # fmt: skip


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
@pytest.mark.fault(*rows.THE_BASE_URL_CARRIES_NO_CREDENTIAL_QUERY_OR_FRAGMENT)
def test_the_base_url_carries_no_credential_query_or_fragment(url: str) -> None:
    """The token comes from its Secret; a URL is stored with the run and shown in the status."""
    with pytest.raises(jsonschema.ValidationError):
        validate(_with("api.baseUrl", url))


SECRET_REFS = [
    ("api.tokenSecretRef.name", "a/b"), ("api.tokenSecretRef.name", ".."),
    ("api.tokenSecretRef.name", "x%2F.."), ("api.tokenSecretRef.name", "Tok"),
    ("database.dsnSecretRef.name", "-db"), ("api.tokenSecretRef.key", "../t"),
    ("database.dsnSecretRef.key", "a/b"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value"), SECRET_REFS, ids=[f"{p}={v!r}" for p, v in SECRET_REFS])
@pytest.mark.fault(*rows.A_SECRET_REFERENCE_KUBERNETES_COULD_NOT_RESOLVE_IS_REFUSED)
def test_a_secret_reference_kubernetes_could_not_resolve_is_refused(path: str, value: str) -> None:
    """Both the schema and the operator (for an object the schema never checked): the name is a path
    segment of the Secret's GET, where `a/b` or `..` would name something else."""
    with pytest.raises(jsonschema.ValidationError):
        validate(_with(path, value))
    with pytest.raises(SpecError) as caught:
        parse(_with(path, value)["spec"])
    assert caught.value.args[0].startswith(f"spec.{path}"), caught.value


def test_webhook_secret_references_are_checked_too() -> None:
    obj = _with("notifications", {"webhooks": [{
        "name": "hr", "urlSecretRef": {"name": "hooks/x", "key": "url"},
        "signingSecretRef": {"name": "hooks", "key": "secret"},
    }]})  # fmt: skip
    with pytest.raises(SpecError, match=r"notifications.webhooks\[0\].urlSecretRef.name"):
        parse(obj["spec"])
    # Kubernetes refuses "." and ".." as data keys; RE2 (the schema's regex) cannot say so.
    with pytest.raises(SpecError, match="is not a Secret key"):
        parse(_with("database.dsnSecretRef.key", "..")["spec"])
