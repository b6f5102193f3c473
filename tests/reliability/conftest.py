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


_started = [0.0]


def pytest_sessionstart(session: pytest.Session) -> None:
    _started[0] = time.monotonic()


def pytest_configure(config: pytest.Config) -> None:
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


#: Issue 16's tests outside this folder: departures after an interrupted listing, the operator's
#: request_sync and webhooks, secrets kept out of the outbox and the logs.
_DEPART = "test_departures.py"
_CONSUMER_OP = "test_request_sync.py"
EXTERNAL.update(
    {
        f"{_DEPART}::test_a_listing_stopped_by_401_on_page_2_removes_no_one": [
            (
                "Consumers",
                "a listing interrupted part-way (401 on page 2, killed process, invalid record)",
                "401 on page 2: the run fails and no employee is marked removed",
            ),
        ],
        f"{_DEPART}::test_a_sync_killed_during_listing_removes_no_one": [
            (
                "Consumers",
                "a listing interrupted part-way (401 on page 2, killed process, invalid record)",
                "the sync SIGKILLed while listing: no one is removed; the next complete sync marks the absent"
                " employee, and `employees --removed` shows it",
            ),
        ],
        f"{_DEPART}::test_a_listing_with_an_invalid_record_removes_no_one": [
            (
                "Consumers",
                "a listing interrupted part-way (401 on page 2, killed process, invalid record)",
                "an invalid record on a page: departures are skipped (the summary says why), no one removed",
            ),
        ],
        f"{_CONSUMER_OP}::test_request_sync_starts_the_operators_run_through_listen": [
            (
                "Consumers",
                "request_sync() from SQL, also during a run",
                "the operator starts the run on the NOTIFY (well before its 30 s idle poll); two requests"
                " during a run are one follow-up run that serves both",
            ),
        ],
        f"{_CONSUMER_OP}::test_the_operator_delivers_signed_webhooks_of_a_run": [
            (
                "Security",
                "webhook URL (it may hold a token) and signing secret",
                "neither in the operator's log, events or status; an http URL without allowInsecure is"
                " refused with a WebhookInvalid event naming only the webhook, its events waiting in the"
                " outbox",
            ),
        ],
    }
)


