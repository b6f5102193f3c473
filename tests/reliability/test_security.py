"""Security: secrets never shown, personal data never stored, SQL never built from strings.

The secret-leak tests run syncs that fail in every way the fault suite knows (API faults, a rejected
token at start and mid-run, an unreachable database, a lost employee, an oversized response) with a
distinctive token and a DSN that carries a password, then search everything a person or a scraper
can see: the CLI's stdout/stderr at -vv, a worker's stderr, log records at DEBUG, exception messages,
every stored row of every table, and the /metrics page.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from employes_sync import metrics
from employes_sync.employes.simulator import Simulator
from employes_sync.store.db import open_pool
from tests.fixtures.kube import *  # noqa: F403  (the emulator, the Job runner, the operator)
from tests.fixtures.kube import Cluster, JobRunner, OperatorProcess
from tests.fixtures.store import migrated_pool
from tests.reliability.helpers import Recorder, local_run

pytestmark = pytest.mark.timeout(180)

MakeSim = Callable[..., Simulator]
SEC = "Security"
TOKEN = "tok_Secr3t-ABCDEF0123456789"
PASSWORD = "pw_Hidden-9876543210"
PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "employes_sync"


def with_password(dsn: str) -> str:
    """The test database's DSN with a password (the embedded server trusts local users and ignores it)."""
    return dsn.replace("postgres:@", f"postgres:{PASSWORD}@", 1)


def all_rows_as_text(dsn: str) -> str:
    """Every row of every table in the database, as PostgreSQL renders it."""
    chunks: list[str] = []
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        ]
        assert "processing_queue" in tables and "sync_runs" in tables
        for table in tables:
            query = psycopg.sql.SQL("SELECT t::text FROM {} t").format(psycopg.sql.Identifier(table))
            chunks.extend(r[0] for r in conn.execute(query).fetchall())
    return "\n".join(chunks)


def assert_no_secrets(text: str, where: str) -> None:
    assert TOKEN not in text, f"the API token appears in {where}"
    assert PASSWORD not in text, f"the database password appears in {where}"


