"""The rows of docs/reliability.md that tests outside tests/reliability/ fill, one constant per
fault row and behaviour, so a test names its row with `@pytest.mark.fault(*rows.X)` (no mapping
of test names to rows anywhere)."""

from __future__ import annotations

#: (area, fault, what happens): the arguments of a `fault` marker.
Fault = tuple[str, str, str]

DATABASE_REFUSING_THE_DSN_IS_REPORTED_1: Fault = (
    "Database",
    "unreachable at start (operator: clear condition, retried with backoff)",
    (
        "a DSN whose database refuses connections: Ready=False reason DatabaseUnavailable, the "
        "password not in the message; once the Secret holds a working DSN the run ends Ready"
    ),
)
DATABASE_REFUSING_THE_DSN_IS_REPORTED_2: Fault = (
    "Security",
    "token and DSN password in Kubernetes events and the resource's status",
    "a refused DSN: its password is in no log line, event or status field",
)
A_JOB_DELETED_WHILE_IT_RUNS_IS_REPLACED: Fault = (
    "Workers",
    "a Job deleted while it runs",
    (
        "the Job of batch 2 deleted while its pod runs: the batch is retried ('deleted' in "
        "BatchRetried) as attempt 2, which completes; the run succeeds with every timeline stored"
    ),
)
A_JOB_THAT_NEVER_STARTS_FAILS_AT_ITS_DEADLINE_AND_IS_RETRIED: Fault = (
    "Workers",
    "a Job that never starts (no pods until its deadline)",
    (
        "a Job left without pods (like an image that cannot be pulled) fails at activeDeadlineSeconds"
        " (DeadlineExceeded in BatchRetried); attempt 2 completes and the run succeeds"
    ),
)
OPERATOR_KILLED_DURING_THE_INLINE_PART_ENDS_WITH_EVERY_EMPLO: Fault = (
    "Operator",
    "killed before the inline part ends, restarted",
    (
        "SIGKILL while the inline part runs (slow API): the restarted operator closes the interrupted"
        " run (RunInterrupted), starts a new one that ends Ready with every employee; no Job "
        "duplicated"
    ),
)
OPERATOR_KILLED_MID_RUN_FINISHES_IT_WITHOUT_DUPLICATE_JOBS: Fault = (
    "Operator",
    "killed while Jobs run, restarted (no Job duplicated, no batch lost)",
    (
        "SIGKILL after 3 Jobs started: the restarted operator resumes the same run (RunResumed), "
        "which succeeds with exactly one Job per batch (16), every timeline stored, parallelism held"
    ),
)
KILLED_DURING_STATUS_WRITE_RUN_STARTED: Fault = (
    "Operator",
    "killed while status is being written, restarted",
    (
        "SIGKILL with the run's first status PATCH held at the API and then lost: the restarted "
        "operator closes the unlisted run (RunInterrupted); run 2 ends Ready with every timeline, one"
        " Job per batch attempt"
    ),
)
KILLED_DURING_STATUS_WRITE_INLINE_DONE: Fault = (
    "Operator",
    "killed while status is being written, restarted",
    (
        "SIGKILL during the PATCH after the inline part (lost): the run is resumed (RunResumed) and "
        "ends Ready; each batch has exactly the Jobs its attempts count"
    ),
)
KILLED_DURING_STATUS_WRITE_JOBS_RUNNING: Fault = (
    "Operator",
    "killed while status is being written, restarted",
    (
        "SIGKILL during a progress PATCH while Jobs run (the write lands unanswered): the run resumes"
        " and ends Ready, no Job duplicated, parallelism held"
    ),
)
KILLED_DURING_STATUS_WRITE_RUN_FINISHED: Fault = (
    "Operator",
    "killed while status is being written, restarted",
    (
        "SIGKILL during the run's closing PATCH (lost; the run is closed in PostgreSQL): the "
        "restarted operator writes lastRun, counts and Ready from the closed run (this stuck at "
        "RunInProgress before c7cb547)"
    ),
)
A_RESOURCE_SYNCS_TO_READY_WITHIN_PARALLELISM: Fault = (
    "Security",
    "token and DSN password in Kubernetes events and the resource's status",
    "a successful run: neither the token nor the DSN is in the operator log, events or status",
)
MISSING_SECRET_THEN_CREATED_RECOVERS_1: Fault = (
    "Security",
    "token and DSN password in Kubernetes events and the resource's status",
    "a missing Secret, then created: the token is in no log, event or status",
)
MISSING_SECRET_THEN_CREATED_RECOVERS_2: Fault = (
    "Security",
    "Secret key names in the status",
    "SecretKeyNotFound names the key asked for, never the Secret's other keys",
)
REJECTED_TOKEN_IS_REPORTED_AND_RECOVERS_WHEN_FIXED: Fault = (
    "Security",
    "token and DSN password in Kubernetes events and the resource's status",
    "a rejected (401) token, then the right one: neither is in any log, event or status field",
)
AN_UNLISTED_API_HOST_GETS_NO_REQUEST_AND_NO_TOKEN: Fault = (
    "Security",
    "a resource naming an API host the operator does not allow",
    (
        "Ready=False ApiHostNotAllowed with a Warning event; the other host and the simulator get no "
        "request, no Job, the Secret is not even read; pointed back at an allowed URL it ends Ready"
    ),
)
PLAIN_HTTP_TO_AN_HTTPS_ONLY_HOST_IS_REFUSED: Fault = (
    "Security",
    "a resource naming an API host the operator does not allow",
    "http:// to a host allowed over https only: ApiHostNotAllowed ('plain http'), no request",
)
AN_UNLABELLED_SECRET_IS_REFUSED_WITHOUT_READING_IT: Fault = (
    "Security",
    "a resource naming a Secret not labelled employessync.io/secret",
    (
        "Ready=False SecretNotAllowed; the operator read only the Secret's metadata "
        "(PartialObjectMetadata), never its data; nothing happens on the resource's behalf: no "
        "request reaches any API, no Job is created; once its owner labels it, the resource ends "
        "Ready"
    ),
)
AN_UNLABELLED_DSN_SECRET_IS_REFUSED_TOO: Fault = (
    "Security",
    "a resource naming a Secret not labelled employessync.io/secret",
    "an unlabelled DSN Secret beside a labelled token Secret: SecretNotAllowed, its data never read",
)
A_DSN_NAMING_AN_UNLISTED_DATABASE_HOST_CONNECTS_NOWHERE: Fault = (
    "Security",
    "a resource's DSN naming a database host the operator does not allow",
    (
        "a DSN naming a listening port beside the allowed database: DatabaseNotAllowed, no connection "
        "reaches that port, no API request, its password in no message; the allowed DSN then runs Ready"
    ),
)
A_DSN_USING_THE_OPERATORS_OWN_FILES_IS_REFUSED: Fault = (
    "Security",
    "a resource's DSN making the operator use its own password, service or certificate files",
    "a DSN with passfile= and no host list: DatabaseNotAllowed, no API request and no Job",
)
A_DSN_WITH_AN_UNENCODED_PASSWORD_IS_NEVER_DIALLED_OR_SHOWN: Fault = (
    "Security",
    "a resource's DSN URL whose password holds a raw '/' or '@', which libpq reads as host and port",
    (
        "user 127.0.0.1, password PORT/secret beside a listening port: SecretKeyInvalid saying to "
        "percent-encode, no connection reaches that port, no piece of the password in any message; the "
        "encoded DSN then runs Ready"
    ),
)
A_TOKEN_REFERENCE_NAMING_THE_DSN_KEY_SENDS_NOTHING: Fault = (
    "Security",
    "a resource whose tokenSecretRef names the DSN's key (its password would go out as a bearer token)",
    "InvalidSpec naming both fields, no API request, no Secret data read; the right key then runs Ready",
)
A_WEBHOOK_ON_AN_UNLISTED_HOST_GETS_NOTHING: Fault = (
    "Security",
    "a resource's webhook receiver on a host the operator does not allow",
    (
        "a receiver whose host --allow-webhook-host leaves out: a WebhookInvalid event naming its host "
        "and port only, no request reaches it, its events wait in the outbox, the run ends Ready"
    ),
)
AN_UNLISTED_WORKER_IMAGE_OR_SERVICE_ACCOUNT_RUNS_NOTHING: Fault = (
    "Security",
    "a resource naming a worker image or ServiceAccount the operator does not allow",
    (
        "attacker/img or ci-deployer: Ready=False WorkerImageNotAllowed / ServiceAccountNotAllowed, "
        "no Job, no request (refused before the inline part), the Secret not read"
    ),
)
LISTED_IMAGES_AND_SERVICE_ACCOUNTS_RUN_AND_JOBS_GET_THE_API_: Fault = (
    "Security",
    "a resource naming a worker image or ServiceAccount the operator does not allow",
    (
        "an image and ServiceAccount given with --allow-worker-*: the run ends Ready; every Job "
        "carries the spec's API URL and the operator's URL list in its environment"
    ),
)
TRIGGER_POLICY_DENIES_EVERY_OTHER_CHANGE: Fault = (
    "Security",
    "the trigger CronJob's ServiceAccount changing the spec",
    (
        "the ValidatingAdmissionPolicy's CEL, evaluated with cel-python on rendered manifests: a new "
        "worker image or ServiceAccount, API URL, Secret, other annotation, label, finalizer or owner"
        " reference from the trigger's account is denied with its message"
    ),
)
TRIGGER_POLICY_LETS_THE_TRIGGER_SET_ITS_ANNOTATIONS_ONLY: Fault = (
    "Security",
    "the trigger CronJob's ServiceAccount changing the spec",
    "what `employes-sync trigger` sends (sync-requested-at, sync-mode) is admitted",
)
TRIGGER_POLICY_DENIES_STATUS_WRITES_AND_LEAVES_EVERYONE_ELSE: Fault = (
    "Security",
    "the trigger CronJob's ServiceAccount changing the spec",
    "a status write by the trigger is denied; the operator, people and other accounts are not matched",
)
TRIGGER_POLICY_IS_INSTALLED_WITH_THE_SCHEDULES_AND_BINDS_DEN: Fault = (
    "Security",
    "the trigger CronJob's ServiceAccount changing the spec",
    (
        "the policy and its Deny binding render with the schedules, validate against Kubernetes 1.33 "
        "and name the CronJobs' own ServiceAccount"
    ),
)
DEFAULT_RBAC_IS_ONE_ROLE_IN_THE_RELEASE_NAMESPACE: Fault = (
    "Security",
    "RBAC wider than the release by default",
    "the default install: one Role and RoleBinding in the release's namespace, no ClusterRole",
)
CLUSTER_WIDE_IS_EXPLICIT_AND_WARNED_ABOUT: Fault = (
    "Security",
    "RBAC wider than the release by default",
    "clusterWide: true gives --all-namespaces and a WARNING in NOTES; with watchNamespaces it fails",
)
WORKER_NETWORK_POLICY_SELECTS_THE_OPERATORS_JOBS_AND_LIMITS_: Fault = (
    "Security",
    "workers and the operator reachable from anywhere",
    (
        "networkPolicy.enabled: worker pods (selected by the labels kube/jobs.py gives them) accept "
        "nothing and reach only DNS, the database and the API (and the simulator when enabled)"
    ),
)
OPERATOR_NETWORK_POLICY_ADMITS_ONLY_THE_LISTED_SOURCES: Fault = (
    "Security",
    "workers and the operator reachable from anywhere",
    ("the operator's metrics and health ports only from networkPolicy.operator.ingressFrom (none: closed)"),
)
A_GZIP_BOMB_IS_REFUSED_WITHOUT_INFLATING_IT: Fault = (
    "Security",
    "a hostile API exhausting or hanging the operator",
    (
        "a 256 MiB gzip bomb (256 KiB on the wire) sent despite Accept-Encoding: identity: "
        "ResponseTooLargeError with at most 4x the 1 MiB limit traced (2.4 MiB; 142 MiB before)"
    ),
)
A_TRICKLING_SERVER_MEETS_THE_TOTAL_DEADLINE: Fault = (
    "Security",
    "a hostile API exhausting or hanging the operator",
    (
        "a body trickled a byte every 50 ms (each read in time): TransportError at the 0.5 s "
        "deadline, the server cut off mid-body"
    ),
)
JSON_NESTED_DEEPER_THAN_THE_PARSER_IS_A_MALFORMED_RESPONSE: Fault = (
    "Security",
    "a hostile API exhausting or hanging the operator",
    "JSON nested 100,000 deep: a one-line MalformedResponseError, not a RecursionError traceback",
)
AN_UNKNOWN_OR_CORRUPT_ENCODING_IS_A_MALFORMED_RESPONSE: Fault = (
    "Security",
    "a hostile API exhausting or hanging the operator",
    "a br or corrupt gzip body: MalformedResponseError (br: not retried)",
)
THE_BASE_URL_CARRIES_NO_CREDENTIAL_QUERY_OR_FRAGMENT: Fault = (
    "Security",
    "credentials in the API URL",
    "the CRD's pattern refuses userinfo, a query and a fragment in spec.api.baseUrl",
)
A_CREDENTIAL_IN_THE_URL_IS_REFUSED_WITHOUT_BEING_QUOTED: Fault = (
    "Security",
    "credentials in the API URL",
    "settings validation refuses them without quoting the credential",
)
CREDENTIALS_IN_A_RESOURCE_URL_ARE_REFUSED_AND_NEVER_SHOWN: Fault = (
    "Security",
    "credentials in the API URL",
    "an object that predates the pattern: ApiHostNotAllowed, the credential never in the message",
)
EMPLOYEE_IDS_THAT_CANNOT_BE_A_URL_SEGMENT_ARE_REFUSED: Fault = (
    "Security",
    "employee ids that are dot segments or empty",
    "'.', '..', '', '/', '../companies' and the like make that one record invalid",
)
NO_REASON_ECHOES_THE_REJECTED_VALUE: Fault = (
    "Security",
    "reasons that echo wages and dates of birth",
    "no validation reason quotes the value it rejects",
)

