"""Which scope and which employee a command means: the words a person types, resolved against what is stored.

A person knows an employee by the number HR gave them (`41`), the API by its id (a UUID). Both are
accepted wherever a command takes an employee, so the table `employes-sync employees` prints can be
read and typed from either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from employes_sync.cli.common import fail
from employes_sync.store import employees as employees_store
from employes_sync.store import runs as runs_store

scope_option = click.option(
    "--scope",
    help="Whose rows: local/<companyId> for `sync`, <namespace>/<name> for a resource. "
    "Default: the only scope in the database.",
)

#: How many ids an "ambiguous number" error names.
_SHOWN = 3


async def resolve_scope(pool: Any, scope: str | None) -> str:
    """The scope asked for, or the only one; a scope exists once something of it is stored."""
    scopes = await runs_store.scopes(pool)
    if scope:
        if scope not in scopes:
            known = f"; known: {', '.join(scopes)}" if scopes else "; nothing is stored here yet"
            fail(f"unknown scope {scope!r}{known}", 2)
        return scope
    if len(scopes) == 1:
        return scopes[0]
    if not scopes:
        fail("nothing has been synced into this database yet", 1)
    fail(f"several scopes in this database, pick one with --scope: {', '.join(scopes)}", 2)


class AmbiguousEmployee(LookupError):
    """An employee number that several employees of the scope have; the message names their ids."""


def which_employee(argument: str, employees: Sequence[Mapping[str, Any]]) -> str | None:
    """The id of the employee ``argument`` names among ``employees`` (rows of `list_employees`), or None.

    An id wins over a number: ids are what the API and every table key on, and an id that happens to
    look like another employee's number must still reach its own employee. A number is compared as
    written, and as a number when both are digits (`041` is `41`), since payroll systems pad them.
    Several employees with one number (a re-hire given their old number, an import) are no answer:
    AmbiguousEmployee, naming the ids to pick from.
    """
    wanted = argument.strip()
    for row in employees:
        if str(row["employee_id"]) == wanted:
            return str(row["employee_id"])
    matches = [
        str(row["employee_id"]) for row in employees if _same_number(row.get("employee_number"), wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(sorted(matches)[:_SHOWN]) + (
            f" and {len(matches) - _SHOWN} more" if len(matches) > _SHOWN else ""
        )
        raise AmbiguousEmployee(f"{len(matches)} employees have number {wanted}: pass one id ({shown})")
    return None


def _same_number(number: object, wanted: str) -> bool:
    if number is None:
        return False
    text = str(number).strip()
    if text == wanted:
        return True
    return text.isdigit() and wanted.isdigit() and int(text) == int(wanted)


async def resolve_employees(pool: Any, scope: str, arguments: Sequence[str]) -> list[str]:
    """The ids ``arguments`` (ids or employee numbers) name in ``scope``; unknown ones pass unchanged.

    The scope's employees are read once for all of them (`rebuild --employee` repeats). Unknown ones
    pass, so that what is stored for an id the employees view does not list (events of an old
    version's rows) is still found, and a command says "nothing for X" in its own words.
    """
    if not arguments:
        return []
    rows = await employees_store.list_employees(pool, scope)
    ids = []
    for argument in arguments:
        try:
            found = which_employee(argument, rows)
        except AmbiguousEmployee as error:
            fail(str(error), 2)
        ids.append(found if found is not None else argument)
    return ids
