"""Raw responses: SHA-256 dedup, is_latest, redaction, incremental ids, verbatim text, concurrency."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from employes_sync.store import raw
from tests.fixtures.store import store_pages_in_process

SCOPE = "default/acme"


def employee(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"emp-{i:04d}",
        "first_name": "Anouk",
        "surname": "de Vries",
        "iban": f"NL91ABNA04171643{i:02d}",
        "personal_identification_number": f"12345678{i}",
        "dt_update": "2024-01-01T10:00:00",
        "employment": {"salary": {"month_wage": 3000 + i}},
        **extra,
    }


def test_canonical_json_and_hash_ignore_key_order_and_keep_unicode() -> None:
    a = {"b": 1, "a": {"y": "é", "x": [1, 2]}}
    b = {"a": {"x": [1, 2], "y": "é"}, "b": 1}
    assert raw.canonical_json(a) == '{"a":{"x":[1,2],"y":"é"},"b":1}'
    assert raw.data_hash(a) == raw.data_hash(b)
    assert len(raw.data_hash(a)) == 64


def test_redact_is_recursive_and_copies() -> None:
    src = {"iban": "x", "nested": [{"iban": "y", "keep": 1}], "deep": {"personal_identification_number": 1}}
    out = raw.redact(src, raw.DEFAULT_REDACT)
    assert out == {"nested": [{"keep": 1}], "deep": {}}
    assert src["iban"] == "x"


async def test_second_store_of_same_data_adds_nothing_and_bumps_verified(
    store_pool: AsyncConnectionPool,
) -> None:
    page = [employee(i) for i in range(10)]
    first = await raw.store_employees(store_pool, SCOPE, page)
    assert (first.new, first.changed, first.unchanged) == (10, 0, 0)
    async with store_pool.connection() as conn:
        before = await (await conn.execute("SELECT max(last_verified_at) FROM employes_raw_data")).fetchone()
    second = await raw.store_employees(store_pool, SCOPE, page)
    assert (second.new, second.changed, second.unchanged) == (0, 0, 10)
    async with store_pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT count(*), min(last_verified_at) FROM employes_raw_data")
        ).fetchone()
    assert rows is not None and before is not None
    assert rows[0] == 10
    assert rows[1] > before[0]


async def test_change_adds_a_row_and_moves_is_latest(store_pool: AsyncConnectionPool) -> None:
    await raw.store_employees(store_pool, SCOPE, [employee(1)])
    changed = employee(1, surname="Jansen", dt_update="2024-02-01T00:00:00")
    result = await raw.store_employees(store_pool, SCOPE, [changed])
    assert (result.new, result.changed, result.unchanged) == (0, 1, 0)
    # and back again: the old content becomes a third row, not a resurrection of the first
    back = await raw.store_employees(store_pool, SCOPE, [employee(1)])
    assert back.changed == 1
    async with store_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT api_response->>'surname', is_latest FROM employes_raw_data"
                " WHERE employee_id = 'emp-0001' ORDER BY id"
            )
        ).fetchall()
    assert rows == [("de Vries", False), ("Jansen", False), ("de Vries", True)]
    latest = await raw.load_latest(store_pool, SCOPE, ["emp-0001"])
    assert latest["emp-0001"][0]["surname"] == "de Vries"
    assert latest["emp-0001"][1] is None


async def test_database_refuses_a_second_latest(store_pool: AsyncConnectionPool) -> None:
    await raw.store_employees(store_pool, SCOPE, [employee(1)])
    async with store_pool.connection() as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute(
                "INSERT INTO employes_raw_data (scope, employee_id, endpoint, api_response, data_hash)"
                " VALUES (%s, 'emp-0001', '/employee', '{}', 'x')",
                [SCOPE],
            )


async def test_scopes_are_separate(store_pool: AsyncConnectionPool) -> None:
    await raw.store_employees(store_pool, "ns/a", [employee(1)])
    other = await raw.store_employees(store_pool, "ns/b", [employee(1)])
    assert other.new == 1
    assert list(await raw.load_latest(store_pool, "ns/a")) == ["emp-0001"]


async def test_redacted_fields_never_reach_the_database(
    store_pool: AsyncConnectionPool,
) -> None:
    page = [employee(i) for i in range(5)]
    nested = [
        {"id": "emp-0001-e1", "iban": "NL00SECRETIBAN", "salary": [{"personal_identification_number": "9"}]}
    ]
    await raw.store_employees(store_pool, SCOPE, page)
    await raw.store_employments(store_pool, SCOPE, {"emp-0001": nested})
    secrets = (
        [e["iban"] for e in page] + [e["personal_identification_number"] for e in page] + ["NL00SECRETIBAN"]
    )
    async with store_pool.connection() as conn:
        tables = [
            r[0]
            for r in await (
                await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).fetchall()
        ]
        dump = ""
        for table in tables:
            rows = await (
                await conn.execute(
                    sql.SQL("SELECT string_agg(t::text, E'\\n') FROM {} t").format(sql.Identifier(table))
                )
            ).fetchone()
            dump += (rows[0] or "") if rows else ""
    assert "emp-0003" in dump
    for secret in secrets:
        assert secret not in dump
    assert "personal_identification_number" not in dump
    assert '"iban"' not in dump


async def test_custom_redaction_list(store_pool: AsyncConnectionPool) -> None:
    await raw.store_employees(store_pool, SCOPE, [employee(1, email="a@b.nl")], ["email"])
    latest = await raw.load_latest(store_pool, SCOPE)
    assert "email" not in latest["emp-0001"][0]
    assert "iban" in latest["emp-0001"][0]  # only what is listed is removed


async def test_updated_ids_drive_incremental_runs(store_pool: AsyncConnectionPool) -> None:
    page = [employee(i) for i in range(4)]
    first = await raw.store_employees(store_pool, SCOPE, page)
    assert first.updated_ids == [e["id"] for e in page]
    # employments fetched for all but emp-0003 (say its fetch failed)
    stored = await raw.store_employments(store_pool, SCOPE, {e["id"]: [] for e in page[:3]})
    assert stored.new == 3
    page[1] = employee(1, dt_update="2024-03-01T00:00:00")  # updated upstream
    page[2] = employee(2, surname="Bakker")  # changed without a new dt_update
    again = await raw.store_employees(store_pool, SCOPE, page)
    assert (again.new, again.changed, again.unchanged) == (0, 2, 2)
    assert again.updated_ids == ["emp-0001", "emp-0003"]


async def test_employments_dedup_and_empty_lists(store_pool: AsyncConnectionPool) -> None:
    batch = {"emp-0001": [{"id": "e1", "start_date": "2024-01-01T00:00:00"}], "emp-0002": []}
    assert (await raw.store_employments(store_pool, SCOPE, batch)).new == 2
    again = await raw.store_employments(store_pool, SCOPE, batch)
    assert (again.new, again.changed, again.unchanged, again.updated_ids) == (0, 0, 2, [])
    batch["emp-0002"] = [{"id": "e2"}]
    changed = await raw.store_employments(store_pool, SCOPE, batch)
    assert (changed.changed, changed.updated_ids) == (1, ["emp-0002"])
    await raw.store_employees(store_pool, SCOPE, [employee(1), employee(2)])
    latest = await raw.load_latest(store_pool, SCOPE)
    assert latest["emp-0001"][1] == [{"id": "e1", "start_date": "2024-01-01T00:00:00"}]
    assert latest["emp-0002"][1] == [{"id": "e2"}]


WEIRD = [
    "O'Brien",
    'Robert"); DROP TABLE employes_raw_data;--',
    "Zoë 👩‍💻 Ærø Ñúñez 李",
    "%(scope)s %s {name} $1 \\x00 \\\\",
    "x" * 200_000,
]


async def test_awkward_strings_are_stored_verbatim(store_pool: AsyncConnectionPool) -> None:
    page = [employee(i, first_name=name, surname=name[::-1]) for i, name in enumerate(WEIRD)]
    await raw.store_employees(store_pool, SCOPE, page)
    latest = await raw.load_latest(store_pool, SCOPE)
    for i, name in enumerate(WEIRD):
        stored = latest[f"emp-{i:04d}"][0]
        assert stored["first_name"] == name
        assert stored["surname"] == name[::-1]
    assert (await raw.store_employees(store_pool, SCOPE, page)).unchanged == len(WEIRD)


async def test_large_page_is_one_statement(
    store_pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 1000 is one store statement, not one per employee, behind one statement taking its
    writer locks (how fast that is: bench/, not a test)."""
    page = [employee(i) for i in range(1000)]
    await raw.store_employees(store_pool, SCOPE, page)
    sent: list[str] = []
    execute, executemany = psycopg.AsyncCursor.execute, psycopg.AsyncCursor.executemany

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return await execute(self, query, *args, **kwargs)

    async def counted_many(self: psycopg.AsyncCursor[Any], query: Any, params: Any, **kwargs: Any) -> Any:
        params = list(params)
        sent.extend([str(query)] * len(params))
        return await executemany(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
    monkeypatch.setattr(psycopg.AsyncCursor, "executemany", counted_many)
    again = await raw.store_employees(store_pool, SCOPE, page)
    assert again.unchanged == 1000
    statements = [q for q in sent if q.strip() and q.strip().upper() != "SELECT 1"]  # not the pool's check
    assert len(statements) == 2, statements
    assert "pg_advisory_xact_lock" in statements[0] and "employes_raw_data" in statements[1]


def test_two_processes_storing_the_same_employees(database_url: str) -> None:
    """Two processes write the same employees, changing them as they go: never two latest rows."""
    import asyncio

    from tests.fixtures.store import migrated_pool

    async def setup() -> None:
        async with migrated_pool(database_url):
            pass

    asyncio.run(setup())
    rounds = [[employee(i, surname=f"v{r % 3}") for i in range(30)] for r in range(12)]
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 1.5
    with ctx.Pool(3) as procs:
        totals = procs.starmap(
            store_pages_in_process, [(database_url, SCOPE, rounds, start_at) for _ in range(3)]
        )
    assert totals == [30 * 12] * 3
    with psycopg.connect(database_url) as conn:
        latest = conn.execute(
            "SELECT employee_id, count(*) FILTER (WHERE is_latest) FROM employes_raw_data GROUP BY 1"
        ).fetchall()
    assert len(latest) == 30
    assert all(n == 1 for _, n in latest)