A_LISTING_STOPPED_BY_401_ON_PAGE_2_REMOVES_NO_ONE: Fault = (
    "Consumers",
    "a listing interrupted part-way (401 on page 2, killed process, invalid record)",
    "401 on page 2: the run fails and no employee is marked removed",
)
A_SYNC_KILLED_DURING_LISTING_REMOVES_NO_ONE: Fault = (
    "Consumers",
    "a listing interrupted part-way (401 on page 2, killed process, invalid record)",
    (
        "the sync SIGKILLed while listing: no one is removed; the next complete sync marks the absent"
        " employee, and `employees --removed` shows it"
    ),
)
A_LISTING_WITH_AN_INVALID_RECORD_REMOVES_NO_ONE: Fault = (
    "Consumers",
    "a listing interrupted part-way (401 on page 2, killed process, invalid record)",
    "an invalid record on a page: departures are skipped (the summary says why), no one removed",
)
REQUEST_SYNC_STARTS_THE_OPERATORS_RUN_THROUGH_LISTEN: Fault = (
    "Consumers",
    "request_sync() from SQL, also during a run",
    (
        "the operator starts the run on the NOTIFY (well before its 30 s idle poll); two requests "
        "during a run are one follow-up run that serves both"
    ),
)
A_STALLED_RECEIVER_HOLDS_UP_NO_OTHER_RESOURCES_EVENTS: Fault = (
    "Consumers",
    "one resource's webhook receiver stalls (takes the request, answers only after the timeout, or trickles)",
    (
        "two resources on one database, 120 events pending for the stalled receiver and 20 for a healthy "
        "one (half of them written while the stalled requests hang): every one of the healthy receiver's "
        "events arrives before the first stalled request reaches its timeout; the stalled receiver's "
        "events are delivered once it answers again"
    ),
)
FIVE_STALLED_RECEIVERS_HOLD_ONE_SLOT_EACH_ONCE_THEIR_REQUESTS_TIME_OUT: Fault = (
    "Consumers",
    "five resources' webhook receivers on one database stall at once, each with a backlog",
    (
        "at four requests each they take all 16 slots; once a stalled receiver's first four time out it "
        "is sent one probe at a time until one is answered, so a healthy receiver's 20 events written "
        "meanwhile all arrive before any stalled receiver's second probe times out, and none has more "
        "than one request out again"
    ),
)
A_FAILING_RECEIVERS_RETRIES_CROWD_OUT_NO_OTHER_RESOURCES_EVENTS: Fault = (
    "Consumers",
    "one resource's webhook receiver always answers 500, with a large backlog",
    (
        "250 events of the failing receiver always due again (short backoff), 10 newer ones of a "
        "healthy receiver on the same database: the 10 are delivered before the failing backlog has "
        "been tried once through"
    ),
)
THE_OPERATOR_DELIVERS_SIGNED_WEBHOOKS_OF_A_RUN: Fault = (
    "Security",
    "webhook URL (it may hold a token) and signing secret",
    (
        "neither in the operator's log, events or status; an http URL without allowInsecure is "
        "refused with a WebhookInvalid event naming only the webhook, its events waiting in the "
        "outbox"
    ),
)
A_SIGNAL_MID_RUN_STOPS_WORKERS_SERVER_AND_CLOSES_THE_RUN: Fault = (
    "CLI",
    "SIGTERM or SIGINT mid-run",
    (
        "exit 143 (SIGTERM) / 130 (SIGINT); per psutil no worker and no embedded server is left, the "
        "handle file is empty; the run is `interrupted`, its unfinished batches failed as closed "
        "(never retried, not even by retry_failed_jobs()), and `queue` says so"
    ),
)
SIGKILL_THEN_A_NEW_RUN_TAKES_THE_EXPIRED_RUN_OVER_AND_STOPS_: Fault = (
    "CLI",
    "SIGKILL mid-run, then a new run",
    (
        "the workers die with their parent (PR_SET_PDEATHSIG); the next run waits for the heartbeat "
        "to expire, takes the old run over (closed as interrupted, named in its summary), syncs all "
        "78, drops the dead handle pid and stops the server it found running"
    ),
)
TWO_SYNCS_OF_ONE_SCOPE_STARTED_TOGETHER_ONE_RUNS: Fault = (
    "CLI",
    "two runs of one scope at once (CLI, operators)",
    (
        "two `sync` of one company started together: one succeeds, the other exits 1 with `a sync of "
        "SCOPE is already running (run N, started T, on OWNER)`, one line; one run row"
    ),
)
A_RUN_ALREADY_RUNNING_ELSEWHERE_IS_NOT_TAKEN_OVER_WHILE_ITS_: Fault = (
    "CLI",
    "two runs of one scope at once (CLI, operators)",
    "a live heartbeat is never taken over; only the owner can renew it",
)
A_RUN_DRIVEN_BY_ANOTHER_LIVE_OPERATOR_IS_COALESCED_THEN_TAKE: Fault = (
    "Operator",
    "two runs of one scope at once (CLI, operators)",
    (
        "a run owned by another operator with a live heartbeat: nothing starts (Progressing "
        "RunElsewhere, no Job); once it stops renewing, the run is adopted, closed as interrupted, "
        "and a new run ends Ready with every timeline"
    ),
)
EVERY_UNUSABLE_API_URL_IS_ONE_USAGE_LINE_WITHOUT_ITS_CREDENT: Fault = (
    "CLI",
    "an API URL the client cannot use",
    (
        "port 99999, a malformed IPv6 address, a query, user:password@: one `employes-sync: error:` "
        "line, exit 2, no traceback, the credential never printed"
    ),
)
UNUSABLE_API_URLS_ARE_REFUSED_WITH_A_REASON: Fault = (
    "CLI",
    "an API URL the client cannot use",
    "each shape (ports 0/99999/abc, IPv6, query, fragment, scheme, host) has its reason",
)
CLICK_USAGE_ERRORS_OF_EVERY_SUBCOMMAND_ARE_ONE_LINE: Fault = (
    "CLI",
    "a usage error in any subcommand",
    "unknown option, bad value, missing argument or option, unknown command: one line, exit 2",
)
SIMULATE_ON_A_TAKEN_PORT_IS_ONE_LINE: Fault = (
    "CLI",
    "a port already in use",
    "`simulate --port`: one line naming the address, exit 1",
)
METRICS_PORT_TAKEN_IS_ONE_LINE_AND_THE_DEFAULT_HOST_IS_LOOPB: Fault = (
    "CLI",
    "a port already in use",
    "`sync --metrics-port`: one line naming 127.0.0.1:PORT (the default host), exit 2",
)
NOTHING_LISTENS_IS_A_TRANSPORT_ERROR_NAMING_THE_HOST_AND_THE: Fault = (
    "CLI",
    "an API that refuses connections or never answers",
    (
        "each retry announced (`GET ...: connection refused, retry 1 of 2 in ...`); the error names "
        "the host, the cause and the attempts"
    ),
)
A_SERVER_THAT_NEVER_ANSWERS_NAMES_THE_TIMEOUT: Fault = (
    "CLI",
    "an API that refuses connections or never answers",
    "a server that never answers: the error says it did not answer within the timeout, and where",
)
A_LISTING_THAT_OUTLIVES_ITS_DEADLINE_FAILS_IN_ONE_LINE: Fault = (
    "CLI",
    "an API that refuses connections or never answers",
    "a listing slower than --listing-deadline: exit 1, one line naming the API and the deadline",
)
AN_INLINE_EMPLOYEE_FAILING_AFTER_ITS_RETRIES_IS_HANDED_TO_A_: Fault = (
    "CLI",
    "one inline employee failing after its retries",
    (
        "503 for all 6 sends: handed to the first batch, the run succeeds with all 78, the summary "
        "names the employee; the retries were on the progress line"
    ),
)
A_FAILED_FIRST_RUN_CREATES_NO_SCOPE: Fault = (
    "CLI",
    "a mistyped company id (404)",
    (
        "one line naming the company id and the base URL to check; "
        "the failed run stores nothing and makes no scope: `timeline` still finds the only one; "
        "`--scope` naming an unknown scope is one line, exit 2"
    ),
)
UNREACHABLE_DATABASE_IS_ONE_LINE_WITHOUT_THE_PASSWORD: Fault = (
    "Security",
    "the DSN password on the command line",
    "a warning to use $DATABASE_URL or a password file; the password in no output",
)
STDOUT_CLOSED_EARLY_IS_QUIET: Fault = (
    "CLI",
    "stdout closed early (`| head`)",
    "no traceback, no error line, exit 0",
)
THE_DEMO_RESOURCE_ENDS_READY_WITH_EVERY_TIMELINE: Fault = (
    "Containers",
    "none: the demo EmployesSync, operator and Job pods as containers",
    (
        "examples/ applied; the operator container (chart pod spec: read-only, UID 10001, no "
        "capabilities) and three worker containers bring it to Ready with all 78 timelines, each "
        "event once; the token in no container log"
    ),
)
AN_OOM_KILLED_WORKER_IS_RETRIED_AND_SUCCEEDS_WITH_ROOM: Fault = (
    "Containers",
    "a worker over its memory limit (OOMKilled)",
    (
        "limits.memory 24Mi: the container is OOM-killed, the attempt's error names the pod's "
        "'OOMKilled (exit code 137)', it is retried, then the batch fails and the resource is "
        "Degraded; with 256Mi the next run succeeds with every timeline"
    ),
)
A_TOKEN_SECRET_WITHOUT_THE_NAMED_KEY_IS_REPORTED_AND_RECOVER: Fault = (
    "Containers",
    "a token Secret without the key the resource names",
    (
        "Ready=False SecretKeyNotFound naming the key and the Secret (no value), no Job; the Secret "
        "fixed and a sync requested, the run ends Ready with all 78 timelines"
    ),
)
A_WORKER_KILLED_MID_BATCH_IS_RETRIED_WITHOUT_DUPLICATES: Fault = (
    "Containers",
    "a worker container SIGKILLed mid-batch",
    (
        "killed while its batch is claimed: the Job fails ('Error (exit code 137)'), attempt 2 "
        "completes the batch; every employee stored once, every timeline event once"
    ),
)
THE_OPERATOR_STOPPED_MID_RUN_STOPS_IN_ITS_GRACE_PERIOD_AND_A: Fault = (
    "Containers",
    "the operator container stopped (SIGTERM) mid-run",
    (
        "it exits within terminationGracePeriodSeconds (not SIGKILLed); a new operator container "
        "resumes the same run (RunResumed) to success: one Job per batch, each event once"
    ),
)
A_JOB_WAITS_FOR_ITS_SECRET_THEN_RUNS_HARDENED_AND_COMPLETES: Fault = (
    "Containers",
    "a pod's Secret or key missing (CreateContainerConfigError)",
    (
        "the pod waits with CreateContainerConfigError (secret not found, then key not found) and the"
        " Job stays active; once the Secret has the key the pod runs hardened and the Job completes"
    ),
)
A_CONTAINER_OVER_ITS_MEMORY_LIMIT_IS_OOM_KILLED_AND_THE_JOB_: Fault = (
    "Containers",
    "a worker over its memory limit (OOMKilled)",
    "the pod's terminated state says OOMKilled, exit code 137; the Job FailureTarget then Failed",
)
A_JOB_PAST_ITS_DEADLINE_IS_KILLED_WITH_DEADLINE_EXCEEDED: Fault = (
    "Containers",
    "a pod running past activeDeadlineSeconds",
    "the container is killed and removed; the Job fails with DeadlineExceeded",
)
RUN_AS_NON_ROOT_REFUSES_AN_IMAGE_THAT_RUNS_AS_ROOT: Fault = (
    "Containers",
    "an image that runs as root under runAsNonRoot",
    (
        "the pod never starts: CreateContainerConfigError 'container has runAsNonRoot and image will "
        "run as root'"
    ),
)

