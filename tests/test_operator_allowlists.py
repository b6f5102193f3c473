"""The operator, not the resource's author, decides what an EmployesSync may reach (issue 11).

`employes-sync operator` as a process against kmock's emulator, with the simulator and embedded
PostgreSQL: a resource naming an API URL, a Secret, a worker image or a ServiceAccount the operator
does not allow is refused with Ready=False and its reason, and nothing happens on its behalf: no
request reaches any simulator, no Job is created, the Secret's data is never read.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from employes_sync.dsn import GSS_ENCRYPTION_REQUIRED
from employes_sync.employes.simulator import Simulator
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import SECRETS, Cluster, JobRunner, OperatorProcess, esync_path, wait_for
from tests.fixtures.pgwire import AUTH_CLEARTEXT, AUTH_GSS, GSSENC_REQUEST, FakeServer, write_credential_cache
from tests.reliability import rows
from tests.test_operator_e2e import NS, Env, assert_no_secret_anywhere

pytestmark = pytest.mark.slow


@pytest.fixture
def env(
    cluster_with_crd: Cluster,
    job_runner: JobRunner,
    operator_factory: Callable[..., OperatorProcess],
    database_url: str,
    simulator: Simulator,
) -> Iterator[Env]:
    yield Env(cluster_with_crd, job_runner, operator_factory, database_url, simulator)


@pytest.fixture
def elsewhere(make_simulator: Callable[..., Simulator], simulator: Simulator) -> Simulator:
    """A second API, as an attacker's host would be: it takes the same token and would answer."""
    return make_simulator(employees=10, token=simulator.config.token, company_id=simulator.config.company_id)


def data_reads(env: Env, name: str = "esync") -> int:
    """GETs of the Secret that asked for more than its metadata (its data)."""
    return sum(1 for metadata_only in env.cluster.reads(SECRETS, NS, name) if not metadata_only)


def refused(env: Env, reason: str) -> dict[str, Any]:
    condition = env.wait_condition("Ready", "False", reason)
    wait_for(lambda: env.events(reason), 15, what=f"a {reason} Warning event")
    assert env.events(reason)[0]["type"] == "Warning"
    return condition


@pytest.mark.fault(*rows.AN_UNLISTED_API_HOST_GETS_NO_REQUEST_AND_NO_TOKEN)
def test_an_unlisted_api_host_gets_no_request_and_no_token(env: Env, elsewhere: Simulator) -> None:
    env.secret()
    env.cluster.forget_reads()
    env.resource(api__baseUrl=elsewhere.url)
    op = env.operator()  # allows the test's simulator only
    condition = refused(env, "ApiHostNotAllowed")
    assert str(elsewhere.url) in condition["message"] and str(env.simulator.url) in condition["message"]
    wait_for(lambda: True, 1.0)  # a moment more in which something could go wrong
    assert elsewhere.stats.total == 0 and env.simulator.stats.total == 0
    assert not env.jobs()
    assert env.cluster.reads(SECRETS, NS, "esync") == []  # not even its labels: the URL is checked first
    assert "currentRun" not in env.status() and "lastRun" not in env.status()
    assert_no_secret_anywhere(env, op, env.simulator.config.token)

    # Pointed back at an allowed URL, it recovers without touching the operator.
    env.cluster.patch(esync_path("acme"), {"spec": {"api": {"baseUrl": env.simulator.url}}})
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert elsewhere.stats.total == 0


@pytest.mark.fault(*rows.PLAIN_HTTP_TO_AN_HTTPS_ONLY_HOST_IS_REFUSED)
def test_plain_http_to_an_https_only_host_is_refused(env: Env) -> None:
    env.secret()
    https_only = str(env.simulator.url).replace("http://", "https://", 1)
    env.resource()
    env.operator(allowed_urls=[https_only])
    condition = refused(env, "ApiHostNotAllowed")
    assert "plain http" in condition["message"]
    assert env.simulator.stats.total == 0 and not env.jobs()


