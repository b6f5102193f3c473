"""An extra CA trusted besides the bundle (employes/trust.py): read and checked once at start, refused in one
line naming the setting and the file, and handed to a Job's worker as the certificates themselves.

The worker here is a real `employes-sync worker` process with the environment of the Job manifest the
operator builds (its secretKeyRefs resolved as the kubelet would), against the simulator over HTTPS
with a certificate the throwaway company CA signed: it fails without the CA and completes with it.
tests/test_operator_e2e.py runs the whole of it (the operator given the file, its Jobs the certificates);
tests/test_client_transport.py has the client's side.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync import pipeline
from employes_sync.employes import trust
from employes_sync.employes.simulator import SimulatorConfig, serve_in_thread
from employes_sync.kube import jobs, spec
from employes_sync.settings import EXTRA_CA_FILE_ENV, WORKER_EXTRA_CA_ENV
from employes_sync.store import queue as queue_store
from tests.fixtures.kube import job_environment, run_job_command
from tests.fixtures.settings import settings_for
from tests.fixtures.tls import CompanyCA, make_company_ca

COMMAND = [sys.executable, "-m", "employes_sync"]
CLOSED_DB = "postgresql://u@127.0.0.1:1/db"
BATCH = "6b1b4a52-3f51-4c55-9b0c-3f2e9f1f0b11"  # a batch id no database has


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command with this environment, less any extra CA and libpq variable of the tests' own (the
    operator warns about the latter on a line of its own)."""
    unwanted = (EXTRA_CA_FILE_ENV, WORKER_EXTRA_CA_ENV)
    base = {k: v for k, v in os.environ.items() if k not in unwanted and not k.startswith("PG")}
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**base, **env},
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _forget_tls() -> Iterator[None]:
    trust.configured_extra_ca.cache_clear()
    yield
    trust.configured_extra_ca.cache_clear()


# --- reading and checking ----------------------------------------------------------------------------


def test_only_the_certificates_are_kept_each_once(company_ca: CompanyCA, tmp_path: Path) -> None:
    ca = company_ca.ca_text
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(f"# the company's CA\nsubject=CN = employes-sync test company CA\n{ca}\n{ca}trailing\n")
    pem = trust.load_extra_ca({EXTRA_CA_FILE_ENV: str(bundle)})
    assert pem is not None
    assert pem == ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(ca))  # one certificate, nothing around it
    # A local worker inherits both settings: the file's and the variable's certificates, each once.
    other = make_company_ca(tmp_path / "other").ca_text
    both = trust.load_extra_ca({EXTRA_CA_FILE_ENV: str(bundle), WORKER_EXTRA_CA_ENV: other + ca})
    assert both is not None and both.count("BEGIN CERTIFICATE") == 2
    assert trust.load_extra_ca({}) is None
    assert trust.load_extra_ca({EXTRA_CA_FILE_ENV: "", WORKER_EXTRA_CA_ENV: ""}) is None


def _cert_body(company_ca: CompanyCA) -> str:
    return company_ca.ca_text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read (no such file or directory)"),
        ("dir", "cannot be read (is a directory)"),
        (b"", "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        (b"just some text\n", "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        (b"\x30\x82\x01\x0a\xff\xfe", "is not PEM text (binary or non-ASCII; a DER certificate converts"),
        (b"x" * (64 * 1024 + 1), "is larger than 65536 bytes, more than the 64 KiB of CA certificates"),
        ("key", "holds a private key (PRIVATE KEY); give only the CA's certificates"),
        (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "holds a X509 CRL block; only"),
        (b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
         "certificate 1 is not valid base64"),
        (b"-----BEGIN CERTIFICATE-----\nAAAABBBB\n-----END CERTIFICATE-----\n",
         "certificate 1 does not parse as an X.509 certificate"),
        ("cut", "has a PEM block without its -----END line"),
    ],
    ids=["missing", "directory", "empty", "text", "der", "too-large", "private-key", "crl", "base64",
         "not-x509", "cut-short"],
)  # fmt: skip
def test_a_bad_extra_ca_file_is_one_line_naming_setting_path_and_problem(
    company_ca: CompanyCA, tmp_path: Path, content: bytes | str | None, problem: str
) -> None:
    path = tmp_path / "ca.crt"
    if content == "dir":
        path.mkdir()
    elif content == "key":
        path.write_bytes(company_ca.ca_pem.read_bytes() + company_ca.server_key.read_bytes())
    elif content == "cut":
        path.write_text(company_ca.ca_text + "-----BEGIN CERTIFICATE-----\n" + _cert_body(company_ca))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(trust.ExtraCAError) as caught:
        trust.load_extra_ca({EXTRA_CA_FILE_ENV: str(path)})
    message = str(caught.value)
    assert message.startswith(f"$EMPLOYES_SYNC_EXTRA_CA_FILE={path}: {problem}"), message
    assert "\n" not in message
    # Never an echo of what the file holds (a private key put there by mistake stays out of the logs).
    assert "PRIVATE KEY-----" not in message and _cert_body(company_ca).strip()[:40] not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hello", "holds no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAABBBB\n-----END CERTIFICATE-----\n", "certificate 1 does not"),
        ("é", "is not PEM text (it holds non-ASCII characters)"),
        ("x" * (64 * 1024 + 1), "is 65537 bytes, more than the 64 KiB"),
    ],
)
def test_a_bad_pem_variable_is_one_line_naming_it(text: str, problem: str) -> None:
    with pytest.raises(trust.ExtraCAError) as caught:
        trust.load_extra_ca({WORKER_EXTRA_CA_ENV: text})
    assert str(caught.value).startswith(f"$EMPLOYES_SYNC_EXTRA_CA_PEM: {problem}"), str(caught.value)