#: Issue 13 (the local CLI) and the one-run-per-scope part of issue 15, in tests/test_cli*.py and the
#: operator's e2e file: real `employes-sync` subprocesses, their embedded PostgreSQL and workers.
_CLI = "test_cli.py"
_CLI_STOP = "test_cli_interruptions.py"
_STOPPED = "SIGTERM or SIGINT mid-run"
_ONE_RUN = "two runs of one scope at once (CLI, operators)"
_URL = "an API URL the client cannot use"
EXTERNAL.update({
    f"{_CLI_STOP}::test_a_signal_mid_run_stops_workers_server_and_closes_the_run": [
        ("CLI", _STOPPED,
         "exit 143 (SIGTERM) / 130 (SIGINT); per psutil no worker and no embedded server is left, the"
         " handle file is empty; the run is `interrupted`, its unfinished batches failed as closed (never"
         " retried, not even by retry_failed_jobs()), and `queue` says so"),
    ],
    f"{_CLI_STOP}::test_sigkill_then_a_new_run_takes_the_expired_run_over_and_stops_the_server": [
        ("CLI", "SIGKILL mid-run, then a new run",
         "the workers die with their parent (PR_SET_PDEATHSIG); the next run waits for the heartbeat to"
         " expire, takes the old run over (closed as interrupted, named in its summary), syncs all 78,"
         " drops the dead handle pid and stops the server it found running"),
    ],
    f"{_CLI_STOP}::test_two_syncs_of_one_scope_started_together_one_runs": [
        ("CLI", _ONE_RUN,
         "two `sync` of one company started together: one succeeds, the other exits 1 with `a sync of"
         " SCOPE is already running (run N, started T, on OWNER)`, one line; one run row"),
    ],
    f"{_CLI_STOP}::test_a_run_already_running_elsewhere_is_not_taken_over_while_its_heartbeat_lives": [
        ("CLI", _ONE_RUN, "a live heartbeat is never taken over; only the owner can renew it"),
    ],
    f"{_E2E}::test_a_run_driven_by_another_live_operator_is_coalesced_then_taken_over": [
        ("Operator", _ONE_RUN,
         "a run owned by another operator with a live heartbeat: nothing starts (Progressing RunElsewhere,"
         " no Job); once it stops renewing, the run is adopted, closed as interrupted, and a new run ends"
         " Ready with every timeline"),
    ],
    f"{_CLI}::test_every_unusable_api_url_is_one_usage_line_without_its_credential": [
        ("CLI", _URL,
         "port 99999, a malformed IPv6 address, a query, user:password@: one `employes-sync: error:` line,"
         " exit 2, no traceback, the credential never printed"),
    ],
    "test_settings.py::test_unusable_api_urls_are_refused_with_a_reason": [
        ("CLI", _URL, "each shape (ports 0/99999/abc, IPv6, query, fragment, scheme, host) has its reason"),
    ],
    f"{_CLI}::test_click_usage_errors_of_every_subcommand_are_one_line": [
        ("CLI", "a usage error in any subcommand",
         "unknown option, bad value, missing argument or option, unknown command: one line, exit 2"),
    ],
    f"{_CLI}::test_simulate_on_a_taken_port_is_one_line": [
        ("CLI", "a port already in use", "`simulate --port`: one line naming the address, exit 1"),
    ],
    f"{_CLI}::test_metrics_port_taken_is_one_line_and_the_default_host_is_loopback": [
        ("CLI", "a port already in use",
         "`sync --metrics-port`: one line naming 127.0.0.1:PORT (the default host), exit 2"),
    ],
    "test_employes_client.py::test_nothing_listens_is_a_transport_error_naming_the_host_and_the_cause": [
        ("CLI", "an API that refuses connections or never answers",
         "each retry announced (`GET ...: connection refused, retry 1 of 2 in ...`); the error names"
         " the host, the cause and the attempts"),
    ],
    "test_employes_client.py::test_a_server_that_never_answers_names_the_timeout": [
        ("CLI", "an API that refuses connections or never answers",
         "a server that never answers: the error says it did not answer within the timeout, and where"),
    ],
    f"{_CLI}::test_a_listing_that_outlives_its_deadline_fails_in_one_line": [
        ("CLI", "an API that refuses connections or never answers",
         "a listing slower than --listing-deadline: exit 1, one line naming the API and the deadline"),
    ],
    f"{_CLI}::test_an_inline_employee_failing_after_its_retries_is_handed_to_a_batch": [
        ("CLI", "one inline employee failing after its retries",
         "503 for all 6 sends: handed to the first batch, the run succeeds with all 78, the summary names"
         " the employee; the retries were on the progress line"),
    ],
    f"{_CLI}::test_a_failed_first_run_creates_no_scope": [
        ("CLI", "a mistyped company id (404)",
         "the failed run stores nothing and makes no scope: `timeline` still finds the only one;"
         " `--scope` naming an unknown scope is one line, exit 2"),
    ],
    f"{_CLI}::test_unreachable_database_is_one_line_without_the_password": [
        ("Security", "the DSN password on the command line",
         "a warning to use $DATABASE_URL or a password file; the password in no output"),
    ],
    "test_cli_summary.py::test_a_failed_run_counts_what_succeeded_and_what_failed": [
        ("CLI", "a run with failed batches",
         "the first line counts each outcome (53 of 78 synced, 25 failed), never 'FAILED for 78'"),
    ],
    f"{_CLI}::test_stdout_closed_early_is_quiet": [
        ("CLI", "stdout closed early (`| head`)", "no traceback, no error line, exit 0"),
    ],
})  # fmt: skip
#: Issue 14: the same system with real containers (tests/containers/): the operator container from the
#: chart's Deployment and each Job's pod as a container of a real Docker engine, hardened as its spec says.
_CONT = "test_operator_containers.py"
_PODS = "test_pod_runner.py"
EXTERNAL.update(
    {
        f"{_CONT}::test_the_demo_resource_ends_ready_with_every_timeline": [
            ("Containers", "none: the demo EmployesSync, operator and Job pods as containers",
             "examples/ applied; the operator container (chart pod spec: read-only, UID 10001, no"
             " capabilities) and three worker containers bring it to Ready with all 78 timelines, each"
             " event once; the token in no container log"),
        ],
        f"{_CONT}::test_an_oom_killed_worker_is_retried_and_succeeds_with_room": [
            ("Containers", "a worker over its memory limit (OOMKilled)",
             "limits.memory 24Mi: the container is OOM-killed, the attempt's error names the pod's"
             " 'OOMKilled (exit code 137)', it is retried, then the batch fails and the resource is"
             " Degraded; with 256Mi the next run succeeds with every timeline"),
        ],
        f"{_CONT}::test_a_token_secret_without_the_named_key_is_reported_and_recovers": [
            ("Containers", "a token Secret without the key the resource names",
             "Ready=False SecretKeyNotFound naming the key and the Secret (no value), no Job; the Secret"
             " fixed and a sync requested, the run ends Ready with all 78 timelines"),
        ],
        f"{_CONT}::test_a_worker_killed_mid_batch_is_retried_without_duplicates": [
            ("Containers", "a worker container SIGKILLed mid-batch",
             "killed while its batch is claimed: the Job fails ('Error (exit code 137)'), attempt 2"
             " completes the batch; every employee stored once, every timeline event once"),
        ],
        f"{_CONT}::test_the_operator_stopped_mid_run_stops_in_its_grace_period_and_a_new_one_finishes": [
            ("Containers", "the operator container stopped (SIGTERM) mid-run",
             "it exits within terminationGracePeriodSeconds (not SIGKILLed); a new operator container"
             " resumes the same run (RunResumed) to success: one Job per batch, each event once"),
        ],
        f"{_PODS}::test_a_job_waits_for_its_secret_then_runs_hardened_and_completes": [
            ("Containers", "a pod's Secret or key missing (CreateContainerConfigError)",
             "the pod waits with CreateContainerConfigError (secret not found, then key not found) and the"
             " Job stays active; once the Secret has the key the pod runs hardened and the Job completes"),
        ],
        f"{_PODS}::test_a_container_over_its_memory_limit_is_oom_killed_and_the_job_fails": [
            ("Containers", "a worker over its memory limit (OOMKilled)",
             "the pod's terminated state says OOMKilled, exit code 137; the Job FailureTarget then Failed"),
        ],
        f"{_PODS}::test_a_job_past_its_deadline_is_killed_with_deadline_exceeded": [
            ("Containers", "a pod running past activeDeadlineSeconds",
             "the container is killed and removed; the Job fails with DeadlineExceeded"),
        ],
        f"{_PODS}::test_run_as_non_root_refuses_an_image_that_runs_as_root": [
            ("Containers", "an image that runs as root under runAsNonRoot",
             "the pod never starts: CreateContainerConfigError 'container has runAsNonRoot and image will"
             " run as root'"),
        ],
    }
)  # fmt: skip
