"""An EmployesSync's spec as typed values, and the run settings it implies.

The API server applies the CRD's defaults, but an object can still arrive without them (written
before a default was added, or by a test double), so every field falls back to the same default here.
A test keeps `DEFAULTS` equal to the CRD's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from employes_sync.settings import (
    DEFAULT_API_URL,
    DEFAULT_REDACT,
    TIMELINE_LOCALES,
    UUID,
    WEBHOOK_EVENTS,
    Mode,
    SettingsError,
    SyncSettings,
    subscription,
)

GROUP = "employessync.io"
VERSION = "v1alpha1"
PLURAL = "employessyncs"
KIND = "EmployesSync"

#: dotted spec path -> default; the same values as the CRD's `default:` keywords.
DEFAULTS: dict[str, Any] = {
    "api.baseUrl": DEFAULT_API_URL,
    "api.requestsPerSecond": 5,
    "api.pageSize": 100,
    "api.timeoutSeconds": 30,
    "api.tokenSecretRef.key": "token",
    "database.dsnSecretRef.key": "dsn",
    "inline.count": 5,
    "batches.size": 25,
    "batches.parallelism": 2,
    "batches.maxAttempts": 3,
    "batches.backoffSeconds": 10,
    "batches.backoffMaxSeconds": 600,
    "batches.activeDeadlineSeconds": 900,
    "batches.ttlSecondsAfterFinished": 3600,
    "redact": list(DEFAULT_REDACT),
    "incremental": False,
    "suspend": False,
    "timeline.locale": "en",
    "notifications.maxAgeSeconds": 86400,
}


#: dotted spec path -> (minimum, maximum), inclusive: the CRD's `minimum`/`maximum` (a test keeps them equal).
BOUNDS: dict[str, tuple[float, float]] = {
    "api.requestsPerSecond": (0.1, 1000),
    "api.pageSize": (1, 1000),
    "api.timeoutSeconds": (1, 600),
    "inline.count": (0, 50),
    "batches.size": (1, 500),
    "batches.parallelism": (1, 50),
    "batches.maxAttempts": (1, 10),
    "batches.backoffSeconds": (0, 3600),
    "batches.backoffMaxSeconds": (0, 86400),
    "batches.activeDeadlineSeconds": (10, 86400),
    "batches.ttlSecondsAfterFinished": (0, 604800),
    "notifications.maxAgeSeconds": (60, 2592000),
}

#: The CRD's enum of `worker.imagePullPolicy` and `redact`'s limits.
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
REDACT_MAX_ITEMS = 100
REDACT_MAX_LENGTH = 200


class SpecError(ValueError):
    """A spec the schema let through but that cannot work; the message names the field."""


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str

    def __str__(self) -> str:
        return f"{self.name}/{self.key}"


@dataclass(frozen=True)
class WorkerSpec:
    image: str | None = None
    image_pull_policy: str | None = None
    service_account_name: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookSpec:
    """One `spec.notifications.webhooks[]` entry: where its URL and signing secret are, what it gets."""

    name: str
    url_ref: SecretRef
    signing_ref: SecretRef
    events: tuple[str, ...] = WEBHOOK_EVENTS
    include_details: bool = False
    allow_insecure: bool = False


@dataclass(frozen=True)
class ResourceSpec:
    company_id: str
    base_url: str
    token_ref: SecretRef
    dsn_ref: SecretRef
    requests_per_second: float
    page_size: int
    timeout_seconds: float
    inline_count: int
    batch_size: int
    parallelism: int
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    active_deadline_seconds: int
    ttl_seconds_after_finished: int
    redact: tuple[str, ...]
    incremental: bool
    suspend: bool
    worker: WorkerSpec
    #: The language timeline titles and descriptions are written in (en, nl).
    locale: str = "en"
    webhooks: tuple[WebhookSpec, ...] = ()
    webhook_max_age_seconds: float = 86400.0

    @property
    def lease_seconds(self) -> float:
        """A batch's lease outlives its Job's deadline, so only a dead worker's lease runs out."""
        return float(self.active_deadline_seconds) + 60.0

    def settings(self, scope: str, *, trigger: str, mode: Mode, extra: Mapping[str, Any]) -> SyncSettings:
        return SyncSettings(
            scope=scope,
            company_id=self.company_id,
            api_url=self.base_url,
            requests_per_second=self.requests_per_second,
            page_size=self.page_size,
            timeout_seconds=self.timeout_seconds,
            inline_count=self.inline_count,
            batch_size=self.batch_size,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            lease_seconds=self.lease_seconds,
            redact=self.redact,
            incremental=self.incremental,
            locale=self.locale,
            trigger=trigger,
            mode=mode,
            extra=dict(extra),
            webhooks=tuple(
                subscription(w.name, w.events, w.include_details, self.webhook_max_age_seconds)
                for w in self.webhooks
            ),
        )