@pytest.mark.fault(*rows.AN_UNLABELLED_SECRET_IS_REFUSED_WITHOUT_READING_IT)
def test_an_unlabelled_secret_is_refused_without_reading_it(env: Env) -> None:
    env.secret(labelled=False)
    env.cluster.forget_reads()
    env.resource()
    op = env.operator()
    condition = refused(env, "SecretNotAllowed")
    assert "default/esync" in condition["message"] and "employessync.io/secret" in condition["message"]
    wait_for(lambda: True, 1.0)
    reads = env.cluster.reads(SECRETS, NS, "esync")
    assert reads and all(reads), f"the Secret's data was read: {reads}"  # metadata only
    assert env.simulator.stats.total == 0 and not env.jobs()
    assert env.timelines() == 0
    assert_no_secret_anywhere(env, op, env.simulator.config.token, env.database_url)

    # Its owner opts in: the resource recovers by itself.
    env.cluster.patch(f"/api/v1/namespaces/{NS}/secrets/esync",
                      {"metadata": {"labels": {"employessync.io/secret": "true"}}})  # fmt: skip
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert data_reads(env) > 0


@pytest.mark.fault(*rows.AN_UNLABELLED_DSN_SECRET_IS_REFUSED_TOO)
def test_an_unlabelled_dsn_secret_is_refused_too(env: Env) -> None:
    env.secret()  # the token's Secret, labelled
    env.secret(name="db", labelled=False)
    env.cluster.forget_reads()
    env.resource(database__dsnSecretRef={"name": "db", "key": "dsn"})
    env.operator()
    condition = refused(env, "SecretNotAllowed")
    assert "default/db" in condition["message"] and "database DSN" in condition["message"]
    assert data_reads(env, "db") == 0
    assert env.simulator.stats.total == 0 and not env.jobs()


def accepted(server: socket.socket) -> int:
    """Connections waiting on a listening socket that nobody accepted: each was an attempt to reach it."""
    server.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.mark.fault(*rows.A_DSN_NAMING_AN_UNLISTED_DATABASE_HOST_CONNECTS_NOWHERE)
def test_a_dsn_naming_an_unlisted_database_host_connects_nowhere(env: Env) -> None:
    socket_dir = conninfo_to_dict(env.database_url)["host"]  # the embedded server listens on a socket
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
        env.secret(dsn=f"postgresql://esync:hunter2@127.0.0.1:{port}/payroll")
        env.resource()
        op = env.operator(extra=[f"--allow-database-host={socket_dir}"])
        message = refused(env, "DatabaseNotAllowed")["message"]
        assert f"names host 127.0.0.1:{port}" in message and f"allowed: {socket_dir}" in message
        assert "hunter2" not in message and "esync:" not in message
        assert accepted(probe) == 0  # the port beside the database was never tried
        assert env.simulator.stats.total == 0 and not env.jobs()
        assert_no_secret_anywhere(env, op, "hunter2")

        env.secret(dsn=env.database_url)  # the listed database: it recovers without a restart
        env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
        assert accepted(probe) == 0


@pytest.mark.fault(*rows.A_DSN_USING_THE_OPERATORS_OWN_FILES_IS_REFUSED)
def test_a_dsn_using_the_operators_own_files_is_refused(env: Env) -> None:
    sep = "&" if "?" in env.database_url else "?"
    env.secret(dsn=f"{env.database_url}{sep}passfile=/root/.pgpass")
    env.resource()
    env.operator()  # no host list: any host, but never the operator's own files
    message = refused(env, "DatabaseNotAllowed")["message"]
    assert "sets passfile" in message and "/root/.pgpass" not in message
    assert env.simulator.stats.total == 0 and not env.jobs()


