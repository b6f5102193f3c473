"""Bad input over time: the payroll data is corrected upstream between two syncs.

A contract's end date is moved, an unsigned renewal gets signed, a wage is corrected back-dated and an
employment end is registered (notice given). The second sync must correct the stored events in place
(counted as `updated`), add and remove only what the new data implies, and end exactly where a new
database would end for the same data; a third sync of the same data writes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.fakedata import AS_OF, SimEmployee, generate_company
from employes_sync.employes.simulator import Simulator
from tests.reliability.helpers import local_run

pytestmark = pytest.mark.timeout(180)
MakeSim = Callable[..., Simulator]

COMPANY = "00000000-0000-4000-8000-00000000c0de"
TOKEN = "corrections-token"


def _corrected(company: list[SimEmployee]) -> tuple[list[SimEmployee], dict[str, str]]:
    """The same company with one correction of each kind; what was corrected, per employee id."""
    changed = copy.deepcopy(company)
    done: dict[str, str] = {}
    for person in changed:
        if not person.employments or person.id in done:
            continue
        employment = max(person.employments, key=lambda e: e["start_date"])
        contracts = sorted(employment["contracts"], key=lambda c: c["start_date"])
        salaries = sorted(employment["salary"], key=lambda s: s["start_date"])
        if "end date" not in done.values() and contracts and "end_date" in contracts[0]:
            contracts[0]["end_date"] = "2031-12-31T00:00:00"
            done[person.id] = "end date"
        elif "signed" not in done.values() and any(c.get("is_signed") is False for c in contracts):
            for contract in contracts:
                contract["is_signed"] = True
            done[person.id] = "signed"
        elif "wage" not in done.values() and len(salaries) >= 2 and salaries[-1].get("hour_wage"):
            salaries[-1]["hour_wage"] = round(salaries[-1]["hour_wage"] * 1.1, 2)
            done[person.id] = "wage"
        elif "notice" not in done.values() and "end_date" not in employment:
            employment["end_date"] = "2025-09-30T00:00:00"
            done[person.id] = "notice"
    assert sorted(done.values()) == ["end date", "notice", "signed", "wage"], done
    return changed, done


def _stored(dsn: str, scope: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT employee_id, event_key, event_type, event_date, event_title, event_description,"
            " event_data, event_order FROM employes_timeline_v2 WHERE scope = %s",
            (scope,),
        ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.mark.fault(
    "Bad input",
    "payroll data corrected upstream between syncs",
    "an end date moved, a renewal signed, a wage corrected back-dated, notice registered: the next sync"
    " updates those employees' stored events in place (counted as updated), the result equals a fresh"
    " database's, and a re-sync of the same data writes nothing",
)
async def test_corrections_upstream_reach_the_stored_timeline(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    company = generate_company(24, seed=7)  # one block: every kind of history once
    corrected, done = _corrected(company)
    scope = f"local/{COMPANY}"
    config = {"company_id": COMPANY, "token": TOKEN}

    first = await local_run(
        make_simulator(company=company, **config), store_pool, database_url, as_of=AS_OF.isoformat()
    )
    assert first.succeeded, first.error
    before = _stored(database_url, scope)

    sim = make_simulator(company=corrected, **config)
    second = await local_run(sim, store_pool, database_url, as_of=AS_OF.isoformat())
    assert second.succeeded, second.error
    after = _stored(database_url, scope)
    changed = {key for key in after.keys() & before.keys() if after[key] != before[key]}
    assert {employee for employee, _ in changed} <= set(done)
    assert second.summary["events_updated"] == len(changed) >= len(done) - 1  # notice may only add
    assert second.summary["events_created"] == len(after.keys() - before.keys())
    assert second.summary["events_removed"] == len(before.keys() - after.keys())
    notice = next(e for e, what in done.items() if what == "notice")
    assert any(
        employee == notice and row[0] == "contract_ended" and row[4]["planned"]
        for (employee, _), row in after.items()
    ), "the registered end shows as planned"

    # A database that only ever saw the corrected data holds the same rows.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM employes_timeline_v2 WHERE scope = %s", (scope,))
    fresh = await local_run(sim, store_pool, database_url, as_of=AS_OF.isoformat())
    assert fresh.succeeded, fresh.error
    assert _stored(database_url, scope) == after

    again = await local_run(sim, store_pool, database_url, as_of=AS_OF.isoformat())
    assert (
        again.summary["events_created"],
        again.summary["events_updated"],
        again.summary["events_removed"],
    ) == (
        0,
        0,
        0,
    )