def _get(spec: Mapping[str, Any], dotted: str) -> Any:
    node: Any = spec
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            return DEFAULTS.get(dotted)
        node = node[part]
    return node


def _shown(value: Any) -> str:
    """A spec value in a message: its repr, cut short (a spec holds no secret, but may be long)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bounded(dotted: str, value: float) -> None:
    low, high = BOUNDS[dotted]
    if not low <= value <= high:
        raise SpecError(f"spec.{dotted} is {_shown(value)}, outside {low:g} to {high:g}")


def _integer(spec: Mapping[str, Any], dotted: str) -> int:
    """An integer field as the CRD types and bounds it. The API server checks the same, but an object
    the schema never saw (an old CRD, a client writing around it) must not run with a parallelism of -1
    (no Job ever starts) or a count of "two" told as `invalid literal for int()`."""
    value = _get(spec, dotted)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"spec.{dotted} must be an integer, not {_shown(value)}")
    _bounded(dotted, value)
    return value


def _number(spec: Mapping[str, Any], dotted: str) -> float:
    value = _get(spec, dotted)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SpecError(f"spec.{dotted} must be a number, not {_shown(value)}")
    _bounded(dotted, value)
    return float(value)


def _boolean(spec: Mapping[str, Any], dotted: str) -> bool:
    """true or false only: `bool("false")` is True, so a quoted "false" would suspend a resource."""
    value = _get(spec, dotted)
    if not isinstance(value, bool):
        raise SpecError(f"spec.{dotted} must be true or false, not {_shown(value)}")
    return value


def _choice(spec: Mapping[str, Any], dotted: str, choices: tuple[str, ...]) -> str:
    return _one_of(dotted, _get(spec, dotted), choices)


def _one_of(dotted: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(f"spec.{dotted} is {_shown(value)}, not one of {', '.join(choices)}")
    return str(value)


def _redact(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The field names removed before storage: a list of strings. A plain string (`redact: iban`) was
    read letter by letter, so `iban` itself was stored."""
    value = _get(spec, "redact")
    if not isinstance(value, list | tuple) or not all(isinstance(f, str) and f for f in value):
        raise SpecError(f"spec.redact must be a list of field names, not {_shown(value)}")
    if len(value) > REDACT_MAX_ITEMS or any(len(f) > REDACT_MAX_LENGTH for f in value):
        raise SpecError(
            f"spec.redact holds at most {REDACT_MAX_ITEMS} field names, "
            f"each of at most {REDACT_MAX_LENGTH} characters"
        )
    return tuple(value)


#: What Kubernetes accepts as a Secret's name (a DNS subdomain) and as a key of its data.
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def secret_ref(name: str, key: str, where: str) -> SecretRef:
    """A reference Kubernetes could resolve, else SpecError naming the field.

    The name becomes a path segment of the Secret's GET: `a/b`, `..` or `x%2F..` must never reach
    the client, whatever the API server would make of them. The CRD's patterns say the same.
    """
    if len(name) > 253 or not _SECRET_NAME.match(name):
        raise SpecError(
            f"spec.{where}.name {name[:64]!r} is not a Secret name (lowercase letters, digits, '-' and '.')"
        )
    if len(key) > 253 or not _SECRET_KEY.match(key) or key in (".", ".."):
        raise SpecError(f"spec.{where}.key {key[:64]!r} is not a Secret key (letters, digits, '-', '_', '.')")
    return SecretRef(name, key)


def _ref(spec: Mapping[str, Any], path: str) -> SecretRef:
    name = _get(spec, f"{path}.name")
    if not name:
        raise SpecError(f"spec.{path}.name is required")
    return secret_ref(str(name), str(_get(spec, f"{path}.key")), path)


def _webhooks(spec: Mapping[str, Any]) -> tuple[WebhookSpec, ...]:
    found: list[WebhookSpec] = []
    for index, item in enumerate((spec.get("notifications") or {}).get("webhooks") or []):
        where = f"notifications.webhooks[{index}]"
        if not isinstance(item, Mapping) or not item.get("name"):
            raise SpecError(f"spec.{where}.name is required")
        refs = []
        for field_name in ("urlSecretRef", "signingSecretRef"):
            ref = item.get(field_name) or {}
            if not ref.get("name") or not ref.get("key"):
                raise SpecError(f"spec.{where}.{field_name} needs a name and a key")
            refs.append(secret_ref(str(ref["name"]), str(ref["key"]), f"{where}.{field_name}"))
        webhook = WebhookSpec(
            name=str(item["name"]),
            url_ref=refs[0],
            signing_ref=refs[1],
            events=tuple(item.get("events") or WEBHOOK_EVENTS),
            include_details=bool(item.get("includeDetails", False)),
            allow_insecure=bool(item.get("allowInsecure", False)),
        )
        try:
            subscription(webhook.name, webhook.events, webhook.include_details)
        except SettingsError as exc:
            raise SpecError(f"spec.{where}: {exc}") from None
        found.append(webhook)
    if len({w.name for w in found}) != len(found):
        raise SpecError("spec.notifications.webhooks: names must be unique")
    return tuple(found)