@pytest.mark.fault(*rows.THE_OPERATORS_OWN_DATABASE_PASSWORDS_REACH_NO_RESOURCES_DATABASE)
@pytest.mark.parametrize("where", ["~/.pgpass", "PGPASSWORD"])
def test_the_operators_own_database_passwords_reach_no_resources_database(
    env: Env, tmp_path: Path, where: str
) -> None:
    """A DSN without a password, to a server that asks for one: libpq offers its own defaults (the
    password file in the operator's home, the PGPASSWORD of its environment), which are the operator's
    credentials, never the resource's. Refusing `passfile=` in the DSN did not stop the default one."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").write_text("*:*:*:*:operators-own-pgpass\n")
    (home / ".pgpass").chmod(0o600)
    environ = {"HOME": str(home)} if where == "~/.pgpass" else {"PGPASSWORD": "operators-own-pgpassword"}
    with FakeServer(AUTH_CLEARTEXT) as catcher:  # asks for the password in clear text
        env.secret(dsn=f"postgresql://payroll@127.0.0.1:{catcher.port}/payroll?sslmode=disable")
        env.resource()
        op = env.operator(environ=environ)
        message = env.wait_condition("Ready", "False", "DatabaseUnavailable")["message"]
        wait_for(lambda: catcher.connections >= 2, 30, what="the operator trying the database again")
        assert catcher.passwords == [], catcher.passwords
        assert "operators-own" not in message, message
        assert env.simulator.stats.total == 0 and not env.jobs()
        assert_no_secret_anywhere(env, op, "operators-own")


@pytest.mark.fault(*rows.THE_OPERATORS_KERBEROS_TICKET_REACHES_NO_RESOURCES_DATABASE)
def test_the_operators_kerberos_ticket_reaches_no_resources_database(env: Env, tmp_path: Path) -> None:
    """The operator's pod holds a Kerberos ticket (KRB5CCNAME; the default /tmp/krb5cc_<uid> needs no
    variable). A resource's database asking for GSSAPI, or a DSN asking for GSSAPI encryption, would
    otherwise take the author in as the operator's principal, at any server that trusts it."""
    cache = write_credential_cache(tmp_path / "krb5cc")
    environ = {"KRB5CCNAME": f"FILE:{cache}", "KRB5_CONFIG": str(tmp_path / "no-krb5.conf")}
    with FakeServer(AUTH_GSS) as server:
        dsn = f"postgresql://payroll@127.0.0.1:{server.port}/payroll?sslmode=disable"
        env.secret(dsn=f"{dsn}&gssencmode=prefer&require_auth=gss,scram-sha-256")
        env.resource()
        env.operator(environ=environ)
        message = env.wait_condition("Ready", "False", "DatabaseUnavailable")["message"]
        assert "server requested GSSAPI authentication" in message, message
        assert GSSENC_REQUEST not in server.requests and server.answers == []
        env.secret(dsn=f"{dsn}&gssencmode=require")  # only Kerberos could connect this one
        message = refused(env, "DatabaseNotAllowed")["message"]
        assert GSS_ENCRYPTION_REQUIRED in message, message
        assert GSSENC_REQUEST not in server.requests and server.answers == []
    assert env.simulator.stats.total == 0 and not env.jobs()


@pytest.fixture
def own_database(pg_admin_url: str) -> Iterator[str]:
    """A login role and a database of the same name, and a DSN that names the server and the role only:
    libpq then takes the database of the user's name, unless its environment names another.

    Asked for before `env`, so the operator is stopped before the database is dropped."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    host = conninfo_to_dict(pg_admin_url)["host"]
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    try:
        yield f"host={host} user={name}"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.fault(*rows.THE_OPERATORS_LIBPQ_ENVIRONMENT_PICKS_NO_RESOURCES_DATABASE)
@pytest.mark.parametrize("service", ["payroll-elsewhere", "nowhere-defined"])
def test_the_operators_libpq_environment_picks_no_resources_database(
    own_database: str, env: Env, tmp_path: Path, service: str
) -> None:
    """libpq fills in what a DSN leaves out from the process's environment: a PGSERVICE's entry in the
    PGSERVICEFILE (host, port, dbname, user, even a password), then PGDATABASE, PGUSER and the rest.
    Those are the operator's settings for some other database; a resource's connection must go where its
    author's DSN says. A PGSERVICE that no file defines would fail every connection of every resource."""
    other = conninfo_to_dict(env.database_url)  # the environment's database, on the same server
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[payroll-elsewhere]\nhost={other['host']}\ndbname={other['dbname']}\nuser=postgres\n"
    )
    environ = {
        "PGSERVICEFILE": str(services),
        "PGSERVICE": service,
        "PGUSER": "postgres",
        "PGDATABASE": other["dbname"],
    }
    own = Env(env.cluster, env.runner, env.start_operator, own_database, env.simulator)
    own.secret(dsn=own_database)
    own.resource()
    op = own.operator(environ=environ)
    own.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    assert own.timelines() > 0  # in the database the DSN implies, as the role it names
    with psycopg.connect(env.database_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,), "the environment's database was written to"
    warning = next(line for line in op.logs().splitlines() if "from the operator's environment" in line)
    assert "WARNING" in warning and "ignoring PGDATABASE, PGSERVICE, PGSERVICEFILE, PGUSER " in warning
    assert_no_secret_anywhere(own, op, service, other["dbname"], str(services))


