"""The fault-injection suite's plumbing: a `fault` marker per test, and the table in docs/reliability.md.

Every test here carries `@pytest.mark.fault(area, fault, what_happens)`, and so do the tests of other
files that fill rows (their arguments are constants in rows.py). Tests with the same area and fault
share one row of the table. Run the suite with `ESYNC_RELIABILITY_REPORT=docs/reliability.md`
(`tests/reliability/report.sh` does) and the table is written from that run's outcomes: passed/total
per row. Faults without a test yet are listed from `PENDING` so the table never hides a gap.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPORT_ENV = "ESYNC_RELIABILITY_REPORT"

AREAS = [
    "API",
    "Database",
    "Workers",
    "Operator",
    "Containers",
    "Load",
    "Bad input",
    "CLI",
    "Security",
    "Consumers",
]

#: (area, fault, why it has no test yet): listed so the table never hides a gap.
PENDING: list[tuple[str, str, str]] = []


@dataclass
class Row:
    area: str
    fault: str
    behaviours: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    skipped: int = 0


_rows: dict[tuple[str, str], Row] = {}
_by_node: dict[str, list[Row]] = {}


#: When the run began. Not pytest_sessionstart: this conftest is loaded while collecting, after the
#: session started, so that hook never ran here and the report gave the machine's uptime as the run's
#: length. pytest_configure is historic: it is called for a conftest loaded late, too.
_started = [time.monotonic()]


def pytest_configure(config: pytest.Config) -> None:
    _started[0] = time.monotonic()
    if not config.pluginmanager.has_plugin("esync-reliability-recorder"):
        config.pluginmanager.register(_Recorder(), "esync-reliability-recorder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = f"{Path(str(item.path)).name}::{item.name}"
        # One marker per row a test fills (a case of a parametrized test may carry its own).
        for area, fault, behaviour in (tuple(marker.args) for marker in item.iter_markers("fault")):
            row = _rows.setdefault((area, fault), Row(area, fault))
            if behaviour not in row.behaviours:
                row.behaviours.append(behaviour)
            row.tests.append(name)
            _by_node.setdefault(item.nodeid, []).append(row)


class _Recorder:
    """Counts outcomes. Registered as a plugin, not a conftest hook: a conftest's runtest hooks only
    see items under its folder, and marked tests of other files (the operator's e2e) live in tests/."""

    @staticmethod
    def pytest_runtest_logreport(report: pytest.TestReport) -> None:
        for row in _by_node.get(report.nodeid, []):
            if report.when == "call" or (report.when == "setup" and not report.passed):
                if report.passed:
                    row.passed += 1
                elif report.skipped:
                    row.skipped += 1
                else:
                    row.failed += 1
            elif report.when == "teardown" and report.failed:
                row.failed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(REPORT_ENV)
    if not target or not _rows:
        return
    Path(target).write_text(render(), encoding="utf-8")


def render() -> str:
    from tests.reliability.report import render_table

    return render_table(list(_rows.values()), PENDING, AREAS, seconds=time.monotonic() - _started[0])