# --- the commands stop at start ----------------------------------------------------------------------


def test_the_operator_sync_and_worker_refuse_a_bad_extra_ca_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    expected = f"employes-sync: error: $EMPLOYES_SYNC_EXTRA_CA_FILE={missing}: cannot be read (no such file"
    commands = {
        # Before it logs in: no kubeconfig is needed to be told.
        "operator": ["operator", "-n", "payroll", "--metrics-port", "0", "--health-port", "0"],
        "sync": ["sync", "--company-id", "00000000-0000-4000-8000-000000000001", "--database-url", CLOSED_DB],
        "worker": ["worker", "--batch-id", BATCH],
    }
    env = {EXTRA_CA_FILE_ENV: str(missing), "EMPLOYES_API_TOKEN": "t", "DATABASE_URL": CLOSED_DB,
           "KUBECONFIG": str(tmp_path / "no-kubeconfig")}  # fmt: skip
    for name, args in commands.items():
        result = run(*args, env=env)
        assert result.returncode == 2, (name, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(expected), (name, line)
    # A Job's worker given a bad variable says so the same way.
    result = run("worker", "--batch-id", BATCH, env={**env, EXTRA_CA_FILE_ENV: "", WORKER_EXTRA_CA_ENV: "x"})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line == "employes-sync: error: $EMPLOYES_SYNC_EXTRA_CA_PEM: holds no PEM certificate " + (
        "(-----BEGIN CERTIFICATE-----)"
    )


# --- a Job's worker --------------------------------------------------------------------------------


OWNER = {
    "apiVersion": "employessync.io/v1alpha1",
    "kind": "EmployesSync",
    "metadata": {"name": "acme", "namespace": "payroll", "uid": "u-1"},
}


async def test_a_jobs_worker_reaches_the_api_through_the_operators_extra_ca(
    company_ca: CompanyCA, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    config = SimulatorConfig(employees=12, requests_per_second=1000.0, latency_ms=0.0)
    # The same company served twice: over HTTP for the test's own listing, over HTTPS (a certificate the
    # company CA signed) for the Jobs, whose API URL comes from the resource's spec.
    with (
        serve_in_thread(config) as plain,
        serve_in_thread(config, ssl_context=company_ca.server_context()) as tls,
    ):
        assert tls.url is not None and tls.url.startswith("https://")
        settings = settings_for(plain, inline_count=0, batch_size=6)
        started = await pipeline.start_run(settings, store_pool, config.token)
        assert len(started.batch_ids) == 2
        batches = [await queue_store.get(store_pool, batch_id) for batch_id in started.batch_ids]
        resource = spec.parse({
            "api": {"baseUrl": tls.url, "companyId": config.company_id,
                    "tokenSecretRef": {"name": "api", "key": "token"}},
            "database": {"dsnSecretRef": {"name": "db", "key": "url"}},
        })  # fmt: skip
        secrets = {("api", "token"): config.token, ("db", "url"): database_url}

        def manifest(batch: queue_store.Batch | None, pem: str | None) -> dict[str, Any]:
            assert batch is not None
            return jobs.job_manifest(
                OWNER, resource, started.run_id, batch, 1, default_image="img:1",
                allowed_api_urls=[resource.base_url], extra_ca_pem=pem,
            )  # fmt: skip

        # Without the CA the Job's worker fails as every Job behind such a proxy used to.
        code, out = await run_job_command(manifest(batches[0], None), secrets)
        assert code == 1, out
        assert "its TLS certificate is not trusted" in out, out
        # With the operator's extra CA in its spec it completes its batch, and only through that: its
        # environment has no SSL_CERT_FILE, no file and nothing of the test's.
        pem = trust.load_extra_ca({EXTRA_CA_FILE_ENV: str(company_ca.ca_pem)})
        job = manifest(batches[1], pem)
        env = job_environment(job, secrets)
        assert env[WORKER_EXTRA_CA_ENV] == pem and EXTRA_CA_FILE_ENV not in env and "SSL_CERT_FILE" not in env
        code, out = await run_job_command(job, secrets)
        assert code == 0, out
        assert out.strip().endswith(f"batch {started.batch_ids[1]}: completed"), out
        done = await queue_store.get(store_pool, started.batch_ids[1])
        assert done is not None and done.status == "completed"
        assert tls.stats.count("employments") == 6
