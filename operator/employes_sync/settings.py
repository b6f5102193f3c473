"""What a sync run needs to know, apart from its secrets.

A run's settings are stored (as JSON) on its `sync_runs` row, so a worker started with nothing but
`--batch-id`, a database URL and a token can find the rest. Secrets are never part of this object.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://connect.employes.nl/v4"
DEFAULT_REDACT: tuple[str, ...] = ("personal_identification_number", "iban")

Mode = Literal["interactive", "background"]

#: The languages timelines are written in (``employes_sync.timeline.LOCALES``; a test keeps them equal).
TIMELINE_LOCALES = ("en", "nl")


def _today() -> str:
    return date.today().isoformat()


#: A DNS name or an IPv4 address: letters, digits, '-', '_' and dots, no empty label.
_HOST = re.compile(r"^(?!-)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$")
#: A URL's authority as written: a host (an ASCII name, IPv4 or a bracketed IPv6 address) and an optional
#: port, nothing else. urlsplit reads `[::1]x:8089` as host ::1, and lower-cases a host in another
#: script (K, the Kelvin sign, becomes "k"): what is checked must be the text the client gets.
AUTHORITY = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]*)?$", re.ASCII)


def has_space_or_control(text: str) -> bool:
    """Whitespace or a control character anywhere: what urlsplit silently drops from a URL, and what
    no HTTP header value can hold."""
    return any(ch.isspace() or not ch.isprintable() for ch in text)


#: A company id as Employes writes it (and the CRD's pattern for spec.api.companyId).
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Batches of a run a person waits for go first.
PRIORITY = {"interactive": 5, "background": 0}

#: The worker's environment (`employes-sync worker`, locally and in a Job pod): the secrets it needs
#: reach it here, never on its command line.
WORKER_DATABASE_ENV = "DATABASE_URL"
WORKER_TOKEN_ENV = "EMPLOYES_API_TOKEN"
#: A Job's company and redaction (a JSON list), from the resource's spec: whoever can write the run's
#: stored settings must not be able to point the token at another company or store what is redacted.
WORKER_COMPANY_ENV = "EMPLOYES_COMPANY_ID"
WORKER_REDACT_ENV = "EMPLOYES_SYNC_REDACT"
#: CA certificates the API client trusts besides its bundle (a TLS-inspecting proxy's; employes/trust.py):
#: a PEM file for the operator and the local CLI, and the certificates themselves, which is how the
#: operator hands them to its Jobs (their pods run in other namespaces, where its ConfigMap is not).
EXTRA_CA_FILE_ENV = "EMPLOYES_SYNC_EXTRA_CA_FILE"
WORKER_EXTRA_CA_ENV = "EMPLOYES_SYNC_EXTRA_CA_PEM"


class SettingsError(ValueError):
    """A setting that can never work; the message is one line naming the setting."""


@dataclass(frozen=True)
class SyncSettings:
    scope: str
    company_id: str
    api_url: str = DEFAULT_API_URL
    requests_per_second: float = 5.0
    page_size: int = 100
    timeout_seconds: float = 30.0
    inline_count: int = 5
    batch_size: int = 25
    max_attempts: int = 3
    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 600.0
    lease_seconds: float = 300.0
    #: The run's own lease: its owner renews it every third of this; expired, the run may be taken over.
    run_lease_seconds: float = 30.0
    #: A total deadline for listing the employees (and the inline part that rides on page 1).
    listing_deadline_seconds: float = 900.0
    redact: tuple[str, ...] = DEFAULT_REDACT
    incremental: bool = False
    trigger: str = "manual"
    mode: Mode = "interactive"
    #: The day timelines are built for, fixed when a run's settings are made and stored with the run, so
    #: every batch of it builds for the same day (a run across midnight too). The demo passes its data's.
    as_of: str = field(default_factory=_today)
    locale: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)
    #: webhook subscriptions, no secret: {name, events, include_details, max_age_seconds} (see subscription)
    webhooks: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        validate(self)
        if self.mode == "background" and self.inline_count:
            object.__setattr__(self, "inline_count", 0)
        object.__setattr__(self, "api_url", self.api_url.rstrip("/"))
        object.__setattr__(self, "redact", tuple(self.redact))
        object.__setattr__(self, "webhooks", tuple(self.webhooks))

    @staticmethod
    def default(name: str) -> Any:
        """A field's default, for command-line options that must not drift from it."""
        value = SyncSettings.__dataclass_fields__[name].default
        if value is dataclasses.MISSING:
            raise KeyError(f"SyncSettings.{name} has no plain default")
        return value

    @property
    def priority(self) -> int:
        return PRIORITY[self.mode]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyncSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "redact" in values:
            values["redact"] = tuple(values["redact"])
        if "webhooks" in values:
            values["webhooks"] = tuple(values["webhooks"])
        return cls(**values)

    @property
    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of)

    def replace(self, **changes: Any) -> SyncSettings:
        return dataclasses.replace(self, **changes)


