"""What an EmployesSync may make the operator reach: API URLs, worker images, worker ServiceAccounts.

Whoever may write an EmployesSync is not trusted with the operator's reach: the operator sends the
resource's token to `spec.api.baseUrl` and creates Jobs from `spec.worker`. The operator's
administrator sets these lists (command line, environment, the chart's `allowlist` values), and a spec
naming anything else is refused before a Secret is read, a request is sent or a Job is created.

Pure decisions only: the reconciler and the worker turn a `Refusal` into a condition or an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from employes_sync.settings import AUTHORITY, DEFAULT_API_URL, has_space_or_control

#: Where an allowlist comes from, for a refusal's message and the operator's environment.
API_URLS_ENV = "EMPLOYES_SYNC_ALLOWED_API_URLS"
IMAGES_ENV = "EMPLOYES_SYNC_ALLOWED_WORKER_IMAGES"
SERVICE_ACCOUNTS_ENV = "EMPLOYES_SYNC_ALLOWED_WORKER_SERVICE_ACCOUNTS"
#: A worker Job's API URL, from the resource's spec (with API_URLS_ENV, the operator's list).
API_URL_ENV = "EMPLOYES_API_URL"

API_HOST_NOT_ALLOWED = "ApiHostNotAllowed"
WORKER_IMAGE_NOT_ALLOWED = "WorkerImageNotAllowed"
SERVICE_ACCOUNT_NOT_ALLOWED = "ServiceAccountNotAllowed"

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
    scheme = parts.scheme.lower()
    port = parts.port  # ValueError for a port out of range
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def shown_url(url: str) -> str:
    """The URL as it may appear in a status or log: never its userinfo, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host or not AUTHORITY.match(parts.netloc.rpartition("@")[2]):
        return "<invalid URL>"  # not a cleaned copy that names a host the text did not
    if ":" in host:
        host = f"[{host}]"
    hidden = (
        " (credentials, query and fragment hidden)" if parts.query or parts.fragment or "@" in url else ""
    )
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


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

    @classmethod
    def build(
        cls,
        *,
        api_urls: Iterable[str] = (),
        worker_images: Iterable[str] = (),
        worker_service_accounts: Iterable[str] = (),
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
        if default_image:
            images.add(default_image)
        if default_service_account:
            accounts.add(default_service_account)
        return cls(
            api_urls=frozenset(urls or {normalize_url(DEFAULT_API_URL)}),
            worker_images=frozenset(images),
            worker_service_accounts=frozenset(accounts),
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

    def refusal(self, base_url: str, image: str | None, service_account: str | None) -> Refusal | None:
        """The first thing a spec asks for that it may not have, API URL first (it decides the token)."""
        return self.api_url_refusal(base_url) or self.worker_refusal(image, service_account)
