"""Standard Webhooks (standardwebhooks.com) signatures, through the specification's own library.

A message is signed as ``v1,`` + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))
under a secret written ``whsec_<base64 key>``. The headers go with every attempt; the id stays the same
across attempts so a receiver can drop a duplicate, the timestamp is the attempt's.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from employes_sync.settings import has_space_or_control

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 16


class WebhookConfigError(ValueError):
    """A webhook that cannot be used; the message names the webhook, never its URL or secret."""


def parse_secret(text: str, webhook: str) -> str:
    """The signing secret, checked: ``whsec_`` and the base64 of at least 16 bytes."""
    secret = text.strip()
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookConfigError(f"webhook {webhook}: the signing secret must start with {SECRET_PREFIX}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Unpadded base64 is accepted, as the Standard Webhooks libraries accept it (they add the
        # padding): a secret one of them made or verifies with was refused here. Anything else that
        # is not the standard alphabet stays refused: those libraries skip such characters and would
        # verify with another key than ours.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookConfigError(f"webhook {webhook}: the signing secret is not whsec_ + base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise WebhookConfigError(
            f"webhook {webhook}: the signing secret is shorter than {MIN_KEY_BYTES} bytes"
        )
    return secret


def check_url(text: str, webhook: str, *, allow_insecure: bool = False) -> str:
    """The receiver URL, checked; http only with allow_insecure (the URL may hold a token: never shown)."""
    url = text.strip()
    if has_space_or_control(url):
        # aiohttp drops a newline from the path and quotes a space: the events would go to another
        # path, or (in the host) fail every attempt until they dead-letter, a day later.
        raise WebhookConfigError(f"webhook {webhook}: the receiver URL holds a space or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookConfigError(f"webhook {webhook}: the receiver URL is not a valid URL") from None
    if port == 0:
        raise WebhookConfigError(f"webhook {webhook}: the receiver URL's port 0 cannot be connected to")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookConfigError(f"webhook {webhook}: the receiver URL must be an https:// URL with a host")
    try:
        parts.hostname.encode("idna")  # as the resolver encodes it: an empty or 64-letter label fails
    except UnicodeError:
        raise WebhookConfigError(
            f"webhook {webhook}: the receiver URL's host is not a valid host name"
        ) from None
    if parts.scheme == "http" and not allow_insecure:
        raise WebhookConfigError(
            f"webhook {webhook}: the receiver URL is not https; set allowInsecure: true to send over http"
        )
    return url


def sign_headers(secret: str, msg_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }
