"""The command line as a newcomer uses it: subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.reliability import rows

COMMAND = [sys.executable, "-m", "employes_sync"]
COMPANY = "00000000-0000-4000-8000-000000000001"


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_demo_sync_twice_end_to_end(data_dir: Path) -> None:
    """The README's first command: 5 inline, 73 queued, all 78 with timelines; then nothing new."""
    env = {"EMPLOYES_SYNC_DATA_DIR": str(data_dir)}

    first = run("sync", "--demo", "--json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)["result"]
    assert result["immediately_processed"] == 5
    assert result["queued_for_processing"] == 73
    assert result["employees_with_timelines"] == 78
    assert result["failed_batches"] == []
    assert result["events_created"] > 78

    second = run("sync", "--demo", "--json", env=env)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)["result"]
    assert again["raw_records"]["new"] == 0
    assert again["raw_records"]["changed"] == 0
    assert again["raw_records"]["unchanged"] == result["raw_records"]["new"]
    assert again["events_created"] == 0
    assert (again["events_updated"], again["events_removed"]) == (0, 0)
    assert again["timeline_as_of"] == "2025-06-01"  # the demo data's day, not the clock's

    queue = run("queue", "--json", env=env)
    assert json.loads(queue.stdout)["counts"] == {"completed": 6, "failed": 0, "pending": 0, "processing": 0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--company-id", "not-a-uuid"], "company id 'not-a-uuid' is not a UUID"),
        (
            ["--company-id", COMPANY, "--api-url", "ftp://x"],
            "not an http(s) URL",
        ),
        (["--company-id", COMPANY, "--batch-size", "0"], "batch size must be"),
        (["--company-id", COMPANY], "no API token"),
        ([], "missing --company-id"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    env = {"EMPLOYES_API_TOKEN": ""}
    result = run("sync", *args, env=env, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:99999/v4", "invalid port '99999'"),
        ("http://127.0.0.1:8089/v4?x=1", "must not have a query"),
        ("http://[::1:8089/v4", "malformed IPv6 address"),
        ("http://u:s3cretpw@127.0.0.1:8089/v4", "must not contain a user or password"),
        ("http://127.0.0.1:8089/v4?api_key=s3cretpw", "must not have a query"),
    ],
)
@pytest.mark.fault(*rows.EVERY_UNUSABLE_API_URL_IS_ONE_USAGE_LINE_WITHOUT_ITS_CREDENT)
def test_every_unusable_api_url_is_one_usage_line_without_its_credential(url: str, message: str) -> None:
    env = {"EMPLOYES_API_TOKEN": "t"}
    result = run("sync", "--company-id", COMPANY, "--api-url", url, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("employes-sync: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "s3cretpw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--bogus"], "No such option '--bogus'"),
        (["sync", "--workers", "0"], "Invalid value for '--workers'"),
        (["timeline"], "Missing argument 'EMPLOYEE'"),
        (["queue", "--prune-older-than", "soon"], "is not an age like 30m"),
        (["nope"], "No such command 'nope'"),
        (["simulate", "--token", " "], "must not be empty"),
        (["worker"], "Missing option '--batch-id'"),
    ],
)
@pytest.mark.fault(*rows.CLICK_USAGE_ERRORS_OF_EVERY_SUBCOMMAND_ARE_ONE_LINE)
def test_click_usage_errors_of_every_subcommand_are_one_line(args: list[str], message: str) -> None:
    result = run(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("employes-sync: error: "), result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.fault(*rows.SIMULATE_ON_A_TAKEN_PORT_IS_ONE_LINE)
def test_simulate_on_a_taken_port_is_one_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("simulate", "--port", str(port), timeout=60)
    assert result.returncode == 1
    expected = f"employes-sync: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert result.stderr.strip() == expected


def test_verbose_works_after_the_subcommand_too() -> None:
    result = run("queue", "-vv", "--database-url", "postgresql://u@127.0.0.1:1/db", timeout=60)
    assert result.returncode == 1
    assert "DEBUG" in result.stderr or "INFO" in result.stderr


@pytest.mark.fault(*rows.UNREACHABLE_DATABASE_IS_ONE_LINE_WITHOUT_THE_PASSWORD)
def test_unreachable_database_is_one_line_without_the_password() -> None:
    env = {"EMPLOYES_API_TOKEN": "tok-123"}
    result = run(
        "sync",
        "--company-id",
        COMPANY,
        "--database-url",
        "postgresql://u:s3cretpw@127.0.0.1:1/db",
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    warning, error = result.stderr.strip().splitlines()
    assert error.startswith("employes-sync: error: database unreachable")
    # The password was on the command line, where `ps` shows it: said once, never repeated.
    assert warning.startswith("employes-sync: warning: --database-url carries a password")
    assert "$DATABASE_URL" in warning
    assert "s3cretpw" not in result.stderr + result.stdout
    assert "tok-123" not in result.stderr + result.stdout


@pytest.mark.parametrize("credential", ["oauth_client_secret", "scram_client_key", "sslpassword"])
def test_a_credential_other_than_the_password_on_the_command_line_is_warned_of_and_never_shown(
    credential: str,
) -> None:
    """libpq 18 takes an OAuth client secret and SCRAM keys: as good as the password, and as visible."""
    dsn = f"host=127.0.0.1 port=1 dbname=db user=u {credential}=S3CRETKEY"
    result = run("queue", "--database-url", dsn, timeout=60)
    assert result.returncode == 1
    warning, error = result.stderr.strip().splitlines()
    assert warning.startswith(
        "employes-sync: warning: --database-url carries a password (or another credential)"
    )
    assert error.startswith("employes-sync: error: database unreachable")
    assert "S3CRETKEY" not in result.stderr + result.stdout


def test_a_rejected_token_exits_1_and_is_recorded(simulator: object, database_url: str) -> None:
    env = {"EMPLOYES_API_TOKEN": "wrong-token"}
    result = run(
        "sync",
        "--api-url",
        simulator.url,  # type: ignore[attr-defined]
        "--company-id",
        simulator.config.company_id,  # type: ignore[attr-defined]
        "--database-url",
        database_url,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "401" in result.stderr
    assert "wrong-token" not in result.stderr
    import psycopg

    with psycopg.connect(database_url) as conn:
        assert conn.execute("select status from sync_runs").fetchall() == [("failed",)]


def test_help_lists_every_command() -> None:
    result = run("--help", timeout=60)
    assert result.returncode == 0
    for command in ("sync", "worker", "timeline", "queue", "rebuild", "simulate", "operator", "trigger"):
        assert command in result.stdout


def test_timeline_queue_and_rebuild_commands(simulator: object, database_url: str) -> None:
    env = {"EMPLOYES_API_TOKEN": simulator.config.token, "DATABASE_URL": database_url}  # type: ignore[attr-defined]
    synced = run(
        "sync",
        "--api-url",
        simulator.url,  # type: ignore[attr-defined]
        "--company-id",
        simulator.config.company_id,  # type: ignore[attr-defined]
        "--requests-per-second",
        "200",
        "--json",
        env=env,
    )
    assert synced.returncode == 0, synced.stderr
    employee_id = simulator.employee_ids[0]  # type: ignore[attr-defined]

    shown = run("timeline", employee_id, "--json", env=env)
    events = json.loads(shown.stdout)
    assert shown.returncode == 0
    assert "employee_added" in {e["event_type"] for e in events}
    assert [e["event_date"] for e in events] == sorted(e["event_date"] for e in events)

    queue = run("queue", "--json", env=env)
    assert json.loads(queue.stdout)["counts"]["completed"] == 3
    scoped = run("queue", "--scope", f"local/{simulator.config.company_id}", "--json", env=env)  # type: ignore[attr-defined]
    assert json.loads(scoped.stdout)["counts"]["completed"] == 3
    typo = run("queue", "--scope", "local/nope", env=env)  # it showed an empty queue, exit 0
    assert typo.returncode == 2
    assert typo.stderr.startswith("employes-sync: error: unknown scope 'local/nope'; known: local/")

    # What `employees` prints can be typed back: the id it shows, or the employee number HR uses.
    # (It showed only the number while `timeline` took only the id, and answered "no timeline events".)
    listed = run("employees", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:2] == ["id", "number"]
    row = next(line.split() for line in listed.stdout.splitlines()[1:] if line.startswith(employee_id))
    number = row[1]
    assert number.isdigit()
    by_number = run("timeline", number, "--json", env=env)
    assert by_number.returncode == 0, by_number.stderr
    assert json.loads(by_number.stdout) == events
    padded = run("timeline", number.zfill(6), env=env)
    assert padded.returncode == 0 and padded.stdout == run("timeline", employee_id, env=env).stdout
    nobody = run("timeline", "999999", env=env)
    assert nobody.returncode == 1
    assert nobody.stderr == (
        "employes-sync: error: no timeline events for employee 999999"
        " (`employes-sync employees` lists ids and numbers)\n"
    )

    rebuilt = run("rebuild", "--employee", number, "--json", env=env)  # a number is resolved to its id
    assert rebuilt.returncode == 0, rebuilt.stderr
    same = json.loads(rebuilt.stdout)
    # Nothing new and nothing changed: the timeline is current.
    assert (same["events_created"], same["events_updated"], same["events_removed"]) == (0, 0, 0)

    dutch = run("rebuild", "--employee", employee_id, "--locale", "nl", "--as-of", "2025-06-01", env=env)
    assert dutch.returncode == 0, dutch.stderr
    assert dutch.stdout.startswith(
        f"rebuilt 1 employee as of 2025-06-01: 0 events new, {len(events)} updated"
    )
    titles = [e["event_title"] for e in json.loads(run("timeline", employee_id, "--json", env=env).stdout)]
    assert "Toegevoegd aan Employes" in titles
    kept = json.loads(
        run("rebuild", "--employee", employee_id, "--as-of", "2025-06-01", "--json", env=env).stdout
    )
    assert (kept["locale"], kept["events_updated"]) == ("en", len(events))  # the last sync's locale: en
    bad_day = run("rebuild", "--as-of", "1 June", env=env)
    assert bad_day.returncode == 2

    pruned = run("queue", "--prune-older-than", "0s", "--json", env=env)
    assert json.loads(pruned.stdout)["pruned"] == 3
    bad = run("queue", "--prune-older-than", "soon", env=env)
    assert bad.returncode == 2


def test_a_local_sync_ignores_the_job_only_variables_exported_in_the_shell(
    simulator: object, database_url: str
) -> None:
    """A Job's worker is told the company, API URL, allowlists and redaction through its environment.

    Local workers inherit the user's shell, where the same names may be exported for something else:
    they read another company's employments (each one a 404), sent the token to another URL, or
    undid the redaction, instead of following the run the command started.
    """
    env = {
        "EMPLOYES_API_TOKEN": simulator.config.token,  # type: ignore[attr-defined]
        "DATABASE_URL": database_url,
        "EMPLOYES_COMPANY_ID": "00000000-0000-4000-8000-00000000dead",
        "EMPLOYES_API_URL": "http://127.0.0.1:9/v4",
        "EMPLOYES_SYNC_ALLOWED_API_URLS": "http://127.0.0.1:9/v4",
        "EMPLOYES_SYNC_ALLOWED_DATABASE_HOSTS": "pg.elsewhere",  # would refuse the user's own database
        "EMPLOYES_SYNC_REDACT": "[]",
    }
    synced = run(
        "sync", "--api-url", simulator.url, "--company-id", simulator.config.company_id,  # type: ignore[attr-defined]
        "--requests-per-second", "200", "--json", env=env,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stderr
    queue = json.loads(run("queue", "--json", env=env).stdout)
    assert queue["counts"] == {"completed": 3, "failed": 0, "pending": 0, "processing": 0}, queue
    assert json.loads(synced.stdout)["success"] is True
    with psycopg.connect(database_url) as conn:
        timelined = {row[0] for row in conn.execute("SELECT DISTINCT employee_id FROM employes_timeline_v2")}
        fetched = {
            row[0]
            for row in conn.execute(
                "SELECT employee_id FROM employes_raw_data WHERE endpoint = '/employments'"
            )
        }
    # every employee's employments came from the run's company, and every one has its timeline
    assert timelined == fetched == set(simulator.employee_ids)  # type: ignore[attr-defined]


def test_a_password_from_database_url_env_is_not_warned_about() -> None:
    env = {"DATABASE_URL": "postgresql://u:s3cretpw@127.0.0.1:1/db"}
    result = run("queue", env=env, timeout=60)
    assert result.returncode == 1
    assert [line.split(":")[1] for line in result.stderr.strip().splitlines()] == [" error"]


def test_demo_refuses_company_id_and_api_url() -> None:
    result = run("sync", "--demo", "--company-id", COMPANY, "--api-url", "http://127.0.0.1:1/v4", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "employes-sync: error: --demo syncs the built-in simulator's company: leave out --company-id and "
        "--api-url"
    )


@pytest.mark.fault(*rows.METRICS_PORT_TAKEN_IS_ONE_LINE_AND_THE_DEFAULT_HOST_IS_LOOPB)
def test_metrics_port_taken_is_one_line_and_the_default_host_is_loopback(data_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"EMPLOYES_SYNC_DATA_DIR": str(data_dir)}
        result = run("sync", "--demo", "--metrics-port", str(port), env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"employes-sync: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use "
        "(--metrics-host, --metrics-port)"
    )
    assert "Traceback" not in result.stderr


def test_sync_help_names_the_token_variable_and_simulate_help_the_demo_token() -> None:
    assert "$EMPLOYES_API_TOKEN" in run("sync", "--help", timeout=60).stdout
    assert "default: demo-token" in " ".join(run("simulate", "--help", timeout=60).stdout.split())


@pytest.mark.fault(*rows.AN_INLINE_EMPLOYEE_FAILING_AFTER_ITS_RETRIES_IS_HANDED_TO_A_)
def test_an_inline_employee_failing_after_its_retries_is_handed_to_a_batch(
    simulator: object, database_url: str
) -> None:
    sim = simulator
    first = sim.employee_ids[0]  # type: ignore[attr-defined]
    # The one inline employee's employments answer 503 for all 6 sends of the inline part, then heal.
    sim.faults.fail_next(6, 503, endpoint="employments")  # type: ignore[attr-defined]
    env = {"EMPLOYES_API_TOKEN": sim.config.token, "DATABASE_URL": database_url}  # type: ignore[attr-defined]
    args = ["--api-url", sim.url, "--company-id", sim.config.company_id]  # type: ignore[attr-defined]
    synced = run("sync", *args, "--inline", "1", "--requests-per-second", "200", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    result = json.loads(synced.stdout)["result"]
    assert list(result["inline_handed_to_batches"]) == [first]
    assert "server error (503)" in result["inline_handed_to_batches"][first]
    assert result["immediately_processed"] == 0
    assert result["queued_for_processing"] == 78
    assert result["employees_with_timelines"] == 78 and result["failed_batches"] == []

    sim.faults.fail_next(6, 503, endpoint="employments")  # type: ignore[attr-defined]
    again = run("sync", *args, "--inline", "1", "--requests-per-second", "200", env=env)
    assert again.returncode == 0, again.stderr
    assert f"employee {first} handed to a batch after the inline part failed" in again.stdout
    # The retries were shown while they happened, naming the request and what it waits for.
    assert f"waiting: GET /employees/{first}/employments: server error (503), retry 1 of 5" in again.stderr


@pytest.mark.fault(*rows.A_FAILED_FIRST_RUN_CREATES_NO_SCOPE)
def test_a_failed_first_run_creates_no_scope(simulator: object, database_url: str) -> None:
    sim = simulator
    env = {"EMPLOYES_API_TOKEN": sim.config.token, "DATABASE_URL": database_url}  # type: ignore[attr-defined]
    good = ["--api-url", sim.url, "--company-id", sim.config.company_id]  # type: ignore[attr-defined]
    assert run("sync", *good, "--requests-per-second", "200", env=env).returncode == 0
    typo = "00000000-0000-4000-8000-00000000dead"
    failed = run("sync", "--api-url", sim.url, "--company-id", typo, env=env)  # type: ignore[attr-defined]
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == (
        f"employes-sync: error: Employes API has no company {typo} at {sim.url}"  # type: ignore[attr-defined]
        " (404 for GET /employees?page=1); check the company id and the API base URL"
    )
    employee = sim.employee_ids[0]  # type: ignore[attr-defined]
    shown = run("timeline", employee, env=env)  # no "several scopes": the failed run stored nothing
    assert shown.returncode == 0, shown.stderr
    unknown = run("timeline", employee, "--scope", f"local/{typo}", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith(
        f"employes-sync: error: unknown scope 'local/{typo}'; known: local/"
    )


@pytest.mark.fault(*rows.A_LISTING_THAT_OUTLIVES_ITS_DEADLINE_FAILS_IN_ONE_LINE)
def test_a_listing_that_outlives_its_deadline_fails_in_one_line(simulator: object, database_url: str) -> None:
    sim = simulator
    sim.faults.slow_next(3, seconds=30, endpoint="employees")  # type: ignore[attr-defined]
    env = {"EMPLOYES_API_TOKEN": sim.config.token, "DATABASE_URL": database_url}  # type: ignore[attr-defined]
    args = ["--api-url", sim.url, "--company-id", sim.config.company_id]  # type: ignore[attr-defined]
    result = run("sync", *args, "--listing-deadline", "2", env=env, timeout=120)
    assert result.returncode == 1
    [line] = [x for x in result.stderr.splitlines() if x.startswith("employes-sync:")]
    assert line == (
        f"employes-sync: error: listing the employees of {sim.url} took longer than its 2 s deadline "  # type: ignore[attr-defined]
        "(page 1 was next)"
    )


@pytest.mark.fault(*rows.STDOUT_CLOSED_EARLY_IS_QUIET)
def test_stdout_closed_early_is_quiet(simulator: object, database_url: str) -> None:
    """`employes-sync queue | head -0`: the reader is gone before the first line is written."""
    process = subprocess.Popen(
        [*COMMAND, "queue"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command has connected to the database, let alone printed
    err = process.stderr.read().decode()
    assert process.wait(60) == 0, err
    assert err == ""
