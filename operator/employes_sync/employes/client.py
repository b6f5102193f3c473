"""The Employes.nl API v4 client: three typed reads, rate limited and retried.

Only the endpoints that a payroll token may read are used (the per-topic history endpoints answer
403). Rate limiting (`ratelimit.py`) and the retry schedule (`retry.py`) are separate objects so that
a worker can share one limiter across clients and tests can check each part alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import aiohttp

from employes_sync.employes.errors import (
    AuthenticationError,
    EmployesError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
)
from employes_sync.employes.models import (
    EmployeePage,
    InvalidRecord,
    parse_employee,
    parse_employee_page,
    parse_employments,
    unwrap_employee,
)
from employes_sync.employes.ratelimit import RateLimiter, TokenBucket, Unlimited
from employes_sync.employes.retry import RetryPolicy, parse_retry_after
from employes_sync.employes.trust import shared_ssl_context

__all__ = ["DEFAULT_BASE_URL", "EmployesClient", "MiB", "ResponseCallback", "RetryNotice", "status_class"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://connect.employes.nl/v4"
MiB = 1024 * 1024

ResponseCallback = Callable[[str, str, float], None]
"""`on_response(endpoint, status_class, seconds)`: one call per HTTP attempt, for metrics."""

_Shape = Callable[[Any], Any]


def env_proxy(url: str) -> str | None:
    """The proxy that `HTTPS_PROXY` / `HTTP_PROXY` (or `ALL_PROXY`) name for `url`, unless `NO_PROXY`
    exempts its host: a cluster whose egress goes through a proxy reaches the API through it.

    Read once per client from the environment only (never from ~/.netrc, whose credentials would be
    offered to whatever host a resource names).
    """
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def status_class(status: int | None) -> str:
    """A bounded metric label: "2xx", "3xx", "4xx", "429", "5xx", or "error" when no response came."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx" if 100 <= status < 600 else "error"