def cli(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "employes_sync", "-vv", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def rotate_after(sim: Simulator, requests: int) -> threading.Thread:
    """Reject the token once the simulator has answered `requests` requests (a 401 mid-run)."""

    target = sim.stats.total + requests

    def watch() -> None:
        deadline = time.monotonic() + 60
        while sim.stats.total < target and time.monotonic() < deadline:
            time.sleep(0.005)
        sim.faults.rotate_token("tok_rotated")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def secret_sim(make_simulator: MakeSim) -> Simulator:
    return make_simulator(employees=40, requests_per_second=0, token=TOKEN)


@pytest.mark.fault(
    SEC,
    "token and DSN password in logs, output and stored rows",
    "CLI stdout/stderr at -vv, worker stderr and every stored row, over runs failing in every way: "
    "neither secret appears",
)
def test_cli_runs_failing_every_way_never_show_secrets(secret_sim: Simulator, database_url: str) -> None:
    sim = secret_sim
    dsn = with_password(database_url)
    assert sim.url is not None
    base = [
        "sync",
        "--api-url",
        sim.url,
        "--company-id",
        sim.config.company_id,
        "--backoff-seconds",
        "0.2",
        "--batch-size",
        "10",
        "--requests-per-second",
        "500",
        "--max-attempts",
        "2",
    ]
    env = {"EMPLOYES_API_TOKEN": TOKEN, "DATABASE_URL": dsn}
    outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    # 1. Every API fault at once; one employee gone, records broken, an oversized response.
    sim.faults.fail_fraction(0.15)
    sim.faults.rate_limit_next(3, retry_after=1, endpoint="employments")
    sim.faults.drop_next(2)
    sim.faults.truncated_next(2, endpoint="employments")
    sim.faults.malformed_employments(sim.company[7].id, "json")
    sim.faults.corrupt_employees([3, 22])
    sim.faults.oversized_next(1, endpoint="employments", declare_length=True)
    outputs.append(("api faults", cli(*base, "--json", env=env)))
    sim.faults.reset()

    # 2. The token rejected mid-run (batches fail with 401), then 3. rejected at start.
    rotate_after(sim, 12)
    outputs.append(("401 mid-run", cli(*base, env=env)))
    outputs.append(("401 at start", cli(*base, env=env)))
    sim.faults.reset()

    # 4. A worker run by hand on a batch of the failed run, with the wrong token and at -vv.
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id::text FROM processing_queue WHERE status = 'failed' LIMIT 1").fetchone()
        assert row is not None, "the 401 run left no failed batch"
        conn.execute(
            "UPDATE processing_queue SET status = 'pending', attempts = 0 WHERE id = %(id)s", {"id": row[0]}
        )
    sim.faults.rotate_token("tok_other")
    outputs.append(("worker 401", cli("worker", "--batch-id", row[0], env=env)))
    sim.faults.reset()

    # 5. The database unreachable, for the sync and for a worker.
    gone = f"postgresql://esync:{PASSWORD}@/esync?host=/nonexistent-dir"
    outputs.append(("sync db down", cli(*base, env={**env, "DATABASE_URL": gone})))
    outputs.append(("worker db down", cli("worker", "--batch-id", row[0], env={**env, "DATABASE_URL": gone})))

    codes = {name: result.returncode for name, result in outputs}
    assert codes["api faults"] == 0, outputs[0][1].stderr[-2000:]
    assert codes["401 mid-run"] == 1 and codes["401 at start"] == 1 and codes["worker 401"] == 1
    assert codes["sync db down"] == 1 and codes["worker db down"] == 1
    assert "DEBUG" in outputs[0][1].stderr  # -vv really logged at debug level
    for name, result in outputs:
        assert_no_secrets(result.stdout + result.stderr, f"the output of '{name}'")
        assert "Traceback" not in result.stderr, f"'{name}' printed a traceback"
    assert_no_secrets(all_rows_as_text(dsn), "the database")


@pytest.mark.fault(
    SEC,
    "token and DSN password in logs, output and stored rows",
    "in-process runs (401 mid-run, 401 inline, lost employee, DB errors) with every logger at DEBUG: "
    "no record, exception message or traceback holds a secret",
)
async def test_in_process_logs_and_exceptions_never_show_secrets(
    secret_sim: Simulator, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim = secret_sim
    dsn = with_password(database_url)
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with migrated_pool(dsn) as pool:
        sim.faults.remove_employee(sim.company[12].id)
        sim.faults.fail_fraction(0.1)
        recorder = Recorder()
        recorder.on("listed", lambda _: sim.faults.rotate_token("tok_rotated"))
        summary = await local_run(sim, pool, dsn, recorder=recorder, token=TOKEN, max_attempts=1)
        seen.append(repr(summary))
        sim.faults.reset()
        recorder = Recorder()
        recorder.on("page", lambda _: sim.faults.rotate_token("tok_rotated"))
        with pytest.raises(Exception) as caught:
            await local_run(sim, pool, dsn, recorder=recorder, token=TOKEN)
        seen.append(f"{caught.value!s} {caught.value!r} {caught.getrepr()}")
    for bad in (f"postgresql://x:{PASSWORD}@/x?host=/nonexistent", f"host=/nonexistent password={PASSWORD}"):
        with pytest.raises(Exception) as caught:
            await open_pool(bad, timeout=2)
        seen.append(f"{caught.value!s} {caught.value!r} {caught.getrepr()}")
    assert_no_secrets("\n".join(seen), "exception messages or tracebacks")
    assert_no_secrets(caplog.text, "log records")
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert_no_secrets(all_rows_as_text(dsn), "the database")


@pytest.mark.fault(
    SEC,
    "token and DSN password in metrics",
    "/metrics scraped after failing runs and with the database unreachable: no secret",
)
async def test_metrics_never_show_secrets(secret_sim: Simulator, database_url: str) -> None:
    dsn = with_password(database_url)
    async with migrated_pool(dsn) as pool:
        recorder = Recorder()
        recorder.on("listed", lambda _: secret_sim.faults.rotate_token("tok_rotated"))
        await local_run(secret_sim, pool, dsn, recorder=recorder, token=TOKEN, max_attempts=1)
    pages = []
    for target in (dsn, f"postgresql://x:{PASSWORD}@/x?host=/nonexistent"):
        server = metrics.serve_metrics(0, target, addr="127.0.0.1", ttl=0.0)
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            page = await asyncio.to_thread(lambda url=url: urllib.request.urlopen(url, timeout=10).read())
            pages.append(page.decode())
        finally:
            server.close()
    assert "employes_sync" in pages[0]
    for page in pages:
        assert_no_secrets(page, "/metrics")


@pytest.mark.fault(
    SEC,
    "BSN and IBAN never reach the database",
    "after a full and an incremental run, no BSN or IBAN value (nor the keys) is in any row of any "
    "table; a field added to `redact` is dropped too",
)
async def test_personal_data_never_stored(make_simulator: MakeSim, database_url: str) -> None:
    sim = make_simulator(employees=40, requests_per_second=0)
    secrets: dict[str, list[str]] = {"personal_identification_number": [], "iban": [], "phone_number": []}

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in secrets and isinstance(item, str):
                    secrets[key].append(item)
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    for person in sim.company:
        collect(person.employee)
        collect(person.employments)
    assert len(secrets["personal_identification_number"]) >= 20 and len(secrets["iban"]) >= 20
    async with migrated_pool(database_url) as pool:
        assert (await local_run(sim, pool, database_url)).succeeded
        assert (await local_run(sim, pool, database_url, incremental=True)).succeeded
        other = make_simulator(
            employees=10, requests_per_second=0, seed=9, company_id="0b4f1f62-5c8e-4d8c-9a55-3f3e0e6d7a10"
        )
        for person in other.company:
            collect(person.employee)
        redact = ("personal_identification_number", "iban", "phone_number")
        assert (await local_run(other, pool, database_url, redact=redact)).succeeded
    stored = all_rows_as_text(database_url)
    for value in secrets["personal_identification_number"] + secrets["iban"]:
        assert value not in stored, "a BSN or IBAN was stored"
    other_phones = [p.employee["phone_number"] for p in other.company if p.employee.get("phone_number")]
    assert other_phones and not [p for p in other_phones if p in stored]
    assert not re.search(r'"(personal_identification_number|iban)":', stored)


# -- SQL is never built from strings ----------------------------------------------------------------

SQL_SHAPES = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(CREATE|DROP|ALTER|TRUNCATE)\s+(TABLE|INDEX|DATABASE|SCHEMA|ROLE|FUNCTION)\b|\bWHERE\s+\w+\s*=",
    re.IGNORECASE | re.DOTALL,
)


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text("utf-8"), str(path))


