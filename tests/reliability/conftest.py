"""The fault-injection suite's plumbing: a `fault` marker per test, and the table in docs/reliability.md.

Every test here carries `@pytest.mark.fault(area, fault, what_happens)`. Tests with the same area and
fault share one row of the table. Run the suite with `ESYNC_RELIABILITY_REPORT=docs/reliability.md`
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

#: The operator's end-to-end tests (tests/test_operator_e2e.py: kmock's emulator over HTTP, Jobs run as
#: local worker processes, the operator as a subprocess) inject faults of this table too; they carry no
#: `fault` marker, so their rows are declared here: test name -> [(area, fault, what happens)].
#: `report.sh` runs that file with this folder so their outcomes are counted.
_E2E = "test_operator_e2e.py"
_DB_AT_START = "unreachable at start (operator: clear condition, retried with backoff)"
_SECRETS_K8S = "token and DSN password in Kubernetes events and the resource's status"
EXTERNAL: dict[str, list[tuple[str, str, str]]] = {
    f"{_E2E}::test_database_refusing_the_dsn_is_reported": [
        ("Database", _DB_AT_START,
         "a DSN whose database refuses connections: Ready=False reason DatabaseUnavailable, the password"
         " not in the message; once the Secret holds a working DSN the run ends Ready"),
        ("Security", _SECRETS_K8S, "a refused DSN: its password is in no log line, event or status field"),
    ],
    f"{_E2E}::test_a_job_deleted_while_it_runs_is_replaced": [
        ("Workers", "a Job deleted while it runs",
         "the Job of batch 2 deleted while its pod runs: the batch is retried ('deleted' in BatchRetried)"
         " as attempt 2, which completes; the run succeeds with every timeline stored"),
    ],
    f"{_E2E}::test_a_job_that_never_starts_fails_at_its_deadline_and_is_retried": [
        ("Workers", "a Job that never starts (no pods until its deadline)",
         "a Job left without pods (like an image that cannot be pulled) fails at activeDeadlineSeconds"
         " (DeadlineExceeded in BatchRetried); attempt 2 completes and the run succeeds"),
    ],
    f"{_E2E}::test_operator_killed_during_the_inline_part_ends_with_every_employee_synced": [
        ("Operator", "killed before the inline part ends, restarted",
         "SIGKILL while the inline part runs (slow API): the restarted operator closes the interrupted run"
         " (RunInterrupted), starts a new one that ends Ready with every employee; no Job duplicated"),
    ],
    f"{_E2E}::test_operator_killed_mid_run_finishes_it_without_duplicate_jobs": [
        ("Operator", "killed while Jobs run, restarted (no Job duplicated, no batch lost)",
         "SIGKILL after 3 Jobs started: the restarted operator resumes the same run (RunResumed), which"
         " succeeds with exactly one Job per batch (16), every timeline stored, parallelism held"),
    ],
    **{
        f"{_E2E}::test_operator_killed_while_status_is_written_finishes_the_run[{write}]": [
            ("Operator", "killed while status is being written, restarted", behaviour)
        ]
        for write, behaviour in {
            "run-started": "SIGKILL with the run's first status PATCH held at the API and then lost: the"
            " restarted operator closes the unlisted run (RunInterrupted); run 2 ends Ready with every"
            " timeline, one Job per batch attempt",
            "inline-done": "SIGKILL during the PATCH after the inline part (lost): the run is resumed"
            " (RunResumed) and ends Ready; each batch has exactly the Jobs its attempts count",
            "jobs-running": "SIGKILL during a progress PATCH while Jobs run (the write lands unanswered):"
            " the run resumes and ends Ready, no Job duplicated, parallelism held",
            "run-finished": "SIGKILL during the run's closing PATCH (lost; the run is closed in PostgreSQL):"
            " the restarted operator writes lastRun, counts and Ready from the closed run (this stuck at"
            " RunInProgress before c7cb547)",
        }.items()
    },
    f"{_E2E}::test_a_resource_syncs_to_ready_within_parallelism": [
        ("Security", _SECRETS_K8S,
         "a successful run: neither the token nor the DSN is in the operator log, events or status"),
    ],
    f"{_E2E}::test_missing_secret_then_created_recovers": [
        ("Security", _SECRETS_K8S, "a missing Secret, then created: the token is in no log, event or status"),
    ],
    f"{_E2E}::test_rejected_token_is_reported_and_recovers_when_fixed": [
        ("Security", _SECRETS_K8S,
         "a rejected (401) token, then the right one: neither is in any log, event or status field"),
    ],
}  # fmt: skip

#: Security tests outside this folder (issue 11): the operator's allowlists end to end, the chart's
#: admission policy and RBAC, the client's limits, the CRD's and settings' URL checks, record validation.
_ALLOW = "test_operator_allowlists.py"
_REFUSED = "nothing happens on the resource's behalf: no request reaches any API, no Job is created"
EXTERNAL.update({
    f"{_ALLOW}::test_an_unlisted_api_host_gets_no_request_and_no_token": [
        ("Security", "a resource naming an API host the operator does not allow",
         "Ready=False ApiHostNotAllowed with a Warning event; the other host and the simulator get no"
         " request, no Job, the Secret is not even read; pointed back at an allowed URL it ends Ready"),
    ],
    f"{_ALLOW}::test_plain_http_to_an_https_only_host_is_refused": [
        ("Security", "a resource naming an API host the operator does not allow",
         "http:// to a host allowed over https only: ApiHostNotAllowed ('plain http'), no request"),
    ],
    f"{_ALLOW}::test_an_unlabelled_secret_is_refused_without_reading_it": [
        ("Security", "a resource naming a Secret not labelled employessync.io/secret",
         "Ready=False SecretNotAllowed; the operator read only the Secret's metadata (PartialObjectMetadata),"
         f" never its data; {_REFUSED}; once its owner labels it, the resource ends Ready"),
    ],
    f"{_ALLOW}::test_an_unlabelled_dsn_secret_is_refused_too": [
        ("Security", "a resource naming a Secret not labelled employessync.io/secret",
         "an unlabelled DSN Secret beside a labelled token Secret: SecretNotAllowed, its data never read"),
    ],
    f"{_ALLOW}::test_an_unlisted_worker_image_or_service_account_runs_nothing": [
        ("Security", "a resource naming a worker image or ServiceAccount the operator does not allow",
         "attacker/img or ci-deployer: Ready=False WorkerImageNotAllowed / ServiceAccountNotAllowed, no"
         " Job, no request (refused before the inline part), the Secret not read"),
    ],
    f"{_ALLOW}::test_listed_images_and_service_accounts_run_and_jobs_get_the_api_url_from_the_spec": [
        ("Security", "a resource naming a worker image or ServiceAccount the operator does not allow",
         "an image and ServiceAccount given with --allow-worker-*: the run ends Ready; every Job carries the"
         " spec's API URL and the operator's URL list in its environment"),
    ],
    "test_chart.py::test_trigger_policy_denies_every_other_change": [
        ("Security", "the trigger CronJob's ServiceAccount changing the spec",
         "the ValidatingAdmissionPolicy's CEL, evaluated with cel-python on rendered manifests: a new"
         " worker image or ServiceAccount, API URL, Secret, other annotation, label, finalizer or owner"
         " reference from the trigger's account is denied with its message"),
    ],
    "test_chart.py::test_trigger_policy_lets_the_trigger_set_its_annotations_only": [
        ("Security", "the trigger CronJob's ServiceAccount changing the spec",
         "what `employes-sync trigger` sends (sync-requested-at, sync-mode) is admitted"),
    ],
    "test_chart.py::test_trigger_policy_denies_status_writes_and_leaves_everyone_else_alone": [
        ("Security", "the trigger CronJob's ServiceAccount changing the spec",
         "a status write by the trigger is denied; the operator, people and other accounts are not matched"),
    ],
    "test_chart.py::test_trigger_policy_is_installed_with_the_schedules_and_binds_deny": [
        ("Security", "the trigger CronJob's ServiceAccount changing the spec",
         "the policy and its Deny binding render with the schedules, validate against Kubernetes 1.33 and"
         " name the CronJobs' own ServiceAccount"),
    ],
    "test_chart.py::test_default_rbac_is_one_role_in_the_release_namespace": [
        ("Security", "RBAC wider than the release by default",
         "the default install: one Role and RoleBinding in the release's namespace, no ClusterRole"),
    ],
    "test_chart.py::test_cluster_wide_is_explicit_and_warned_about": [
        ("Security", "RBAC wider than the release by default",
         "clusterWide: true gives --all-namespaces and a WARNING in NOTES; with watchNamespaces it fails"),
    ],
    "test_chart.py::test_worker_network_policy_selects_the_operators_jobs_and_limits_their_egress": [
        ("Security", "workers and the operator reachable from anywhere",
         "networkPolicy.enabled: worker pods (selected by the labels kube/jobs.py gives them) accept nothing"
         " and reach only DNS, the database and the API (and the simulator when enabled)"),
    ],
    "test_chart.py::test_operator_network_policy_admits_only_the_listed_sources": [
        ("Security", "workers and the operator reachable from anywhere",
         "the operator's metrics and health ports only from networkPolicy.operator.ingressFrom"
         " (none: closed)"),
    ],
    "test_client_limits.py::test_a_gzip_bomb_is_refused_without_inflating_it": [
        ("Security", "a hostile API exhausting or hanging the operator",
         "a 256 MiB gzip bomb (256 KiB on the wire) sent despite Accept-Encoding: identity:"
         " ResponseTooLargeError with at most 4x the 1 MiB limit traced (2.4 MiB; 142 MiB before)"),
    ],
    "test_client_limits.py::test_a_trickling_server_meets_the_total_deadline": [
        ("Security", "a hostile API exhausting or hanging the operator",
         "a body trickled a byte every 50 ms (each read in time): TransportError at the 0.5 s deadline, the"
         " server cut off mid-body"),
    ],
    "test_client_limits.py::test_json_nested_deeper_than_the_parser_is_a_malformed_response": [
        ("Security", "a hostile API exhausting or hanging the operator",
         "JSON nested 100,000 deep: a one-line MalformedResponseError, not a RecursionError traceback"),
    ],
    "test_client_limits.py::test_an_unknown_or_corrupt_encoding_is_a_malformed_response": [
        ("Security", "a hostile API exhausting or hanging the operator",
         "a br or corrupt gzip body: MalformedResponseError (br: not retried)"),
    ],
    "test_crd.py::test_the_base_url_carries_no_credential_query_or_fragment": [
        ("Security", "credentials in the API URL",
         "the CRD's pattern refuses userinfo, a query and a fragment in spec.api.baseUrl"),
    ],
    "test_settings.py::test_a_credential_in_the_url_is_refused_without_being_quoted": [
        ("Security", "credentials in the API URL",
         "settings validation refuses them without quoting the credential"),
    ],
    "test_allowlist.py::test_credentials_in_a_resource_url_are_refused_and_never_shown": [
        ("Security", "credentials in the API URL",
         "an object that predates the pattern: ApiHostNotAllowed, the credential never in the message"),
    ],
    "test_validation.py::test_employee_ids_that_cannot_be_a_url_segment_are_refused": [
        ("Security", "employee ids that are dot segments or empty",
         "'.', '..', '', '/', '../companies' and the like make that one record invalid"),
    ],
    "test_validation.py::test_no_reason_echoes_the_rejected_value": [
        ("Security", "reasons that echo wages and dates of birth",
         "no validation reason quotes the value it rejects"),
    ],
    f"{_E2E}::test_missing_secret_then_created_recovers": [
        ("Security", _SECRETS_K8S, "a missing Secret, then created: the token is in no log, event or status"),
        ("Security", "Secret key names in the status",
         "SecretKeyNotFound names the key asked for, never the Secret's other keys"),
    ],
})  # fmt: skip


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
    config.addinivalue_line(
        "markers", "fault(area, fault, behaviour): the fault a reliability test injects, for the table"
    )
    if not config.pluginmanager.has_plugin("esync-reliability-recorder"):
        config.pluginmanager.register(_Recorder(), "esync-reliability-recorder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = f"{Path(str(item.path)).name}::{item.name}"
        marker = item.get_closest_marker("fault")
        # A parametrized test is mapped by its name with or without the case id.
        every_case = f"{Path(str(item.path)).name}::{getattr(item, 'originalname', item.name)}"
        faults = (
            [tuple(marker.args)] if marker is not None else EXTERNAL.get(name) or EXTERNAL.get(every_case, [])
        )
        for area, fault, behaviour in faults:
            row = _rows.setdefault((area, fault), Row(area, fault))
            if behaviour not in row.behaviours:
                row.behaviours.append(behaviour)
            row.tests.append(name)
            _by_node.setdefault(item.nodeid, []).append(row)


class _Recorder:
    """Counts outcomes. Registered as a plugin, not a conftest hook: a conftest's runtest hooks only
    see items under its folder, and the mapped operator tests (EXTERNAL) live in tests/."""

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
