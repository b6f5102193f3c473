"""Render docs/reliability.md from one pytest run of tests/reliability (see conftest.py)."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence
from typing import Any

HEADER = """# Reliability and security: the fault-injection suite

Every fault below is injected by a test in `tests/reliability/` (or, for the operator's faults, in
`tests/test_operator_e2e.py`, each test marked with its rows from `tests/reliability/rows.py`) against
the real parts: the Employes API simulator over HTTP (`sim.faults`), real PostgreSQL 18 (embedded), real
`employes-sync worker` subprocesses, and for the operator `employes-sync operator` as a process against
kmock's Kubernetes emulator over HTTP with Jobs run as local worker processes. The Containers rows run
the same operator and workers as containers of a real Docker engine (`tests/containers/`: the chart's
Deployment pod spec, each Job's pod spec with its securityContext, Secrets, emptyDir and limits).
After each run the tests check every table of the scope: each employee stored once, exactly the
timeline events the builder derives from the simulator's data, every batch completed (or failed with
a named reason), nothing duplicated.

This file is generated: `tests/reliability/report.sh` runs the suite with
`ESYNC_RELIABILITY_REPORT=docs/reliability.md` and the counts are that run's outcomes (passed/total
per row; a parametrized test counts once per case, a hypothesis test once however many examples it
drew). Rows marked **not yet tested** have no test; the reason is given.

Last run: {when} on Python {python}, {cores} CPU(s): **{passed}/{total} passed** in {seconds:.0f} s.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(
    rows: Sequence[Any],
    pending: Sequence[tuple[str, str, str]],
    areas: Sequence[str],
    *,
    seconds: float = 0.0,
) -> str:
    total = sum(r.passed + r.failed + r.skipped for r in rows)
    passed = sum(r.passed for r in rows)
    out = [
        HEADER.format(
            when=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            python=platform.python_version(),
            cores=os.cpu_count(),
            passed=passed,
            total=total,
            seconds=seconds,
        )
    ]
    order = {area: i for i, area in enumerate(areas)}
    by_area: dict[str, list[Any]] = {}
    for row in rows:
        by_area.setdefault(row.area, []).append(row)
    for area, fault, why in pending:
        by_area.setdefault(area, []).append((fault, why))
    for area in sorted(by_area, key=lambda a: order.get(a, len(order))):
        out.append(f"\n## {area}\n")
        out.append("| fault | what happens | test | passed |")
        out.append("|---|---|---|---|")
        for row in by_area[area]:
            if isinstance(row, tuple):
                fault, why = row
                out.append(f"| {_cell(fault)} | **not yet tested**: {_cell(why)} | — | — |")
                continue
            tests = "<br>".join(f"`{t}`" for t in row.tests)
            runs = row.passed + row.failed + row.skipped
            status = f"{row.passed}/{runs}" + (f" ({row.skipped} skipped)" if row.skipped else "")
            if row.failed:
                status += " **FAILED**"
            behaviour = "<br>".join(_cell(b) for b in row.behaviours)
            out.append(f"| {_cell(row.fault)} | {behaviour} | {tests} | {status} |")
    return "\n".join(out) + "\n"