def _is_literal_sql(node: ast.expr, params: set[str]) -> bool:
    """A constant, a catalogue entry (Q.name), a parameter, or cast(LiteralString, <one of those>)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Q":
        return True
    if isinstance(node, ast.Name) and node.id in params:
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "cast":
        return len(node.args) == 2 and isinstance(node.args[1], ast.Attribute)
    return False


@pytest.mark.fault(
    SEC,
    "every SQL statement parameterized",
    "an AST scan: every execute() gets a constant, Q.<name> or a parameter carrying one; no f-string, "
    "%, format() or + builds text that looks like SQL",
)
def test_every_execute_gets_literal_sql() -> None:
    bad: list[str] = []
    forwarded: dict[tuple[Path, str], int] = {}  # helper functions passing a parameter to execute()
    for path, tree in _sources():
        verdict: dict[ast.Call, bool] = {}  # a call is fine if any enclosing function makes it so
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = [a.arg for a in func.args.args + func.args.kwonlyargs]
            for node in ast.walk(func):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in ("execute", "executemany") or not node.args:
                    continue
                first = node.args[0]
                fine = _is_literal_sql(first, set(params))
                verdict[node] = verdict.get(node, False) or fine
                if fine and isinstance(first, ast.Name):
                    forwarded[(path, func.name)] = params.index(first.id)
        bad += [
            f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node.args[0])}"
            for node, fine in verdict.items()
            if not fine
        ]
    # Helpers that take the query as a parameter must only ever be called with Q.<name> or a constant.
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            index = forwarded.get((path, node.func.id))
            if index is None or index >= len(node.args):
                continue
            if not _is_literal_sql(node.args[index], set()):
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node.args[index])}")
    assert forwarded, "expected the store's query helpers to be found"
    assert bad == []


@pytest.mark.fault(
    SEC,
    "every SQL statement parameterized",
    "no string formatting anywhere builds SQL-looking text; queries.sql and the migrations use only "
    "%(name)s placeholders",
)
def test_no_sql_is_built_by_formatting() -> None:
    bad: list[str] = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
                parts = [n for n in (node.left, node.right) if isinstance(n, ast.Constant)]
                text = " ".join(str(p.value) for p in parts)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and isinstance(node.func.value, ast.Constant)
            ):
                text = str(node.func.value.value)
            if text and SQL_SHAPES.search(text):
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)[:80]}")
    assert bad == []
    catalogue = (PACKAGE / "store" / "queries.sql").read_text("utf-8")
    code = "\n".join(line.split("--", 1)[0] for line in catalogue.splitlines())
    leftovers = re.sub(r"%\([a-z_][a-z0-9_]*\)s", "", code)
    assert "%" not in leftovers, "queries.sql has a placeholder other than %(name)s"
    assert not re.search(r"\{[A-Za-z_]\w*\}", leftovers), "queries.sql has a {format} marker"
    for migration in sorted((PACKAGE / "store" / "migrations").glob("*.sql")):
        body = "\n".join(line.split("--", 1)[0] for line in migration.read_text("utf-8").splitlines())
        assert "%(" not in body and not re.search(r"\{[A-Za-z_]\w*\}", body), migration.name


# -- everything a person or a scraper can see, through the operator -------------------------------

NAME_MARK = "Qzname"  # in every first name and surname: redacted by the resource, so nowhere at all
WAGE_MARK = "Qzwage"  # in one employee's wage, which is therefore not a number: an invalid record
DOB_MARK = "Qzdob"  # in one employee's date of birth, likewise
STREET_MARK = "Qzstreet"  # beside a NaN in one employee: an invalid record
MARKERS = (NAME_MARK, WAGE_MARK, DOB_MARK, STREET_MARK)
NAME_FIELDS = [
    "personal_identification_number",
    "iban",
    "first_name",
    "surname",
    "surname_prefix",
    "initials",
]


def _planted_company(count: int, *, invalid: bool = True) -> list[Any]:
    from employes_sync.employes.fakedata import SimEmployee, generate_company

    people = []
    for index, person in enumerate(generate_company(count, seed=11)):
        employee = {
            **person.employee,
            "first_name": f"{NAME_MARK}{index}f",
            "surname": f"{NAME_MARK}{index}s",
        }
        if invalid and index == 7:
            employee["yearly_wage"] = f"€ 45.000,00 {WAGE_MARK}"
        if invalid and index == 23:
            employee["date_of_birth"] = f"19{DOB_MARK}-02-31"
        if invalid and index == 31:  # what PostgreSQL would reject, quoting the record
            employee.update(street=STREET_MARK, housenumber=float("nan"))
        people.append(SimEmployee(employee, person.employments, person.employments_not_found))
    return people


def assert_nothing_shown(text: str, where: str) -> None:
    assert_no_secrets(text, where)
    for marker in MARKERS:
        assert marker not in text, f"a planted personal value ({marker}) appears in {where}"


@pytest.mark.fault(
    SEC,
    "token, DSN password and personal values in every table, the status, events, logs and metrics",
    "the operator syncs a company whose names carry a marker (redacted by the resource), with one "
    "wage, one date of birth and one street (beside a NaN) that carry a marker and are invalid: after "
    "the run neither secret nor "
    "any marker is in any row of any table, the status, the Events, the operator's and the Jobs' logs "
    "or /metrics; the inline employees' timelines are built from the redacted record",
)
def test_the_operator_shows_no_secret_or_personal_value_anywhere(
    cluster_with_crd: Cluster,
    job_runner: JobRunner,
    operator_factory: Callable[..., OperatorProcess],
    database_url: str,
    make_simulator: MakeSim,
) -> None:
    import yaml

    from tests.fixtures.network import free_port
    from tests.test_operator_e2e import NS, Env, scrape

    dsn = with_password(database_url)
    sim = make_simulator(company=_planted_company(40), requests_per_second=0, token=TOKEN)
    env = Env(cluster_with_crd, job_runner, operator_factory, dsn, sim)
    env.secret()
    env.resource(redact=NAME_FIELDS, inline__count=5)
    port = free_port()
    op = env.operator(metrics_port=port)
    last = env.wait_run_finished(timeout=120)
    assert last["employees"] == 37, last  # 40 listed, the three with planted values invalid
    assert env.timelines() == 37
    metrics_page = scrape(f"http://127.0.0.1:{port}/metrics")
    assert "employes_sync_runs_total{" in metrics_page

    assert_nothing_shown(all_rows_as_text(dsn), "the database")
    assert_nothing_shown(yaml.safe_dump(env.get()), "the EmployesSync (status included)")
    assert_nothing_shown(yaml.safe_dump(env.events()), "the Events")
    assert_nothing_shown(op.logs(), "the operator's log")
    logs = sorted(job_runner.logdir.glob("*.log"))
    assert logs, "no Job ran: the batches were not exercised"
    for log in logs:
        assert_nothing_shown(log.read_text(errors="replace"), f"the log of Job {log.stem}")
    assert_nothing_shown(metrics_page, "/metrics")
    # The inline employees (the first five) have their employee_added event, without their name.
    with psycopg.connect(dsn) as conn:
        titles = conn.execute(
            "SELECT event_title || ' ' || coalesce(event_description, '') || ' ' || event_data::text"
            " FROM employes_timeline_v2 WHERE scope = %(s)s AND event_type = 'employee_added'",
            {"s": f"{NS}/acme"},
        ).fetchall()
    assert len(titles) >= 5


@pytest.mark.fault(
    SEC,
    "`redact` honoured by the inline part",
    "names added to `redact`: no name is in any row of any table after a run, the inline employees'"
    " `employee_added` events included (they were built from the unredacted page record before)",
)
async def test_redact_is_honoured_by_inline_timelines(make_simulator: MakeSim, database_url: str) -> None:
    sim = make_simulator(company=_planted_company(30, invalid=False), requests_per_second=0)
    async with migrated_pool(database_url) as pool:
        summary = await local_run(sim, pool, database_url, redact=tuple(NAME_FIELDS), inline_count=5)
        assert summary.succeeded
    with psycopg.connect(database_url) as conn:
        added = conn.execute(
            "SELECT count(*) FROM employes_timeline_v2 WHERE event_type = 'employee_added'"
        ).fetchone()
    assert added is not None and added[0] == 30
    assert NAME_MARK not in all_rows_as_text(database_url), "a redacted name was stored"
    # Without the names in `redact` they are stored (raw data and timelines): the check can fail.
    other = make_simulator(company=_planted_company(6, invalid=False), requests_per_second=0,
                           company_id="0b4f1f62-5c8e-4d8c-9a55-3f3e0e6d7a11")  # fmt: skip
    async with migrated_pool(database_url) as pool:
        assert (await local_run(other, pool, database_url, inline_count=5)).succeeded
    assert NAME_MARK in all_rows_as_text(database_url)


CITY_MARK = "Qzcity"


@pytest.mark.fault(
    SEC,
    "NaN and Infinity in a record: one invalid record, the rest stored, no quoted data anywhere",
    "a page with NaN, Infinity and -Infinity beside a planted street and city: those three records are"
    " invalid ('not a finite number'), the other 27 stored with their timelines; a PostgreSQL error is told"
    " as SQLSTATE and primary message only (its context quotes the record); the city is in no column of"
    " any table, no log record and no summary",
)
async def test_a_rejected_record_is_quoted_nowhere(
    make_simulator: MakeSim, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from employes_sync.employes.fakedata import SimEmployee, generate_company
    from employes_sync.messages import one_line, traceback_text
    from employes_sync.store import raw as raw_store

    caplog.set_level(logging.DEBUG)
    people = generate_company(30, seed=12)
    for index, bad in ((2, float("nan")), (17, float("inf")), (21, float("-inf"))):  # inline and in batches
        person = people[index]
        # The mark also in the field just before the bad number (keys are sent sorted), which is where
        # PostgreSQL's error quotes the record from.
        employee = {
            **person.employee,
            "street": CITY_MARK,
            "city": CITY_MARK,
            "gender": CITY_MARK,
            "housenumber": bad,
        }
        people[index] = SimEmployee(employee, person.employments, person.employments_not_found)
    sim = make_simulator(company=people, requests_per_second=0)
    seen: list[str] = []
    async with migrated_pool(database_url) as pool:
        # What PostgreSQL says about it quotes the record; what we keep of it does not.
        with pytest.raises(psycopg.Error) as caught:
            await raw_store.store_employees(pool, "local/probe", [people[2].employee])
        assert CITY_MARK in str(caught.value)
        told = one_line(caught.value)
        assert CITY_MARK not in told and "SQLSTATE 22P02" in told, told
        logged = traceback_text(caught.value)  # what the reconciler logs and a batch's error_details keep
        assert CITY_MARK not in logged and "store_employees" in logged and logged.endswith(told)
        summary = await local_run(sim, pool, database_url, max_attempts=1)
        seen.append(repr(summary))
    # Each non-finite number makes its one record invalid (validation.py); the rest are stored.
    assert summary.succeeded, summary
    assert summary.summary["employees_processed"] == 27
    assert len(summary.summary["invalid_employees"]) == 3, summary.summary["invalid_employees"]
    assert all("not a finite number" in r for r in summary.summary["invalid_employees"].values())
    assert CITY_MARK not in all_rows_as_text(database_url), (
        "a rejected record's value was stored with its error"
    )
    assert CITY_MARK not in "\n".join(seen) and CITY_MARK not in caplog.text


def nested(depth: int) -> Any:
    """A JSON value `depth` lists deep: within what the parser reads, beyond what a recursive walk can."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.fault(
    SEC,
    "a hostile API exhausting or hanging the operator",
    "a record nested 700 deep (the parser reads it): that one record invalid, the rest stored, no"
    " RecursionError",
)
async def test_a_record_nested_deeper_than_a_payroll_record_is_one_invalid_record(
    make_simulator: MakeSim, database_url: str
) -> None:
    from employes_sync.employes.fakedata import SimEmployee, generate_company

    people = generate_company(30, seed=13)
    for index in (2, 17):  # inline and in a batch
        person = people[index]
        employee = {**person.employee, "extra": nested(700)}
        people[index] = SimEmployee(employee, person.employments, person.employments_not_found)
    person = people[21]
    employments = [{**person.employments[0], "extra": nested(700)}, *person.employments[1:]]
    people[21] = SimEmployee(person.employee, employments, person.employments_not_found)
    sim = make_simulator(company=people, requests_per_second=0)
    async with migrated_pool(database_url) as pool:
        summary = await local_run(sim, pool, database_url, max_attempts=1)
    assert summary.succeeded, summary
    # The two employees are invalid records of the listing; the employment fails only its employee.
    invalid = summary.summary["invalid_employees"]
    assert len(invalid) == 2 and all("employee.extra: nested too deeply" in r for r in invalid.values())
    errors = summary.summary["employee_errors"]
    assert list(errors) == [people[21].id], errors
    assert "employment.extra: nested too deeply" in errors[people[21].id], errors
    assert summary.summary["employees_synced"] == 27, summary.summary


