"""`employes-sync employees`: the `employes_employees` view, the removed ones too (or only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from employes_sync.cli.common import database_option, echo_json, open_database, resolve_database, run
from employes_sync.cli.lookup import resolve_scope, scope_option
from employes_sync.store import employees as employees_store


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@click.command()
@scope_option
@database_option
@click.option("--removed", is_flag=True, help="Only employees no longer listed by the API.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def employees(scope: str | None, database_url: str | None, removed: bool, as_json: bool) -> None:
    """List a scope's employees: id, number, status, first and last seen, when removed, and name."""

    async def main() -> list[dict[str, Any]]:
        async with open_database(dsn) as pool:
            chosen = await resolve_scope(pool, scope)
            return await employees_store.list_employees(pool, chosen, removed_only=removed)

    with resolve_database(database_url) as dsn:
        rows = run(main())
    if as_json:
        # RFC 3339 times (`2026-12-01T09:00:00.123456+00:00`), as the webhooks write them: str() of a
        # datetime put a space there, which JavaScript's Date.parse, among others, does not read.
        echo_json([{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows])
        return
    if not rows:
        click.echo("no removed employees" if removed else "no employees")
        return
    width = max(len("id"), *(len(str(row["employee_id"])) for row in rows))
    click.echo(
        f"{'id':<{width}}  {'number':>6}  {'status':<8}  {'first seen':<16}  {'last seen':<16}  "
        f"{'removed':<16}  name"
    )
    for row in rows:
        click.echo(
            f"{row['employee_id']:<{width}}  {row['employee_number'] or '-':>6}  {row['status']:<8}  "
            f"{_when(row['first_seen_at']):<16}  {_when(row['last_seen_at']):<16}  "
            f"{_when(row['removed_at']):<16}  {row['display_name'] or '-'}"
        )
    click.echo(f"{len(rows)} employees, {sum(1 for r in rows if r['removed_at'])} removed")
