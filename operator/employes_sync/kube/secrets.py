"""Reading the token and DSN from Secrets, with errors that say which Secret and key is wrong.

Errors name the Secret and the key and never the value; the value is returned and nothing else
keeps it (no log line, no status field, no event).
"""

from __future__ import annotations

import base64
import binascii

from kubernetes.client import ApiException

from employes_sync.kube.kubeapi import KubeApi
from employes_sync.kube.problem import Problem
from employes_sync.kube.spec import SecretRef


async def read_secret_value(api: KubeApi, namespace: str, ref: SecretRef, what: str) -> str:
    """The decoded value of one key; `what` says what it is for ("API token"), for the message."""
    try:
        secret = await api.read_secret(namespace, ref.name)
    except ApiException as exc:
        if exc.status == 404:
            raise Problem(
                "SecretNotFound", f"Secret {namespace}/{ref.name} (the {what}) does not exist"
            ) from None
        if exc.status == 403:
            raise Problem(
                "SecretForbidden", f"the operator may not read Secret {namespace}/{ref.name} (the {what})"
            ) from None
        raise Problem(
            "SecretUnreadable",
            f"Secret {namespace}/{ref.name} (the {what}) could not be read: HTTP {exc.status}",
        ) from None
    data = secret.get("data") or {}
    if ref.key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise Problem(
            "SecretKeyNotFound",
            f"Secret {namespace}/{ref.name} has no key {ref.key!r} (the {what}); its keys: {keys}",
        )
    try:
        value = base64.b64decode(data[ref.key], validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        raise Problem(
            "SecretKeyInvalid", f"key {ref.key!r} of Secret {namespace}/{ref.name} is not valid UTF-8 text"
        ) from None
    if not value:
        raise Problem("SecretKeyEmpty", f"key {ref.key!r} of Secret {namespace}/{ref.name} is empty")
    return value