@pytest.mark.fault(
    SEC,
    "the worker takes the token's destination from the database",
    "a run row whose settings.api_url was rewritten to another host: a worker given $EMPLOYES_API_URL"
    " uses that and the other host gets no request; without it, the allowlist refuses the stored URL"
    " (DestinationNotAllowed) before any request",
)
async def test_a_rewritten_run_row_cannot_send_the_token_elsewhere(
    make_simulator: MakeSim, store_pool: Any
) -> None:
    from employes_sync.store import queue as queue_store
    from employes_sync.store import raw as raw_store
    from employes_sync.store import runs as runs_store
    from employes_sync.worker import process_batch
    from tests.reliability.helpers import fast_settings

    good = make_simulator(employees=6, requests_per_second=0, token=TOKEN)
    evil = make_simulator(employees=6, requests_per_second=0, token=TOKEN, company_id=good.config.company_id)
    settings = fast_settings(good)
    tampered = {**settings.to_json(), "api_url": evil.url}  # what another tenant of the database could write
    run_id = await runs_store.start_run(
        store_pool, settings.scope, settings.company_id, "test", "background", tampered
    )
    await raw_store.store_employees(store_pool, settings.scope, [p.employee for p in good.company])
    ids = [p.id for p in good.company]
    first, second = await queue_store.enqueue(store_pool, settings.scope, run_id, [ids[:3], ids[3:]])
    allowed = [str(good.url)]

    outcome = await process_batch(store_pool, first.id, TOKEN, api_url=good.url, allowed_api_urls=allowed)
    assert outcome.status == "completed", outcome
    assert evil.stats.total == 0 and good.stats.count(kind="employments") >= 3

    refused = await process_batch(store_pool, second.id, TOKEN, allowed_api_urls=allowed)
    assert refused.status in ("retrying", "failed") and refused.error is not None
    assert refused.error.startswith("DestinationNotAllowed") and str(evil.url) in refused.error
    assert evil.stats.total == 0


