"""The API client's connection to the API: TLS verification and its CA, proxies, no ambient credentials.

Each test talks to a real server on 127.0.0.1 (TLS with a certificate made by openssl here, or a
recording proxy); `transport_cause` is also checked alone on the errors aiohttp raises, so every
cause reads as a few words without a host, port or certificate detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import certifi
import pytest
from aiohttp.client_reqrep import ConnectionKey

from employes_sync.employes import trust
from employes_sync.employes.client import EmployesClient, env_proxy, transport_cause
from employes_sync.employes.errors import TransportError
from employes_sync.employes.fakedata import generate_company
from employes_sync.settings import EXTRA_CA_FILE_ENV, WORKER_EXTRA_CA_ENV
from tests.fixtures.network import served
from tests.fixtures.tls import CompanyCA, forget_tls

COMPANY = "00000000-0000-4000-8000-000000000001"


def _page() -> dict[str, Any]:
    employees = [person.employee for person in generate_company(2, seed=5)]
    return {"data": employees, "total": 2, "pages": 1, "page": 1, "per_page": 100}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextlib.asynccontextmanager
async def _https_api(context: ssl.SSLContext) -> AsyncIterator[str]:
    """An HTTPS API on 127.0.0.1 that answers the first employee page with `context`'s certificate."""

    async def employees(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response(_page())

    app = aiohttp.web.Application()
    app.router.add_get("/v4/{company}/employees", employees)
    async with served(app, context) as port:
        yield f"https://127.0.0.1:{port}/v4"


@pytest.fixture
async def tls_api(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    """An HTTPS API on 127.0.0.1 with a certificate no public CA signed; its base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    async with _https_api(context) as url:
        yield url


async def test_an_untrusted_certificate_is_refused_in_a_few_words(
    tls_api: str, fresh_ssl_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with EmployesClient(tls_api, COMPANY, "t", requests_per_second=0, max_retries=0) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_employee_page(1)
    host = tls_api.split("/")[2]
    assert str(caught.value) == (
        f"Employes API at {host}: its TLS certificate is not trusted (add its CA with "
        "$EMPLOYES_SYNC_EXTRA_CA_FILE)"
        " for GET /employees?page=1"
    )


async def test_ssl_cert_file_adds_the_ca_that_signed_the_api(
    tls_api: str, certificate: tuple[Path, Path], fresh_ssl_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    async with EmployesClient(tls_api, COMPANY, "t", requests_per_second=0, max_retries=0) as client:
        page = await client.get_employee_page(1)
    assert [e["id"] for e in page.employees] == [e["id"] for e in _page()["data"]]


@pytest.fixture
async def company_api(company_ca: CompanyCA) -> AsyncIterator[str]:
    """An HTTPS API on 127.0.0.1 whose certificate a company CA signed (as a TLS-inspecting proxy's is)."""
    async with _https_api(company_ca.server_context()) as url:
        yield url


async def _first_page_ids(url: str) -> list[str]:
    async with EmployesClient(url, COMPANY, "t", requests_per_second=0, max_retries=0) as client:
        page = await client.get_employee_page(1)
    return [e["id"] for e in page.employees]


def _bundle_size() -> int:
    return int(ssl.create_default_context(cafile=certifi.where()).cert_store_stats()["x509_ca"])


async def test_an_extra_ca_file_is_trusted_besides_the_bundle(
    company_api: str, company_ca: CompanyCA, fresh_ssl_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(TransportError, match=r"its TLS certificate is not trusted"):
        await _first_page_ids(company_api)
    forget_tls()
    monkeypatch.setenv(EXTRA_CA_FILE_ENV, str(company_ca.ca_pem))
    assert await _first_page_ids(company_api) == [e["id"] for e in _page()["data"]]
    # Added to certifi's bundle, not in its place: the API's public chain is still trusted.
    assert trust.shared_ssl_context().cert_store_stats()["x509_ca"] == _bundle_size() + 1


async def test_the_pem_a_job_is_given_is_trusted_the_same_way(
    company_api: str, company_ca: CompanyCA, fresh_ssl_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv(WORKER_EXTRA_CA_ENV, company_ca.ca_text)
    assert await _first_page_ids(company_api) == [e["id"] for e in _page()["data"]]


async def test_an_extra_ca_adds_to_ssl_cert_file_too(
    company_api: str,
    company_ca: CompanyCA,
    certificate: tuple[Path, Path],
    fresh_ssl_context: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SSL_CERT_FILE replaces the bundle (here by one unrelated self-signed certificate); the extra CA
    is trusted on top of whichever bundle is in use."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv(EXTRA_CA_FILE_ENV, str(company_ca.ca_pem))
    assert await _first_page_ids(company_api) == [e["id"] for e in _page()["data"]]
    assert trust.shared_ssl_context().cert_store_stats()["x509_ca"] == 2


class RecordingProxy:
    """A forward proxy that answers every request itself with one page, and keeps what it was sent."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> RecordingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.heads.append(head)
            body = json.dumps(_page()).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


async def test_requests_go_through_the_environments_proxy(no_proxy_environment: pytest.MonkeyPatch) -> None:
    # Port 9 has nothing listening: the answer can only have come from the proxy.
    async with RecordingProxy() as proxy:
        no_proxy_environment.setenv("HTTP_PROXY", proxy.url)
        async with EmployesClient(
            "http://127.0.0.1:9/v4", COMPANY, "secret-token", requests_per_second=0, max_retries=0
        ) as client:
            page = await client.get_employee_page(1)
    assert len(page.employees) == 2
    [head] = proxy.heads
    assert head.startswith(f"GET http://127.0.0.1:9/v4/{COMPANY}/employees?page=1&per_page=100 HTTP/1.1")
    assert "Authorization: Bearer secret-token" in head


async def test_no_proxy_exempts_a_host(no_proxy_environment: pytest.MonkeyPatch) -> None:
    async with RecordingProxy() as proxy:
        no_proxy_environment.setenv("HTTP_PROXY", proxy.url)
        no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
        async with EmployesClient(
            "http://127.0.0.1:9/v4", COMPANY, "t", requests_per_second=0, max_retries=0
        ) as client:
            with pytest.raises(TransportError, match="connection refused"):
                await client.get_employee_page(1)
    assert proxy.heads == []


def test_env_proxy_picks_the_schemes_proxy(no_proxy_environment: pytest.MonkeyPatch) -> None:
    assert env_proxy("https://connect.employes.nl/v4") is None
    no_proxy_environment.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy("https://connect.employes.nl/v4") == "http://proxy.internal:3128"
    assert env_proxy("http://127.0.0.1:8089/v4") is None  # HTTPS_PROXY is for https only
    no_proxy_environment.setenv("NO_PROXY", ".employes.nl")
    assert env_proxy("https://connect.employes.nl/v4") is None


async def test_a_netrc_entry_for_the_host_is_never_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resource names the API host; credentials in the operator's ~/.netrc are not for it."""
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login operator password operator-secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    seen: list[str] = []

    async def employees(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return aiohttp.web.json_response(_page())

    app = aiohttp.web.Application()
    app.router.add_get("/v4/{company}/employees", employees)
    async with (
        served(app) as port,
        EmployesClient(f"http://127.0.0.1:{port}/v4", COMPANY, "the-token", requests_per_second=0) as client,
    ):
        await client.get_employee_page(1)
    assert seen == ["Bearer the-token"]


# -- transport_cause alone, on the errors aiohttp raises ------------------------------------------

KEY = ConnectionKey("api.example", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (aiohttp.ConnectionTimeoutError(), "no connection within 30 s"),
        (aiohttp.SocketTimeoutError(), "no answer within 30 s"),
        (aiohttp.ServerTimeoutError(), "timed out (ServerTimeoutError)"),
        (aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
         "host name not found"),
        (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")),
         "connection refused"),
        (aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError(1, "verify failed")),
         "its TLS certificate is not trusted (add its CA with $EMPLOYES_SYNC_EXTRA_CA_FILE)"),
        (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "wrong version number")),
         "the TLS handshake failed"),
        (aiohttp.ClientProxyConnectionError(KEY, ConnectionRefusedError(111, "Connection refused")),
         "the proxy (HTTPS_PROXY) is unreachable"),
        (aiohttp.ServerDisconnectedError(), "the server closed the connection without an answer"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "the answer was cut short"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connection reset by peer"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)  # fmt: skip
def test_transport_causes_are_a_few_words(error: BaseException, cause: str) -> None:
    assert transport_cause(error, 30) == cause
