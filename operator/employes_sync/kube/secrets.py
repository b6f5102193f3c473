"""Reading the token and DSN from Secrets, with errors that say which Secret and key is wrong.

Errors name the Secret and the key and never the value; the value is returned and nothing else
keeps it (no log line, no status field, no event).
"""

from __future__ import annotations

import base64
import binascii

from kubernetes.client import ApiException

from employes_sync.kube.kubeapi import KubeApi
from employes_sync.kube.spec import SecretRef


class SecretProblem(Exception):
    """A referenced Secret cannot be used; `reason` is CamelCase for conditions and events."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def read_secret_value(api: KubeApi, namespace: str, ref: SecretRef, what: str) -> str:
    """The decoded value of one key; `what` says what it is for ("API token"), for the message."""
    try:
        secret = await api.read_secret(namespace, ref.name)
    except ApiException as exc:
        if exc.status == 404:
            raise SecretProblem(
                "SecretNotFound", f"Secret {namespace}/{ref.name} (the {what}) does not exist"
            ) from None
        if exc.status == 403:
            raise SecretProblem(
                "SecretForbidden", f"the operator may not read Secret {namespace}/{ref.name} (the {what})"
            ) from None
        raise SecretProblem(
            "SecretUnreadable",
            f"Secret {namespace}/{ref.name} (the {what}) could not be read: HTTP {exc.status}",
        ) from None
    data = secret.get("data") or {}
    if ref.key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise SecretProblem(
            "SecretKeyNotFound",
            f"Secret {namespace}/{ref.name} has no key {ref.key!r} (the {what}); its keys: {keys}",
        )
    try:
        value = base64.b64decode(data[ref.key], validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        raise SecretProblem(
            "SecretKeyInvalid", f"key {ref.key!r} of Secret {namespace}/{ref.name} is not valid UTF-8 text"
        ) from None
    if not value:
        raise SecretProblem("SecretKeyEmpty", f"key {ref.key!r} of Secret {namespace}/{ref.name} is empty")
    return value
