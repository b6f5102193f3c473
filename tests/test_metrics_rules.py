"""The alert rules and the dashboard as files: promtool accepts the rules and each alert fires when,
and only when, it should; the dashboard is well formed and filtered by its variables.

Whether the metrics they use exist and carry data is tests/test_metrics_prometheus.py's job.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.prometheus import (
    RULES,
    dashboard_exprs,
    dashboard_panels,
    load_dashboard,
    load_rules,
)

A = 'namespace="payroll", name="acme"'
API = "employes_sync_api_requests_total"


def series(selector: str, values: str) -> dict[str, str]:
    """One promtool input series: a selector and its values in expanding notation."""
    return {"series": selector, "values": values}


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _alert(name: str, at: str, *labels: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": dict(x)} for x in labels]}


def test_alerts_fire_when_they_should(promtool: str, tmp_path: Path) -> None:
    # Annotations are prose for people; promtool compares them verbatim, so test a copy without them.
    rules = load_rules()
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(yaml.safe_dump(rules))
    acme = {"namespace": "payroll", "name": "acme"}
    warning = {**acme, "severity": "warning"}
    tests = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1m",
        "tests": [
            {  # broken: last run failed, queue stuck, no success for 27h, database down, API failing
                "interval": "1m",
                "input_series": [
                    series(f"employes_sync_last_run_failed{{{A}}}", "1x30"),
                    series(f"employes_sync_queue_oldest_pending_age_seconds{{{A}}}", "1000+60x30"),
                    series(f"employes_sync_batch_attempts_total{{{A}}}", "4x30"),
                    series(f"employes_sync_last_success_timestamp_seconds{{{A}}}", "-97200x30"),
                    series('employes_sync_database_up{job="esync", instance="a:8080"}', "0x30"),
                    series(f'{API}{{{A}, endpoint="employments", status_class="5xx"}}', "0+10x30"),
                    series(f'{API}{{{A}, endpoint="employments", status_class="2xx"}}', "0+10x30"),
                    series(f"employes_sync_outbox_oldest_pending_seconds{{{A}}}", "1500+60x30"),
                ],
                "alert_rule_test": [
                    _alert("EmployesSyncFailing", "2m"),  # `for: 5m` not reached yet
                    _alert("EmployesSyncFailing", "10m", warning),
                    _alert("EmployesSyncQueueStuck", "25m", warning),
                    _alert("EmployesSyncNoRecentSuccess", "15m", warning),
                    _alert("EmployesSyncDatabaseDown", "10m", {"job": "esync", "severity": "critical"}),
                    _alert("EmployesSyncApiErrors", "25m", warning),
                    _alert("EmployesSyncOutboxStuck", "10m"),  # 30 min old at 5m, `for: 10m` not reached
                    _alert("EmployesSyncOutboxStuck", "25m", warning),
                ],
            },
            {  # healthy: succeeded recently, attempts moving, database up, few API errors: silence
                "interval": "1m",
                "input_series": [
                    series(f"employes_sync_last_run_failed{{{A}}}", "0x30"),
                    series(f"employes_sync_queue_oldest_pending_age_seconds{{{A}}}", "1000+60x30"),
                    series(f"employes_sync_batch_attempts_total{{{A}}}", "0+1x30"),
                    series(f"employes_sync_last_success_timestamp_seconds{{{A}}}", "0x30"),
                    series('employes_sync_database_up{job="esync", instance="a:8080"}', "1x30"),
                    series(f'{API}{{{A}, endpoint="employments", status_class="5xx"}}', "0+1x30"),
                    series(f'{API}{{{A}, endpoint="employments", status_class="2xx"}}', "0+50x30"),
                    series(f"employes_sync_outbox_oldest_pending_seconds{{{A}}}", "0+2x30"),
                ],
                "alert_rule_test": [
                    _alert(name, "25m")
                    for name in (
                        "EmployesSyncFailing",
                        "EmployesSyncQueueStuck",
                        "EmployesSyncNoRecentSuccess",
                        "EmployesSyncDatabaseDown",
                        "EmployesSyncApiErrors",
                        "EmployesSyncOutboxStuck",
                    )
                ],
            },
        ],
    }
    test_file = tmp_path / "rules.test.yaml"
    test_file.write_text(yaml.safe_dump(tests))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_documented_and_labelled() -> None:
    for group in load_rules()["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("EmployesSync")
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert {"summary", "description"} <= set(rule["annotations"])


def test_the_dashboard_is_filtered_by_namespace_and_name() -> None:
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for name in ("namespace", "name"):
        assert variables[name]["type"] == "query"
        assert variables[name]["definition"].startswith("label_values(employes_sync_queue_batches")
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    assert "$namespace" in variables["name"]["definition"]

    for where, expr in dashboard_exprs(dashboard):
        if "employes_sync_database_up" in expr:
            continue  # not per resource: the databases the endpoint reads
        assert 'namespace=~"$namespace"' in expr and 'name=~"$name"' in expr, where


def test_the_dashboard_has_the_panels_the_issue_asks_for() -> None:
    dashboard = load_dashboard()
    panels = list(dashboard_panels(dashboard))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["description"] and panel["gridPos"]["w"] > 0
        assert all(t["refId"] and t["expr"] for t in panel["targets"])
    text = " ".join(f"{p['title']} {t['expr']}" for p in panels for t in p["targets"])
    for wanted in (
        "employes_sync_queue_batches",  # queue depth by state
        "employes_sync_queue_oldest_pending_age_seconds",
        "rate(employes_sync_batches_finished_total",  # throughput and failure rate
        "employes_sync_batch_retries_total",
        "histogram_quantile(0.95, sum by (le) (increase(employes_sync_run_duration_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (increase(employes_sync_time_to_first_feedback_seconds_bucket",
        'status_class="429"',
        'status_class=~"5xx|error"',
        "time() - max by (namespace, name) (employes_sync_last_success_timestamp_seconds",
    ):
        assert wanted in text, wanted
