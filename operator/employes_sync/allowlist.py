"""What an EmployesSync may make the operator reach: API URLs, databases, worker images and accounts.

Whoever may write an EmployesSync is not trusted with the operator's reach: the operator sends the
resource's token to `spec.api.baseUrl` and creates Jobs from `spec.worker`. The operator's
administrator sets these lists (command line, environment, the chart's `allowlist` values), and a spec
naming anything else is refused before a Secret is read, a request is sent or a Job is created.

Pure decisions only: the reconciler and the worker turn a `Refusal` into a condition or an error.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from employes_sync.dsn import kerberos_problem, parse_dsn
from employes_sync.settings import AUTHORITY, DEFAULT_API_URL, has_space_or_control

#: Where an allowlist comes from, for a refusal's message and the operator's environment.
API_URLS_ENV = "EMPLOYES_SYNC_ALLOWED_API_URLS"
IMAGES_ENV = "EMPLOYES_SYNC_ALLOWED_WORKER_IMAGES"
SERVICE_ACCOUNTS_ENV = "EMPLOYES_SYNC_ALLOWED_WORKER_SERVICE_ACCOUNTS"
DATABASE_HOSTS_ENV = "EMPLOYES_SYNC_ALLOWED_DATABASE_HOSTS"
WEBHOOK_HOSTS_ENV = "EMPLOYES_SYNC_ALLOWED_WEBHOOK_HOSTS"
#: A worker Job's API URL, from the resource's spec (with API_URLS_ENV, the operator's list).
API_URL_ENV = "EMPLOYES_API_URL"

API_HOST_NOT_ALLOWED = "ApiHostNotAllowed"
WORKER_IMAGE_NOT_ALLOWED = "WorkerImageNotAllowed"
SERVICE_ACCOUNT_NOT_ALLOWED = "ServiceAccountNotAllowed"
DATABASE_NOT_ALLOWED = "DatabaseNotAllowed"

#: libpq parameters that make the client use the operator's own files: its service and password files
#: (`service=prod host=mine.example` would send another database's user and password to a host the
#: resource's author runs) and its TLS client certificate and key (the operator's identity at any
#: server that trusts it). A resource's author cannot put files in the operator's pod, so no DSN of
#: theirs needs them. CA material (sslrootcert, sslcrl) is public and stays allowed.
OPERATOR_FILE_PARAMS = ("service", "servicefile", "passfile", "sslcert", "sslkey")
_DEFAULT_DB_PORT = "5432"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN = 5  # allowed values named in a refusal; the rest are counted


class AllowlistError(ValueError):
    """An allowlist entry that can never match safely (given to the operator, not by a resource)."""


@dataclass(frozen=True)
class Refusal:
    """Why a resource may not have what its spec asks for; `reason` is CamelCase for conditions."""

    reason: str
    message: str


def normalize_url(url: str) -> str:
    """The form two URLs are compared in: lower-case scheme and host, no default port, no trailing slash.

    Raises ValueError (without echoing the URL: it may carry a credential) for anything that is not a
    plain http(s) URL without userinfo, query or fragment.
    """
    text = url.strip()
    # urlsplit drops tabs and line breaks anywhere and control characters in front, so the form
    # compared would not be the text the client is given: refuse them rather than compare a cleaned copy.
    if has_space_or_control(text):
        raise ValueError("it contains whitespace or control characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    if "@" in parts.netloc:
        raise ValueError("it carries credentials (user:password@)")
    if parts.query or parts.fragment or url.strip().endswith(("?", "#")):
        raise ValueError("it has a query or fragment")
    if not AUTHORITY.match(parts.netloc):  # what urlsplit would read otherwise (see AUTHORITY)
        raise ValueError("its host is not a plain ASCII name or [IPv6] address (write an IDN as xn--)")
    if parts.netloc.endswith(":"):  # urlsplit reads `host:` as the default port: a port left out
        raise ValueError("its port is empty (nothing after ':')")
    scheme = parts.scheme.lower()
    port = parts.port  # ValueError for a port out of range
    host = _bracketed(parts.hostname.lower())
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def shown_url(url: str) -> str:
    """The URL as it may appear in a status or log: never its userinfo, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        # As written: a URL refused for its port (an empty one, say) must not be shown without it.
        port = f":{parts.port}" if parts.port is not None else ":" if parts.netloc.endswith(":") else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host or not AUTHORITY.match(parts.netloc.rpartition("@")[2]):
        return "<invalid URL>"  # not a cleaned copy that names a host the text did not
    host = _bracketed(host)
    hidden = (
        " (credentials, query and fragment hidden)" if parts.query or parts.fragment or "@" in url else ""
    )
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


def _bracketed(host: str) -> str:
    """An IPv6 address in brackets, as a URL writes it and as every list here compares it."""
    return f"[{host}]" if ":" in host else host


def _listing(values: Iterable[str]) -> str:
    items = sorted(values)
    if not items:
        return "none"
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Allowlists:
    """The operator's lists; build them with `Allowlists.build`, which checks every entry."""

    api_urls: frozenset[str] = frozenset({DEFAULT_API_URL})
    worker_images: frozenset[str] = frozenset()
    worker_service_accounts: frozenset[str] = frozenset()
    #: "host" (any port), "host:port" or socket directory entries; empty: any host (the file parameters
    #: are refused always)
    database_hosts: frozenset[str] = frozenset()
    #: "host" (any port) or "host:port" entries webhook receivers may be on; empty: any host
    webhook_hosts: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        api_urls: Iterable[str] = (),
        worker_images: Iterable[str] = (),
        worker_service_accounts: Iterable[str] = (),
        database_hosts: Iterable[str] = (),
        webhook_hosts: Iterable[str] = (),
        default_image: str | None = None,
        default_service_account: str | None = None,
    ) -> Allowlists:
        """No API URL given means the Employes v4 URL only; the defaults a Job gets are always allowed."""
        urls: set[str] = set()
        for entry in api_urls:
            if not entry.strip():
                continue
            try:
                urls.add(normalize_url(entry))
            except ValueError as exc:
                raise AllowlistError(f"allowed API URL {shown_url(entry)} cannot be used: {exc}") from None
        images = {i.strip() for i in worker_images if i.strip()}
        accounts = {a.strip() for a in worker_service_accounts if a.strip()}
        for image in images:
            if any(ch.isspace() for ch in image):
                raise AllowlistError(f"allowed worker image {image!r} contains whitespace")
        hosts = {normalize_database_host(h) for h in database_hosts if h.strip()}
        receivers = {normalize_host(h, "webhook host") for h in webhook_hosts if h.strip()}
        if default_image:
            images.add(default_image)
        if default_service_account:
            accounts.add(default_service_account)
        return cls(
            api_urls=frozenset(urls or {normalize_url(DEFAULT_API_URL)}),
            worker_images=frozenset(images),
            worker_service_accounts=frozenset(accounts),
            database_hosts=frozenset(hosts),
            webhook_hosts=frozenset(receivers),
        )

    @classmethod
    def parse_env(cls, value: str | None) -> list[str]:
        """A comma-separated environment value as entries (empty items dropped)."""
        return [item.strip() for item in (value or "").split(",") if item.strip()]

    # --- the decisions ----------------------------------------------------------------------------

    def api_url_refusal(self, url: str) -> Refusal | None:
        """None when the token may be sent to `url`; compared exactly after `normalize_url`."""
        try:
            normal = normalize_url(url)
        except ValueError as exc:
            return Refusal(API_HOST_NOT_ALLOWED, f"spec.api.baseUrl {shown_url(url)} cannot be used: {exc}")
        if normal in self.api_urls:
            return None
        hint = ""
        if normal.startswith("http://") and "https://" + normal[len("http://") :] in self.api_urls:
            hint = "; plain http is only allowed where the operator lists the http:// URL itself"
        return Refusal(
            API_HOST_NOT_ALLOWED,
            f"spec.api.baseUrl {shown_url(url)} is not an API URL this operator sends tokens to "
            f"(allowed: {_listing(self.api_urls)}){hint}; no request was made",
        )

    def worker_refusal(self, image: str | None, service_account: str | None) -> Refusal | None:
        """None when a Job may run `image` as `service_account` (None: the operator's defaults)."""
        if image is not None and image not in self.worker_images:
            return Refusal(
                WORKER_IMAGE_NOT_ALLOWED,
                f"spec.worker.image {image!r} is not an image this operator runs "
                f"(allowed: {_listing(self.worker_images)}); no Job was created",
            )
        if service_account is not None and service_account not in self.worker_service_accounts:
            return Refusal(
                SERVICE_ACCOUNT_NOT_ALLOWED,
                f"spec.worker.serviceAccountName {service_account!r} is not a ServiceAccount this operator "
                f"runs Jobs as (allowed: {_listing(self.worker_service_accounts)}); no Job was created",
            )
        return None

    def database_refusal(self, dsn: str, source: str) -> Refusal | None:
        """None when the operator may connect with `dsn` (read from `source`, e.g. "Secret db/dsn").

        Without a host list any host is allowed, as before there was one; a DSN that makes the operator
        use its own files, or that only Kerberos (the operator's principal) can connect, never is. The
        DSN's values are not echoed, except the host refused. Raises dsn.DsnInvalid for a DSN that cannot
        be used as written.
        """
        params = parse_dsn(dsn)  # DsnInvalid: not a refusal of what the DSN asks, the DSN is broken
        named = [p for p in OPERATOR_FILE_PARAMS if params.get(p) not in (None, "")]
        if named:
            return Refusal(
                DATABASE_NOT_ALLOWED,
                f"the database DSN in {source} sets {', '.join(named)}, which would make the operator "
                "use its own credential files; no connection was made",
            )
        kerberos = kerberos_problem(params)
        if kerberos is not None:
            return Refusal(
                DATABASE_NOT_ALLOWED, f"the database DSN in {source} {kerberos}; no connection was made"
            )
        if not self.database_hosts:
            return None
        for host, port in database_targets(params):
            if _host_listed(self.database_hosts, host, port):
                continue
            if not host:
                shown = "no host (the operator's local default)"
            elif host.startswith(("/", "@")):
                shown = f"the Unix socket directory {host}"
            else:
                shown = f"host {host}:{port}"
            return Refusal(
                DATABASE_NOT_ALLOWED,
                f"the database DSN in {source} names {shown}, which is not a database this operator "
                f"connects to (allowed: {_listing(self.database_hosts)}); no connection was made",
            )
        return None

    def webhook_refusal(self, url: str, webhook: str) -> str | None:
        """None when events may be delivered to `url` (already checked by webhooks.signing.check_url).

        A receiver is the author's choice, but the POST leaves from the operator's network position and
        its outcome (a status, a kind of failure) is recorded where the author reads it. Only the host
        and port are named: the URL may carry a token.
        """
        parts = urlsplit(url.strip())
        host = _bracketed((parts.hostname or "").lower())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 443)
        if not self.webhook_hosts or _host_listed(self.webhook_hosts, host, port):
            return None
        return (
            f"webhook {webhook}: the receiver host {host}:{port} is not one this operator delivers to "
            f"(allowed: {_listing(self.webhook_hosts)})"
        )

    def refusal(self, base_url: str, image: str | None, service_account: str | None) -> Refusal | None:
        """The first thing a spec asks for that it may not have, API URL first (it decides the token)."""
        return self.api_url_refusal(base_url) or self.worker_refusal(image, service_account)


def normalize_database_host(entry: str) -> str:
    """An allowed database as compared: a `normalize_host` entry, or the absolute directory of a Unix
    socket (a proxy beside the operator), compared exactly.

    Raises AllowlistError for an entry that names no host, or a port that is not one.
    """
    if entry.strip().startswith("/"):
        path = entry.strip().rstrip("/") or "/"
        if has_space_or_control(path) or "," in path or posixpath.normpath(path) != path:
            raise AllowlistError(
                f"allowed database host {entry!r} is not a host, host:port or socket directory"
            )
        return path
    return normalize_host(entry, "database host")


def normalize_host(entry: str, what: str) -> str:
    """An allowed host as compared: lower-case "host" (any port) or "host:port", IPv6 in brackets.

    Raises AllowlistError (naming `what` the list is of) for an entry that names no host, or a port
    that is not one.
    """
    bad = AllowlistError(f"allowed {what} {entry!r} is not a host or host:port")
    text = entry.strip().lower()
    if has_space_or_control(text) or not text or text.startswith("@") or any(c in text for c in ",/"):
        raise bad
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        host, port = (_bracketed(inside) if inside and bracket else ""), rest[1:]
        if rest and (not rest.startswith(":") or rest == ":"):
            raise bad  # only a port after the bracket, and not an empty one
    elif text.count(":") > 1:
        host, port = _bracketed(text), ""  # a bare IPv6 address: any port
    else:
        host, _, port = text.partition(":")
        if text.endswith(":"):
            raise bad
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise bad
    return f"{host}:{int(port)}" if port else host


def _host_listed(listed: frozenset[str], host: str, port: int | str) -> bool:
    return host in listed or f"{host}:{port}" in listed


def database_targets(params: Mapping[str, object]) -> list[tuple[str, str]]:
    """Where libpq would connect: (address, port) per host of a multi-host DSN, IPv6 in brackets.

    libpq connects to `hostaddr` when it is given (`host` then only names the server for TLS and the
    password file), so the address is what an allowlist must judge. An empty address means a socket.
    """
    hosts = str(params.get("host") or "").split(",")
    addrs = str(params.get("hostaddr") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    targets = []
    for i in range(max(len(hosts), len(addrs))):
        addr = (addrs[i] if i < len(addrs) else "").strip() or (hosts[i] if i < len(hosts) else "").strip()
        port = (ports[i] if i < len(ports) else ports[0] if len(ports) == 1 else "").strip()
        if addr.startswith("/"):
            addr = addr.rstrip("/") or "/"
        elif not addr.startswith("@"):
            addr = _bracketed(addr.lower())
        targets.append((addr, str(int(port)) if port.isdigit() else port or _DEFAULT_DB_PORT))
    return targets