@pytest.mark.fault(
    SEC,
    "the worker takes the company and the redaction from the database",
    "a run row rewritten to another company the token reads and to no redaction: a worker given the "
    "spec's company and redaction (a Job's environment) fetches only the spec's company and stores no "
    "redacted field",
)
async def test_a_rewritten_run_row_cannot_read_another_company_or_undo_redaction(
    make_simulator: MakeSim, store_pool: Any
) -> None:
    from employes_sync.store import queue as queue_store
    from employes_sync.store import raw as raw_store
    from employes_sync.store import runs as runs_store
    from employes_sync.worker import process_batch
    from tests.reliability.helpers import fast_settings

    # One token reading two companies (an accountant's): the resource syncs the first only, and
    # redacts salaries besides the defaults.
    sim = make_simulator(employees=4, requests_per_second=0, token=TOKEN, companies=2, shared_token=True)
    ours, theirs = sim.companies[0], sim.companies[1]
    settings = fast_settings(sim, redact=(*raw_store.DEFAULT_REDACT, "salary"))
    # What another tenant of the database could write: the other company, nothing redacted, and a
    # batch of that company's employees.
    tampered = {**settings.to_json(), "company_id": theirs.company_id, "redact": []}
    run_id = await runs_store.start_run(
        store_pool, settings.scope, settings.company_id, "test", "background", tampered
    )
    await raw_store.store_employees(store_pool, settings.scope, [p.employee for p in ours.employees])
    mine = [p.id for p in ours.employees]
    others = [p.id for p in theirs.employees]
    first, second = await queue_store.enqueue(store_pool, settings.scope, run_id, [mine, others])
    spec = {"api_url": sim.url, "company_id": settings.company_id, "redact": settings.redact}

    for batch in (first, second):
        await process_batch(store_pool, batch.id, TOKEN, allowed_api_urls=[str(sim.url)], **spec)

    async with store_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT employee_id, api_response::text FROM employes_raw_data"
            " WHERE scope = %s AND endpoint = '/employments' AND is_latest",
            [settings.scope],
        )
        stored = dict(await cur.fetchall())
    theirs_stored = [i for i in others if stored.get(i, "[]") != "[]"]
    assert theirs_stored == [], "another company's employments were fetched with the token and stored"
    assert '"salary"' not in "".join(stored.values()), "a field the spec redacts was stored"
    assert set(mine) <= set(stored), "the resource's own employees were processed"


