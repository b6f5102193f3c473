"""The fault-injection suite's plumbing: a `fault` marker per test, and the table in docs/reliability.md.

Every test here carries `@pytest.mark.fault(area, fault, what_happens)`, and so do the tests of other
files that fill rows (their arguments are constants in rows.py). Tests with the same area and fault
share one row of the table. Run the suite with `ESYNC_RELIABILITY_REPORT=docs/reliability.md`
(`tests/reliability/report.sh` does) and the table is written from that run's outcomes: passed/total
per row. Faults without a test yet are listed from `PENDING` so the table never hides a gap.

A plugin of tests/conftest.py, not a conftest of this folder: with pytest-xdist the tests run in
worker processes and only their reports reach the main one, which never collects and so never loads
a conftest below tests/. The markers therefore travel inside the reports (`user_properties`), and the
main process, the only one that sees every outcome, counts them and writes the table.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPORT_ENV = "ESYNC_RELIABILITY_REPORT"
_PROPERTY = "esync-fault"

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


Place = tuple[int, str]  # a test's index in the collection, and its name: the suite's order, wherever it ran


@dataclass
class Row:
    area: str
    fault: str
    #: Each behaviour and test with the first place it was seen at; listed in that order.
    behaviours_at: dict[str, Place] = field(default_factory=dict)
    tests_at: dict[str, Place] = field(default_factory=dict)
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def behaviours(self) -> list[str]:
        return sorted(self.behaviours_at, key=self.behaviours_at.__getitem__)

    @property
    def tests(self) -> list[str]:
        return sorted(self.tests_at, key=self.tests_at.__getitem__)

    @property
    def first(self) -> Place:
        return min(self.tests_at.values(), default=(0, ""))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every xdist worker collects the same items in the same order (xdist checks), so the index is the
    # test's place in the suite wherever it runs.
    for index, item in enumerate(items):
        name = f"{Path(str(item.path)).name}::{item.name}"
        # One marker per row a test fills (a case of a parametrized test may carry its own).
        for marker in item.iter_markers("fault"):
            area, fault, behaviour = (str(a) for a in marker.args)
            item.user_properties.append((_PROPERTY, (area, fault, behaviour, name, index)))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # an xdist worker only sends its reports on
        config.pluginmanager.register(Recorder(), "esync-reliability-recorder")


class Recorder:
    """Counts the outcomes of marked tests, from their reports."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}
        self.started = time.monotonic()

    def _rows_of(self, report: pytest.TestReport) -> list[Row]:
        found = []
        for key, value in report.user_properties:
            if key != _PROPERTY:
                continue
            area, fault, behaviour, name, index = value
            place = (int(index), str(name))
            row = self.rows.setdefault((area, fault), Row(area, fault))
            row.behaviours_at[behaviour] = min(row.behaviours_at.get(behaviour, place), place)
            row.tests_at.setdefault(name, place)
            found.append(row)
        return found

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for row in self._rows_of(report):
            if report.when == "call" or (report.when == "setup" and not report.passed):
                if report.passed:
                    row.passed += 1
                elif report.skipped:
                    row.skipped += 1
                else:
                    row.failed += 1
            elif report.when == "teardown" and report.failed:
                row.failed += 1

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        target = os.environ.get(REPORT_ENV)
        if target and self.rows:
            Path(target).write_text(self.render(), encoding="utf-8")

    def render(self) -> str:
        from tests.reliability.report import render_table

        rows: list[Any] = sorted(self.rows.values(), key=lambda r: r.first)
        return render_table(rows, PENDING, AREAS, seconds=time.monotonic() - self.started)