class EmployesClient:
    """Reads employees and employments of one company.

    One instance is meant to be shared by all concurrent tasks of a process (its limiter spaces
    their requests). Use it as an async context manager, or call `aclose()`.
    """

    def __init__(
        self,
        base_url: str,
        company_id: str,
        token: str,
        *,
        limiter: RateLimiter | None = None,
        requests_per_second: float = 5.0,
        page_size: int = 100,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_response_bytes: int = 10 * MiB,
        on_response: ResponseCallback | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        if not isinstance(company_id, str) or not company_id.strip() or "/" in company_id:
            raise ValueError("company id must be a non-empty string without '/'")
        self.company_id = company_id.strip()
        self._token = _check_token(token)
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page size must be between 1 and 1000, got {page_size}")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        self.page_size = page_size
        self.max_response_bytes = max_response_bytes
        # One attempt, connect to last byte, ends by this deadline: aiohttp's timeouts are per read, so a
        # server trickling a byte at a time would otherwise hold a request (and the operator) forever.
        self.deadline = float(timeout)
        if limiter is None:
            limiter = TokenBucket(requests_per_second) if requests_per_second > 0 else Unlimited()
        self.limiter = limiter
        self.retry = retry or RetryPolicy(max_retries=max_retries, backoff_base=backoff_base)
        self._on_response = on_response
        self._on_retry = on_retry
        self.timeout = timeout
        self.host = urlsplit(self.base_url).netloc
        self._paused_until = 0.0  # monotonic time before which no request is sent (after a 429)
        self._headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            # An uncompressed body is counted as it arrives; a compressed one is only accepted
            # from a server that ignores this, and is then inflated under the same limit.
            "Accept-Encoding": "identity",
            "User-Agent": "employes-sync",
        }
        self._proxy = env_proxy(self.base_url)
        self._http: aiohttp.ClientSession | None = None  # made on first use, inside the running loop

    def _session(self) -> aiohttp.ClientSession:
        """aiohttp, not httpx: a request costs a quarter of the CPU (0.19 against 0.74 ms, measured side
        by side against the simulator), which at 200 resources syncing at once was the operator's
        largest single cost. Its bodies are not inflated (`auto_decompress=False`): `_Body` does it
        under the size limit. No cookies are kept and the environment is not trusted wholesale (no
        ~/.netrc credentials); the proxy is `env_proxy`'s.
        """
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(ssl=shared_ssl_context()),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=self.timeout),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                raise_for_status=False,
            )
            # aiohttp resends an idempotent request once, unseen, when a reused connection drops
            # (RFC 9112 allows it). That second request would pass neither the rate limiter nor the
            # retry policy and its metrics: a drop is this client's to retry. (aiohttp's own test
            # client turns it off the same way; tests/test_employes_client.py would see it return.)
            self._http._retry_connection = False
        return self._http

    def __repr__(self) -> str:
        return f"EmployesClient(base_url={self.base_url!r}, company_id={self.company_id!r}, token=<redacted>)"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    # -- the API ------------------------------------------------------------------------------

    async def iter_employee_pages(self) -> AsyncIterator[EmployeePage]:
        """Every page of the employee list in order, each as soon as it arrives.

        Stops at the server's `pages`, so a total that is an exact multiple of the page size costs
        no extra empty request. Bad records are reported in `EmployeePage.invalid`, not raised.
        """
        page = 1
        while True:
            result = await self.get_employee_page(page)
            yield result
            if page >= result.pages:
                return
            page += 1

    async def get_employee_page(self, page: int) -> EmployeePage:
        """One page of the employee list (1-based)."""
        if page < 1:
            raise ValueError(f"page must be >= 1, got {page}")
        what = f"/employees?page={page}"
        try:
            result: EmployeePage = await self._get(
                "employees",
                "/employees",
                {"page": page, "per_page": self.page_size},
                shape=lambda body: parse_employee_page(body, page=page, per_page=self.page_size),
                what=what,
            )
        except NotFoundError as error:
            if page != 1:
                raise
            # The first page of the listing is missing only when the company id or the base URL is
            # wrong (a mistyped id; a base URL without its /v4): "no such resource" named neither.
            company, base = (v if v.isprintable() else repr(v) for v in (self.company_id, self.base_url))
            raise NotFoundError(
                f"Employes API has no company {company} at {base} (404 for GET {what}); "
                "check the company id and the API base URL",
                status=error.status,
            ) from None
        return result

    async def get_employee(self, employee_id: str) -> dict[str, Any]:
        """One employee, from either `{...}` or `{data: {...}}`."""
        path = f"/employees/{_segment(employee_id)}"
        body = await self._get("employee", path, None, shape=_require_object_body, what=path)
        try:
            return parse_employee(unwrap_employee(body))
        except InvalidRecord as error:
            raise MalformedResponseError(
                f"Employes API sent an invalid employee for GET {path}: {error.reason}",
                status=200,
                transient=False,
            ) from None

    async def get_employments(self, employee_id: str) -> list[dict[str, Any]]:
        """All employments of an employee (several when re-hired, possibly none).

        A 404 raises `NotFoundError`: the API answers it both for an unknown employee and for one
        without employments, and only the caller knows which it expects.
        """
        path = f"/employees/{_segment(employee_id)}/employments"
        body = await self._get("employments", path, None, shape=_require_employments_body, what=path)
        try:
            return parse_employments(body)
        except InvalidRecord as error:
            raise MalformedResponseError(
                f"Employes API sent an invalid employment for GET {path}: {error.reason}",
                status=200,
                transient=False,
            ) from None

    # -- one request, with limits and retries -------------------------------------------------

    async def _get(
        self,
        endpoint: str,
        path: str,
        params: dict[str, Any] | None,
        *,
        shape: _Shape,
        what: str,
    ) -> Any:
        url = f"{self.base_url}/{quote(self.company_id, safe='')}{path}"
        attempt = 0
        while True:
            await self._wait_out_pause()
            await self.limiter.acquire()
            failure, retry_after, result = await self._attempt(endpoint, url, params, shape, what)
            if failure is None:
                return result
            if not failure.transient or not self.retry.should_retry(attempt):
                if failure.transient and attempt:
                    failure.message = f"{failure.message} (gave up after {attempt + 1} attempts)"
                raise failure
            if self.retry.retry_after_too_long(retry_after):
                raise RateLimitedError(
                    f"Employes API asked to wait {retry_after:.0f} s (429) for GET {what}; giving up",
                    status=429,
                )
            delay = self.retry.delay(attempt, retry_after)
            log.info("%s; retry %d/%d in %.2f s", failure, attempt + 1, self.retry.max_retries, delay)
            self._notify_retry(RetryNotice(what, failure.cause, attempt + 1, self.retry.max_retries, delay))
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(
        self,
        endpoint: str,
        url: str,
        params: dict[str, Any] | None,
        shape: _Shape,
        what: str,
    ) -> tuple[EmployesError | None, float | None, Any]:
        """One send: (failure, retry_after, result); raises only what must never be retried."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline):
                status, headers, content = await self._send(url, params, what)
        except aiohttp.ClientError as error:  # its own timeouts included: before TimeoutError
            self._report(endpoint, None, started)
            return self._unreachable(what, transport_cause(error, self.timeout)), None, None
        except TimeoutError:
            self._report(endpoint, None, started)
            return self._unreachable(what, f"did not answer within {self.deadline:g} s"), None, None
        except ResponseTooLargeError as error:
            self._report(endpoint, error.status, started)
            raise
        self._report(endpoint, status, started)
        # What -vv shows of each request: the path (never a header, so never the token) and the answer.
        log.debug("GET %s: %d in %.3f s", what, status, time.monotonic() - started)

        if 200 <= status < 300:
            try:
                return None, None, shape(json.loads(content))
            except (ValueError, UnicodeDecodeError, RecursionError) as error:  # InvalidRecord: a ValueError
                if isinstance(error, InvalidRecord):
                    reason = error.reason
                elif isinstance(error, RecursionError):
                    reason = "JSON nested too deeply"
                else:
                    reason = "body is not valid JSON"
                return (
                    MalformedResponseError(
                        f"Employes API sent a malformed response ({reason}) for GET {what}", status=status
                    ),
                    None,
                    None,
                )
        if status == 401:
            raise AuthenticationError(
                f"Employes API rejected the token (401) for GET {what}; check the API token", status=401
            )
        if status == 403:
            raise PermissionDeniedError(
                f"Employes API denied access (403) for GET {what}; the token may not read this", status=403
            )
        if status == 404:
            raise NotFoundError(f"Employes API has no such resource (404) for GET {what}", status=404)
        if status == 429:
            retry_after = parse_retry_after(headers.get("retry-after"))
            if retry_after is not None:
                self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
            return (
                RateLimitedError(f"Employes API rate limit hit (429) for GET {what}", status=429),
                retry_after,
                None,
            )
        if status >= 500:
            return (
                ServerError(f"Employes API server error ({status}) for GET {what}", status=status),
                None,
                None,
            )
        raise EmployesError(f"Employes API answered an unexpected {status} for GET {what}", status=status)

    async def _send(
        self, url: str, params: dict[str, Any] | None, what: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        # Streamed and counted: Content-Length may be absent (chunked) or lie, and a body is only
        # held in memory up to the limit. The raw bytes are read and any decoding is done here, so
        # what is counted is what is held: a 1 MiB gzip bomb never grows past the limit.
        query = {key: str(value) for key, value in params.items()} if params else None
        async with self._session().get(
            url, params=query, allow_redirects=False, proxy=self._proxy
        ) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise self._too_large(what, response.status, f"declared {int(declared)} bytes")
            body = _Body(response.headers.get("content-encoding", ""), self.max_response_bytes)
            if body.unsupported:
                raise MalformedResponseError(
                    f"Employes API sent a body in an encoding it was not asked for "
                    f"({body.unsupported}) for GET {what}",
                    status=response.status,
                    transient=False,
                )
            async for chunk in response.content.iter_any():
                if not body.add(chunk):
                    raise self._too_large(what, response.status, f"more than {self.max_response_bytes} bytes")
            content = body.finish()
            if content is None:
                raise MalformedResponseError(
                    f"Employes API sent a body that does not decompress for GET {what}",
                    status=response.status,
                )
            return response.status, response.headers, content

    def _unreachable(self, what: str, cause: str) -> TransportError:
        """`Employes API at 127.0.0.1:8089: connection refused for GET /employees?page=1`."""
        error = TransportError(f"Employes API at {self.host}: {cause} for GET {what}")
        error.cause = cause
        return error

    def _notify_retry(self, notice: RetryNotice) -> None:
        if self._on_retry is None:
            return
        try:
            self._on_retry(notice)
        except Exception:  # progress output must never break a sync
            log.exception("on_retry callback failed")

    def _too_large(self, what: str, status: int, detail: str) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"Employes API response too large ({detail}, limit {self.max_response_bytes}) for GET {what}",
            status=status,
        )

    async def _wait_out_pause(self) -> None:
        # After a 429 with Retry-After every task of this client holds back, not only the one
        # that was told: the others would only collect 429s of their own.
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _report(self, endpoint: str, status: int | None, started: float) -> None:
        if self._on_response is None:
            return
        try:
            self._on_response(endpoint, status_class(status), time.monotonic() - started)
        except Exception:  # metrics must never break a sync
            log.exception("on_response callback failed")


class _Body:
    """A response body collected chunk by chunk, inflated (gzip, deflate) under a size limit.

    zlib inflates at most `limit + 1` bytes per step (the rest of the input waits in
    `unconsumed_tail`), so no chunk, however well it compresses, is ever inflated whole.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []
        self.unsupported = ""
        self._inflate: Any = None
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip() != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            self.unsupported = ", ".join(codings)[:40]
        elif codings:
            # gzip: a gzip header; deflate: a zlib header (32 + 15 accepts either).
            self._inflate = zlib.decompressobj(32 + zlib.MAX_WBITS)
        self.failed = False

    def add(self, raw: bytes) -> bool:
        """False when the body has grown past the limit."""
        if self._inflate is None:
            return self._keep(raw)
        data = raw
        while data:
            try:
                out = self._inflate.decompress(data, self.limit - self.size + 1)
            except zlib.error:
                self.failed = True
                return True
            if not self._keep(out):
                return False
            data = self._inflate.unconsumed_tail
            if not out and data:
                break  # no progress: leave the rest to finish()
        return True

    def _keep(self, data: bytes) -> bool:
        self.size += len(data)
        if self.size > self.limit:
            return False
        self.chunks.append(data)
        return True

    def finish(self) -> bytes | None:
        """The whole body, or None when a compressed one was corrupt or cut short."""
        if self._inflate is not None and (self.failed or not self._inflate.eof):
            return None
        return b"".join(self.chunks)


