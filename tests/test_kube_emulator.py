"""The test cluster's emulator answers lists as an API server does: filtered by their label selector.

The operator lists one run's Jobs by label. An emulator that returned every Job made the scale
benchmark's Jobs variant quadratic (each of 200 runs fetched all 200 Jobs at every look), a cost a
cluster does not have; and a test could pass only because the operator filtered what the server
should have.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import Cluster, label_selector_matches, parse_label_selector

NS = "default"


def job(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"template": {"spec": {"containers": []}}}}  # fmt: skip


def names(body: Any) -> list[str]:
    return sorted(item["metadata"]["name"] for item in body["items"])


@pytest.mark.parametrize(
    ("selector", "matched"),
    [
        ("run=1", ["a"]),
        ("run==1", ["a"]),
        ("run!=1", ["b", "c"]),  # c has no run label: != matches it, as on a cluster
        ("run", ["a", "b"]),
        ("!run", ["c"]),
        ("app=x,run=2", ["b"]),
        ("app=x, run=3", []),
    ],
)
def test_the_equality_based_selectors_match_as_on_a_cluster(selector: str, matched: list[str]) -> None:
    objects = [
        {"metadata": {"name": "a", "labels": {"app": "x", "run": "1"}}},
        {"metadata": {"name": "b", "labels": {"app": "x", "run": "2"}}},
        {"metadata": {"name": "c", "labels": {"app": "y"}}},
    ]
    wanted = parse_label_selector(selector)
    assert [o["metadata"]["name"] for o in objects if label_selector_matches(wanted, o)] == matched


@pytest.mark.parametrize("selector", ["run in (1,2)", "run notin (1)", "run=1,,app=x"])
def test_a_selector_the_emulator_cannot_honour_is_refused(selector: str) -> None:
    with pytest.raises(ValueError):
        parse_label_selector(selector)


def test_a_list_by_label_returns_only_the_matching_jobs(cluster: Cluster) -> None:
    cluster.apply(job("run-1", {"employessync.io/run": "1"}))
    cluster.apply(job("run-2", {"employessync.io/run": "2"}))
    path = "/apis/batch/v1/namespaces/default/jobs"
    code, body = cluster.request("GET", f"{path}?labelSelector=employessync.io%2Frun%3D1")
    assert code == 200
    assert names(body) == ["run-1"]
    code, body = cluster.request("GET", path)
    assert names(body) == ["run-1", "run-2"]  # no selector: every Job
    code, _ = cluster.request("GET", f"{path}?labelSelector=run+in+%281%29")
    assert code == 400
