"""The reliability table is counted from test reports, so it comes out whole and in the suite's order
when pytest-xdist runs the tests in other processes and the reports arrive in any order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.reliability import recorder


def report(path: str, index: int, name: str, when: str, outcome: str, *faults: tuple[str, str, str]) -> Any:
    """A report as a worker sends it: each row's marker with the test's name and collection index."""
    shown = f"{path.rpartition('/')[2]}::{name}"
    return pytest.TestReport(
        nodeid=f"{path}::{name}",
        location=(path, 0, name),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=None if outcome != "failed" else "boom",
        when=when,  # type: ignore[arg-type]
        user_properties=[("esync-fault", (*f, shown, index)) for f in faults],
    )


def test_rows_are_counted_from_reports_and_listed_in_the_suites_order() -> None:
    storm, late = ("API", "429 storm", "backs off"), ("API", "429 storm", "waits")
    timeout = ("API", "timeout", "x")
    rec = recorder.Recorder()
    feed = rec.pytest_runtest_logreport
    # The later test (b.py) reports first, as it may from another worker.
    for when in ("setup", "call", "teardown"):
        feed(report("tests/b.py", 10, "test_b", when, "passed", storm))
    for when in ("setup", "call", "teardown"):
        feed(report("tests/a.py", 5, "test_a", when, "passed", late))
    feed(report("tests/a.py", 7, "test_c", "setup", "passed", timeout))
    feed(report("tests/a.py", 7, "test_c", "call", "failed", timeout))
    feed(report("tests/a.py", 9, "test_d", "setup", "skipped", timeout))
    feed(report("tests/a.py", 11, "test_e", "call", "passed"))  # no row
    # A parameter with "::" in it (an IPv6 URL) stays in the name whole.
    feed(report("tests/a.py", 12, "test_f[http://[::1]/v4]", "setup", "passed", timeout))

    rows = rec.rows[("API", "429 storm")], rec.rows[("API", "timeout")]
    assert [(r.passed, r.failed, r.skipped) for r in rows] == [(2, 0, 0), (0, 1, 1)]
    assert rows[1].tests == ["a.py::test_c", "a.py::test_d", "a.py::test_f[http://[::1]/v4]"]
    assert rows[0].tests == ["a.py::test_a", "b.py::test_b"]
    assert rows[0].behaviours == ["waits", "backs off"]
    assert len(rec.rows) == 2
    table = rec.render()
    assert table.index("429 storm") < table.index("| timeout")
    assert "`a.py::test_a`<br>`b.py::test_b`" in table and "2/2" in table and "**FAILED**" in table


def test_an_xdist_worker_records_nothing_itself() -> None:
    registered: list[object] = []
    manager = SimpleNamespace(register=lambda plugin, name: registered.append(plugin))
    recorder.pytest_configure(SimpleNamespace(workerinput={}, pluginmanager=manager))  # type: ignore[arg-type]
    assert registered == []
    recorder.pytest_configure(SimpleNamespace(pluginmanager=manager))  # type: ignore[arg-type]
    assert len(registered) == 1 and isinstance(registered[0], recorder.Recorder)