def _one_purpose_per_key(parsed: ResourceSpec) -> None:
    """Refuse a Secret key named for two different purposes (webhooks may share a signing secret).

    Each value goes where its purpose sends it: the token to the API host in a header, the webhook URL
    to a resolver and the signing secret into an HMAC. A token reference naming the DSN's key would send
    the database password to the API as a bearer token; a URL reference naming the token's key would
    try to deliver to it. Both are typing slips, told here before any Secret is read.
    """
    uses: list[tuple[SecretRef, str, str]] = [
        (parsed.token_ref, "the API token", "api.tokenSecretRef"),
        (parsed.dsn_ref, "the database DSN", "database.dsnSecretRef"),
    ]
    for index, hook in enumerate(parsed.webhooks):
        where = f"notifications.webhooks[{index}]"
        uses.append((hook.url_ref, "a webhook URL", f"{where}.urlSecretRef"))
        uses.append((hook.signing_ref, "a webhook signing secret", f"{where}.signingSecretRef"))
    first: dict[SecretRef, tuple[str, str]] = {}
    for ref, purpose, where in uses:
        seen = first.setdefault(ref, (purpose, where))
        if seen[0] != purpose:
            raise SpecError(
                f"spec.{where} names Secret key {ref}, which spec.{seen[1]} names for {seen[0]}: "
                "each Secret key is for one purpose"
            )


def parse(spec: Mapping[str, Any]) -> ResourceSpec:
    parsed = _parse(spec)
    _one_purpose_per_key(parsed)
    return parsed


def _parse(spec: Mapping[str, Any]) -> ResourceSpec:
    """Every field checked as the CRD types and bounds it, each problem one line naming its field."""
    company_id = _get(spec, "api.companyId")
    if not company_id:
        raise SpecError("spec.api.companyId is required")
    if not isinstance(company_id, str) or not UUID.match(company_id):
        raise SpecError(f"spec.api.companyId {_shown(company_id)} is not a UUID")
    worker = spec.get("worker") or {}
    if not isinstance(worker, Mapping):
        raise SpecError(f"spec.worker must be an object, not {_shown(worker)}")
    pull_policy = worker.get("imagePullPolicy") or None
    if pull_policy is not None:
        pull_policy = _one_of("worker.imagePullPolicy", pull_policy, PULL_POLICIES)
    resources = worker.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise SpecError(f"spec.worker.resources must be an object, not {_shown(resources)}")
    try:
        return ResourceSpec(
            company_id=company_id,
            base_url=str(_get(spec, "api.baseUrl")),
            token_ref=_ref(spec, "api.tokenSecretRef"),
            dsn_ref=_ref(spec, "database.dsnSecretRef"),
            requests_per_second=_number(spec, "api.requestsPerSecond"),
            page_size=_integer(spec, "api.pageSize"),
            timeout_seconds=_number(spec, "api.timeoutSeconds"),
            inline_count=_integer(spec, "inline.count"),
            batch_size=_integer(spec, "batches.size"),
            parallelism=_integer(spec, "batches.parallelism"),
            max_attempts=_integer(spec, "batches.maxAttempts"),
            backoff_seconds=_number(spec, "batches.backoffSeconds"),
            backoff_max_seconds=_number(spec, "batches.backoffMaxSeconds"),
            active_deadline_seconds=_integer(spec, "batches.activeDeadlineSeconds"),
            ttl_seconds_after_finished=_integer(spec, "batches.ttlSecondsAfterFinished"),
            redact=_redact(spec),
            incremental=_boolean(spec, "incremental"),
            suspend=_boolean(spec, "suspend"),
            locale=_choice(spec, "timeline.locale", TIMELINE_LOCALES),
            webhooks=_webhooks(spec),
            webhook_max_age_seconds=_number(spec, "notifications.maxAgeSeconds"),
            worker=WorkerSpec(
                image=worker.get("image") or None,
                image_pull_policy=pull_policy,
                service_account_name=worker.get("serviceAccountName") or None,
                resources=dict(resources),
            ),
        )
    except SpecError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:  # a part of the spec that is not an object
        raise SpecError(f"spec has a value of the wrong type: {exc}") from None