#: The operator killed during each of its status writes (test_operator_e2e.py's STATUS_WRITES).
KILLED_DURING_STATUS_WRITE: dict[str, Fault] = {
    "run-started": KILLED_DURING_STATUS_WRITE_RUN_STARTED,
    "inline-done": KILLED_DURING_STATUS_WRITE_INLINE_DONE,
    "jobs-running": KILLED_DURING_STATUS_WRITE_JOBS_RUNNING,
    "run-finished": KILLED_DURING_STATUS_WRITE_RUN_FINISHED,
}
AN_UNUSABLE_API_TOKEN_IS_ONE_USAGE_LINE_WITHOUT_THE_TOKEN: Fault = (
    "CLI",
    "an API token that cannot be sent (a second line, a space, a non-ASCII letter, a binary file)",
    "one `employes-sync: error:` line naming where the token came from, exit 2, the token never printed",
)
AN_UNPARSEABLE_DATABASE_URL_IS_ONE_USAGE_LINE_WITHOUT_IT: Fault = (
    "CLI",
    "a --database-url or $DATABASE_URL libpq cannot parse",
    "one usage line, exit 2, the DSN (and the password psycopg's message would echo) never printed",
)
A_CTRL_C_BEFORE_THE_COMMAND_STARTS_IS_ONE_LINE: Fault = (
    "CLI",
    "SIGTERM or SIGINT mid-run",
    "a Ctrl-C before the command installed its handler: one line, exit 130, no blank line, no traceback",
)
A_URL_THE_COMPARISON_WOULD_CLEAN_IS_REFUSED: Fault = (
    "Security",
    "an API URL allowlist bypass (case, ports, `@`, suffixes, paths, IPv6, IDN, control characters)",
    (
        "`[::1]x:8089` (urlsplit reads host ::1), tabs/line breaks/NUL urlsplit drops, backslashes, "
        "the Kelvin sign, homoglyphs, a longer host or path: ApiHostNotAllowed; the same URL in "
        "another case, with :443 or a trailing slash is allowed"
    ),
)
A_SECRET_REFERENCE_KUBERNETES_COULD_NOT_RESOLVE_IS_REFUSED: Fault = (
    "Security",
    "a Secret reference that is not a Secret name (`a/b`, `..`, `x%2F..`)",
    "refused by the CRD's pattern and by the operator's spec check (InvalidSpec), before any read",
)
A_RERUN_RIGHT_AFTER_A_SIGKILL_TAKES_THE_DEAD_RUN_OVER_AT_ONCE: Fault = (
    "CLI",
    "SIGKILL mid-run, then a new run",
    (
        "rerun at once (the 30 s heartbeat still live): the dead run's owner is a pid of this machine "
        "that no longer exists, so it is taken over at once, not refused as `already running`"
    ),
)
A_COMMAND_GIVEN_AN_UNKNOWN_EMPLOYEE_OR_A_SILENT_DATABASE_SAYS_SO: Fault = (
    "CLI",
    "`rebuild --employee` of an unknown id; `watch` of a database that does not answer",
    (
        "rebuild: the summary on stdout and one `could not rebuild 1 employee: ID: ...` line, exit 1; "
        "watch: `database unreachable at ...` at once (no password), exit 1, not a minute of retries"
    ),
)
SIGTERM_TO_WATCH_STOPS_THE_EMBEDDED_SERVER_IT_STARTED: Fault = (
    "CLI",
    "SIGTERM or SIGINT mid-run",
    (
        "SIGTERM to a command holding the embedded server (`timeout 60 employes-sync watch`): one line, "
        "exit 143, the server it started stopped and its handle dropped (it used to die on the spot)"
    ),
)
OPERATOR_PORT_TAKEN_IS_ONE_LINE: Fault = (
    "Operator",
    "a port already in use",
    (
        "`operator --metrics-port` / `--health-port` taken before the start, or the health port taken"
        " between the operator's check and kopf's bind (held from the check on): one line naming the"
        " port and its flag, exit 1, no kopf traceback"
    ),
)
OPERATOR_WITHOUT_A_KUBECONFIG_IS_ONE_LINE: Fault = (
    "Operator",
    "no usable kubeconfig outside a pod",
    (
        "missing, empty, malformed YAML, or without a current context: one line naming the file and"
        " what is wrong, exit 1 (kopf retried its startup every minute with a traceback)"
    ),
)
A_STOP_AS_THE_DRIVER_IS_WOKEN_STOPS_ITS_WORKERS: Fault = (
    "Workers",
    "the batch driver stopped (a sync's SIGTERM; the operator's suspend and deletion stop it the same "
    "way) in the moment a worker's exit or a queued batch wakes it",
    (
        "the driver's pause does not lose the cancel (Python 3.11's wait_for did, and the workers ran "
        "their batches to the end): the cancel propagates, every worker process has exited, and no batch "
        "completed after the stop"
    ),
)
THE_OPERATORS_OWN_DATABASE_PASSWORDS_REACH_NO_RESOURCES_DATABASE: Fault = (
    "Security",
    "a DSN without a password, to a database that asks for one (the operator's ~/.pgpass, PGPASSWORD)",
    (
        "libpq's defaults are not offered: the server asking in clear text receives no password, the "
        "resource is Ready=False DatabaseUnavailable, and neither password is in a log line, event or status"
    ),
)
THE_OPERATORS_KERBEROS_TICKET_REACHES_NO_RESOURCES_DATABASE: Fault = (
    "Security",
    (
        "the operator holds a Kerberos ticket (KRB5CCNAME); a resource's database asks for GSSAPI, or its "
        "DSN asks for GSSAPI encryption (gssencmode, require_auth=gss)"
    ),
    (
        "libpq never takes up the ticket: no GSSAPI encryption request, no answer to the server's GSSAPI "
        "request (Ready=False DatabaseUnavailable, 'server requested GSSAPI authentication'); a DSN only "
        "Kerberos could connect (gssencmode=require, require_auth=gss) is DatabaseNotAllowed, never dialled"
    ),
)
A_JOBS_WORKER_TAKES_NO_DESTINATION_OR_IDENTITY_FROM_ITS_IMAGE: Fault = (
    "Security",
    (
        "a worker image whose ENV sets PGSERVICE (with its file), PGUSER, PGDATABASE and PGPASSWORD for "
        "another database; the resource's DSN leaves its database out"
    ),
    (
        "the Job's worker drops them with one warning naming them, never their values, and completes its "
        "batch in the database the DSN implies, as the role it names; the image's database gets no table"
    ),
)
A_JOBS_WORKER_OFFERS_NO_PASSWORD_OF_ITS_IMAGE: Fault = (
    "Security",
    (
        "a worker image with a ~/.pgpass or PGPASSWORD; a resource's DSN without a password, to a server "
        "asking for one"
    ),
    (
        "the Job's worker sends no password (libpq: no password supplied), the attempt fails, neither "
        "password is shown"
    ),
)
A_JOBS_WORKER_CHECKS_THE_DSN_ITS_POD_READ: Fault = (
    "Security",
    (
        "a DSN Secret changed after the operator checked it: to an unlisted host, a passfile=, or "
        "gssencmode=require"
    ),
    (
        "the Job's worker checks the DSN its pod read with the operator's host list: one line naming what "
        "was refused, exit 1, no connection and no API request, the password never shown"
    ),
)
THE_OPERATORS_LIBPQ_ENVIRONMENT_PICKS_NO_RESOURCES_DATABASE: Fault = (
    "Security",
    (
        "the operator's environment holds PGSERVICE and PGSERVICEFILE (another database's service, or one "
        "no file defines), PGUSER and PGDATABASE; a resource's DSN leaves its database out"
    ),
    (
        "the operator drops them at start with one warning naming them, never their values: the run ends "
        "Ready in the database the DSN implies, the environment's database gets no table, and a service "
        "no file defines fails no connection"
    ),
)