def validate(s: SyncSettings) -> None:
    """Reject settings up front with one line each, before anything is written."""
    if not s.scope:
        raise SettingsError("scope must not be empty")
    if not UUID.match(s.company_id or ""):
        raise SettingsError(f"company id {s.company_id!r} is not a UUID")
    check_api_url(s.api_url)
    try:
        date.fromisoformat(s.as_of)
    except (TypeError, ValueError):
        raise SettingsError(f"as-of date {s.as_of!r} is not a date (YYYY-MM-DD)") from None
    if s.locale not in TIMELINE_LOCALES:
        raise SettingsError(f"timeline locale {s.locale!r} is not one of {', '.join(TIMELINE_LOCALES)}")
    _bound("requests per second", s.requests_per_second, 0.1, 1000)
    _bound("page size", s.page_size, 1, 1000)
    _bound("timeout seconds", s.timeout_seconds, 0.1, 600)
    _bound("inline count", s.inline_count, 0, 50)
    _bound("batch size", s.batch_size, 1, 500)
    _bound("max attempts", s.max_attempts, 1, 10)
    _bound("backoff seconds", s.backoff_seconds, 0, 3600)
    # A Job's deadline may be a day (the CRD's maximum) and its batch's lease outlives it by a minute.
    _bound("lease seconds", s.lease_seconds, 1, 2 * 86400)
    _bound("run lease seconds", s.run_lease_seconds, 1, 3600)
    _bound("listing deadline seconds", s.listing_deadline_seconds, 1, 86400)
    names = [w.get("name") for w in s.webhooks]
    if len(set(names)) != len(names):
        raise SettingsError("webhook names must be unique")
    for webhook in s.webhooks:
        subscription(**webhook)
    if s.mode not in PRIORITY:
        raise SettingsError(f"mode {s.mode!r} is not one of interactive, background")


def check_api_url(url: str) -> None:
    """Refuse an API URL the client cannot use, saying why in one line.

    A URL with a user, a password, a query or a fragment is refused without being quoted: those
    parts are where credentials hide (`https://user:pass@host`, `?api_key=...`), and they would
    otherwise reach the run's stored settings, its error column and every log line.
    """
    if not isinstance(url, str) or not url.strip():
        raise SettingsError("API URL must not be empty")
    text = url.strip()
    if has_space_or_control(text):
        raise SettingsError("API URL must not contain whitespace or control characters")
    shown = text if not any(mark in text for mark in "@?#") else "the API URL"
    try:
        parts = urlsplit(text)
    except ValueError:  # urlsplit only raises for brackets: "Invalid IPv6 URL", "... IPv4 or IPv6 address"
        raise SettingsError(
            f"API URL {shown!r} has a malformed IPv6 address (write it as http://[::1]:8089/v4)"
        ) from None
    if "@" in parts.netloc:
        raise SettingsError(
            "API URL must not contain a user or password (user:pass@); the token comes from "
            "$EMPLOYES_API_TOKEN, --token-file or its Secret"
        )
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise SettingsError("API URL must not have a query (?...) or a fragment (#...)")
    if parts.scheme not in ("http", "https"):
        raise SettingsError(f"API URL {shown!r} is not an http(s) URL")
    if not parts.hostname:
        raise SettingsError(f"API URL {shown!r} has no host")
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition("]")[2].rpartition(":")[2]
        raise SettingsError(
            f"API URL {shown!r} has an invalid port {port_text!r} (must be 1-65535)"
        ) from None
    if port == 0:
        raise SettingsError(f"API URL {shown!r} has an invalid port '0' (must be 1-65535)")
    # urlsplit reads `host:` as no port at all; a ':' with nothing after it is a port left out by mistake.
    if port is None and parts.netloc.endswith(":"):
        raise SettingsError(f"API URL {shown!r} has an empty port after ':' (must be 1-65535, or no ':')")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(parts.hostname)
        except ValueError:
            raise SettingsError(f"API URL {shown!r} has an invalid IPv6 address") from None
        if not AUTHORITY.match(parts.netloc):  # `[::1]x:8089`: after the bracket only a port
            raise SettingsError(
                f"API URL {shown!r} has a malformed IPv6 address (write it as http://[::1]:8089/v4)"
            )
    elif ":" in parts.hostname or not _HOST.match(parts.hostname):
        raise SettingsError(f"API URL {shown!r} has an invalid host name")


def token_problem(token: str) -> str | None:
    """Why a token can never go in an `Authorization` header; None when it can. Never quotes it.

    A header value is visible ASCII: a token with a non-ASCII letter, a space or a second line (a
    file holding two values) would otherwise end in the HTTP library's traceback, not in one line.
    """
    if has_space_or_control(token):
        return "contains whitespace, a line break or a control character"
    if not token.isascii():
        return "contains a non-ASCII character (an HTTP header holds ASCII only)"
    return None


def _bound(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


WEBHOOK_EVENTS = ("run.finished", "run.failed", "timeline.changed", "employee.removed")
_WEBHOOK_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def subscription(
    name: str,
    events: list[str] | tuple[str, ...] = WEBHOOK_EVENTS,
    include_details: bool = False,
    max_age_seconds: float = 86400.0,
) -> dict[str, Any]:
    """A webhook subscription as a run stores it: which events, how detailed, how long to keep trying."""
    if not isinstance(name, str) or not _WEBHOOK_NAME.match(name):
        raise SettingsError(f"webhook name {name!r} must be lowercase letters, digits and '-' (1-63)")
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown or not events:
        raise SettingsError(
            f"webhook {name}: events must be some of {', '.join(WEBHOOK_EVENTS)}"
            + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
        )
    _bound(f"webhook {name}: max age seconds", max_age_seconds, 1, 30 * 86400)
    return {
        "name": name,
        "events": sorted(set(events)),
        "include_details": bool(include_details),
        "max_age_seconds": float(max_age_seconds),
    }
