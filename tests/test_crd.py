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


def test_status_written_by_the_operator_validates() -> None:
    obj = copy.deepcopy(EXAMPLE)
    run = {
        "id": 3, "trigger": "created", "mode": "interactive", "phase": "Finished", "state": "succeeded",
        "startedAt": "2025-01-01T00:00:00Z", "finishedAt": "2025-01-01T00:01:00Z", "employees": 78,
        "inlineProcessed": 5, "queued": 3,
        "batches": {"pending": 0, "processing": 0, "completed": 3, "failed": 0},
        "eventsCreated": 400, "eventsUpdated": 12, "eventsRemoved": 1, "timeToFirstFeedbackSeconds": 1.5,
    }  # fmt: skip
    obj["status"] = {
        "observedGeneration": 1,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "RunSucceeded", "message": "ok",
            "lastTransitionTime": "2025-01-01T00:01:00Z", "observedGeneration": 1,
        }],
        "lastRun": run, "employees": 78, "queued": 0, "failedBatches": 0,
        "lastSyncTime": "2025-01-01T00:01:00Z",
        "batches": [{
            "id": "b", "number": 1, "state": "failed", "attempts": 3, "maxAttempts": 3,
            "jobName": "demo-r3-b1-a3", "lastError": "boom",
        }],
    }  # fmt: skip
    validate(obj)


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
]  # fmt: skip


@pytest.mark.parametrize(("path", "value"), BAD, ids=[f"{p}={v!r}" for p, v in BAD])
def test_out_of_bounds_values_are_rejected(path: str, value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(_with(path, value))


GOOD = [
    ("inline.count", 0), ("inline.count", 50), ("batches.size", 1), ("batches.size", 500),
    ("batches.parallelism", 50), ("batches.maxAttempts", 10), ("batches.maxAttempts", 1),
    ("api.baseUrl", "https://connect.employes.nl/v4"), ("api.baseUrl", "http://sim:8089/v4"),
    ("api.baseUrl", "https://[::1]:8443/v4/"), ("api.baseUrl", "https://proxy.example"),
    ("timeline.locale", "nl"), ("timeline.locale", "en"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value"), GOOD, ids=[f"{p}={v!r}" for p, v in GOOD])
def test_bounds_are_inclusive(path: str, value: Any) -> None:
    validate(_with(path, value))


CREDENTIAL_URLS = [
    "https://apiuser:pass@connect.employes.nl/v4", "https://u@h/v4", "https://connect.employes.nl/v4?api_key=k",
    "https://h/v4#frag", "https://h/v4?", "http://h:8089/v4/?token=t",
]  # fmt: skip


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_the_base_url_carries_no_credential_query_or_fragment(url: str) -> None:
    """The token comes from its Secret; a URL is stored with the run and shown in the status."""
    with pytest.raises(jsonschema.ValidationError):
        validate(_with("api.baseUrl", url))