@dataclass(frozen=True)
class RetryNotice:
    """A request that failed and will be sent again: what a person waiting should be told."""

    what: str  # "/employees?page=1"
    cause: str  # "connection refused", "server error (503)"
    retry: int  # 1-based
    retries: int
    delay: float

    def __str__(self) -> str:
        return f"GET {self.what}: {self.cause}, retry {self.retry} of {self.retries} in {self.delay:.1f} s"


def transport_cause(error: BaseException, timeout: float) -> str:
    """What went wrong under an aiohttp client error, in words: the OS's reason if there is one.

    aiohttp's own messages name the host and port, which the caller's message already says, and
    for a TLS failure quote the certificate's details; the cause is said in a few words instead.
    """
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return f"no connection within {timeout:g} s"
    if isinstance(error, aiohttp.SocketTimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, aiohttp.ServerTimeoutError):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not trusted (add its CA with $EMPLOYES_SYNC_EXTRA_CA_FILE)"
    if isinstance(error, aiohttp.ClientConnectorSSLError):
        return "the TLS handshake failed"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        return "the proxy (HTTPS_PROXY) is unreachable"
    if isinstance(error, aiohttp.ClientHttpProxyError):
        return f"the proxy (HTTPS_PROXY) refused the connection ({error.status})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without an answer"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "the answer was cut short"
    if isinstance(error, aiohttp.ClientResponseError):
        return "the server sent an invalid HTTP answer"
    seen: set[int] = set()
    current: BaseException | None = getattr(error, "os_error", None) or error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, OSError) and (current.errno or current.strerror):
            return (os.strerror(current.errno) if current.errno else str(current.strerror)).lower()
        current = current.__cause__ or current.__context__
    return type(error).__name__


def _require_object_body(body: Any) -> Any:
    if not isinstance(body, dict):
        raise InvalidRecord(f"expected a JSON object, got {type(body).__name__}")
    return body


def _require_employments_body(body: Any) -> Any:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("data"), list | None):
        return body
    raise InvalidRecord("expected a list of employments or {data: [...]}")


def _segment(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("employee id must be a non-empty string")
    return quote(value, safe="")


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.username or parts.password:
        raise ValueError("API base URL must not contain credentials")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"API base URL must be an http(s) URL without query, got {base_url!r}")
    return base_url.strip().rstrip("/")


def _check_token(token: str) -> str:
    # Secrets mounted from files usually end in a newline; anything else odd is refused without
    # echoing the value.
    if not isinstance(token, str):
        raise ValueError("API token must be a string")
    token = token.strip()
    if not token:
        raise ValueError("API token is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ValueError("API token contains whitespace or control characters")
    return token