@pytest.mark.fault(*rows.A_DSN_WITH_AN_UNENCODED_PASSWORD_IS_NEVER_DIALLED_OR_SHOWN)
def test_a_dsn_with_an_unencoded_password_is_never_dialled_or_shown(env: Env) -> None:
    """With no host list at all: libpq would read user "127.0.0.1" and password "PORT/cret9" as the
    host 127.0.0.1, the port PORT and the database "cret9@…", and connect there."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
        env.secret(dsn=f"postgresql://127.0.0.1:{port}/cret9@db.example/payroll")
        env.resource()
        op = env.operator()
        message = refused(env, "SecretKeyInvalid")["message"]
        assert "percent-encode" in message and "(the database DSN)" in message, message
        assert accepted(probe) == 0
        assert env.simulator.stats.total == 0 and not env.jobs()
        assert_no_secret_anywhere(env, op, "cret9", f"{port}/")

        env.secret(dsn=env.database_url)  # a DSN libpq reads as written: it recovers without a restart
        env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
        assert accepted(probe) == 0


@pytest.mark.fault(*rows.A_TOKEN_REFERENCE_NAMING_THE_DSN_KEY_SENDS_NOTHING)
def test_a_token_reference_naming_the_dsn_key_sends_nothing(env: Env) -> None:
    env.secret()
    env.cluster.forget_reads()  # the apply above read it
    env.resource(api__tokenSecretRef={"name": "esync", "key": "dsn"})
    op = env.operator()
    message = refused(env, "InvalidSpec")["message"]
    assert "spec.database.dsnSecretRef names Secret key esync/dsn" in message, message
    assert env.simulator.stats.total == 0 and data_reads(env) == 0 and not env.jobs()
    assert_no_secret_anywhere(env, op, env.database_url)

    env.resource(api__tokenSecretRef={"name": "esync", "key": "token"})  # fixed: it runs without a restart
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)


@pytest.mark.fault(*rows.A_WEBHOOK_ON_AN_UNLISTED_HOST_GETS_NOTHING)
def test_a_webhook_on_an_unlisted_host_gets_nothing(env: Env, webhook_receiver: Any) -> None:
    env.secret()
    env.cluster.apply({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "hooks", "namespace": NS,
                                    "labels": {"employessync.io/secret": "true"}},
                       "stringData": {"url": webhook_receiver.url,
                                      "signing": webhook_receiver.secret}})  # fmt: skip
    hook = {"name": "app", "urlSecretRef": {"name": "hooks", "key": "url"},
            "signingSecretRef": {"name": "hooks", "key": "signing"}, "allowInsecure": True}  # fmt: skip
    env.resource(notifications__webhooks=[hook])
    receiver = urlsplit(webhook_receiver.url)
    op = env.operator(extra=["--allow-webhook-host=hooks.example"])
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)  # the run does not depend on it
    warning = env.wait_events("WebhookInvalid")[0]
    assert f"the receiver host {receiver.hostname}:{receiver.port} is not one" in warning["message"]
    assert "receiver-token-123" not in warning["message"] and receiver.path not in warning["message"]
    assert "allowed: hooks.example" in warning["message"]
    with psycopg.connect(env.database_url) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE webhook = 'app' AND status = 'pending'"
        ).fetchone()
    assert waiting is not None and waiting[0] > 0, "its events wait in the outbox"
    assert webhook_receiver.snapshot() == []
    assert_no_secret_anywhere(env, op, webhook_receiver.url, webhook_receiver.secret)


@pytest.mark.parametrize(
    ("worker", "reason", "named"),
    [
        ({"image": "attacker/img:latest"}, "WorkerImageNotAllowed", "attacker/img:latest"),
        ({"serviceAccountName": "ci-deployer"}, "ServiceAccountNotAllowed", "ci-deployer"),
    ],
    ids=["image", "service-account"],
)
@pytest.mark.fault(*rows.AN_UNLISTED_WORKER_IMAGE_OR_SERVICE_ACCOUNT_RUNS_NOTHING)
def test_an_unlisted_worker_image_or_service_account_runs_nothing(
    env: Env, worker: dict[str, str], reason: str, named: str
) -> None:
    env.secret()
    env.cluster.forget_reads()
    env.resource(worker=worker)
    env.operator()
    condition = refused(env, reason)
    assert named in condition["message"] and "no Job was created" in condition["message"]
    wait_for(lambda: True, 1.0)
    assert not env.jobs() and not env.runner.seen
    assert env.simulator.stats.total == 0  # refused before the inline part too
    assert env.cluster.reads(SECRETS, NS, "esync") == []


@pytest.mark.fault(*rows.LISTED_IMAGES_AND_SERVICE_ACCOUNTS_RUN_AND_JOBS_GET_THE_API_)
def test_listed_images_and_service_accounts_run_and_jobs_get_the_api_url_from_the_spec(env: Env) -> None:
    env.secret()
    env.resource(worker={"image": "registry.example/esync:1.2.3", "serviceAccountName": "batch"})
    env.operator(extra=["--allow-worker-image", "registry.example/esync:1.2.3",
                        "--allow-worker-service-account", "batch"])  # fmt: skip
    env.wait_condition("Ready", "True", "RunSucceeded", timeout=120)
    jobs = env.jobs()
    assert jobs
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "batch"
        (container,) = pod["containers"]
        assert container["image"] == "registry.example/esync:1.2.3"
        environment = {e["name"]: e.get("value") for e in container["env"]}
        assert environment["EMPLOYES_API_URL"] == env.simulator.url
        assert environment["EMPLOYES_SYNC_ALLOWED_API_URLS"] == env.simulator.url
        assert environment["EMPLOYES_COMPANY_ID"] == env.simulator.config.company_id


def mid_run(env: Env) -> None:
    """Start the operator on a resource and return once its run drives Jobs (the first one hangs)."""
    seen: list[str] = []

    def hang_the_first(job: dict[str, Any]) -> str | None:
        seen.append(job["metadata"]["name"])
        return "hang" if len(seen) == 1 else None

    env.runner.fault = hang_the_first
    env.resource(batches__parallelism=2)
    env.operator()
    wait_for(lambda: len(env.jobs()) >= 2, 60, what="the run's first Jobs")


def test_a_spec_changed_mid_run_to_an_unlisted_image_gets_no_job(env: Env) -> None:
    """The spec is read again for every Job: a change while a run drives its batches is checked too."""
    env.secret()
    mid_run(env)
    env.cluster.patch(esync_path("acme"), {"spec": {"worker": {"image": "attacker/img:latest"}}})
    condition = refused(env, "WorkerImageNotAllowed")
    assert "attacker/img:latest" in condition["message"]
    wait_for(lambda: True, 1.5)  # the driver's next polls: still no Job of that image
    images = [job["spec"]["template"]["spec"]["containers"][0]["image"] for job in env.jobs()]
    assert images and "attacker/img:latest" not in images, images
    assert env.status().get("currentRun"), "the run stays open, to go on once the spec is fixed"


def test_a_spec_changed_mid_run_to_an_unlabelled_secret_gets_no_job_that_reads_it(env: Env) -> None:
    """A Job's pod reads its Secrets itself, so a Job may only name Secrets whose label was checked."""
    env.secret()
    env.secret(name="other", labelled=False)  # the same values: only its label keeps it out
    mid_run(env)
    env.cluster.forget_reads()
    env.cluster.patch(
        esync_path("acme"), {"spec": {"api": {"tokenSecretRef": {"name": "other", "key": "token"}}}}
    )
    condition = refused(env, "SecretNotAllowed")
    assert "default/other" in condition["message"]
    wait_for(lambda: True, 1.5)
    named = {
        ref["secretKeyRef"]["name"]
        for job in env.jobs()
        for item in job["spec"]["template"]["spec"]["containers"][0]["env"]
        if (ref := item.get("valueFrom"))
    }
    assert named == {"esync"}, named
    assert data_reads(env, "other") == 0