@pytest.mark.fault(
    SEC,
    "the worker takes its rate, lease and locale from the database",
    "a run row rewritten to 100,000 requests/second, a year's lease and an unknown locale, or mangled: "
    "each batch attempt fails with one line naming the setting, recorded on the batch, before any request",
)
async def test_a_rewritten_run_row_cannot_raise_the_rate_or_lease(
    make_simulator: MakeSim, store_pool: Any
) -> None:
    from employes_sync.store import queue as queue_store
    from employes_sync.store import raw as raw_store
    from employes_sync.store import runs as runs_store
    from employes_sync.worker import process_batch
    from tests.reliability.helpers import fast_settings

    sim = make_simulator(employees=4, requests_per_second=0, token=TOKEN)
    settings = fast_settings(sim)
    await raw_store.store_employees(store_pool, settings.scope, [p.employee for p in sim.company])
    ids = [p.id for p in sim.company]
    tamperings = {
        "requests per second must be between": {"requests_per_second": 100_000},
        "lease seconds must be between": {"lease_seconds": 365 * 86400},
        "timeline locale 'xx' is not one of": {"locale": "xx"},
        "they cannot be read (TypeError)": {"redact": 7},
    }
    for expected, change in tamperings.items():
        run_id = await runs_store.start_run(
            store_pool,
            settings.scope,
            settings.company_id,
            "test",
            "background",
            {**settings.to_json(), **change},
        )
        [batch] = await queue_store.enqueue(store_pool, settings.scope, run_id, [ids])
        outcome = await process_batch(
            store_pool, batch.id, TOKEN, api_url=sim.url, allowed_api_urls=[str(sim.url)]
        )
        assert outcome.status in ("retrying", "failed") and outcome.error is not None, outcome
        assert (
            outcome.error.startswith("the run's stored settings are not usable: ")
            and expected in outcome.error
        )
        stored = await queue_store.get(store_pool, batch.id)
        assert stored is not None and stored.error_message == outcome.error and stored.attempts == 1
        await runs_store.finish_run(store_pool, run_id, "failed", {})
    assert sim.stats.total == 0
