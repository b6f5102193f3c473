"""Reading the token and DSN from Secrets, with errors that say which Secret and key is wrong.

Only Secrets that opt in with the label `employessync.io/secret: "true"` are read: whoever may write an
EmployesSync could otherwise name any Secret of the namespace and have the operator send its value to
the API. The label is first checked on the Secret's metadata alone (a PartialObjectMetadata read), so
the data of a Secret the operator has not seen labelled never reaches it. A Secret this resource read,
labelled, a moment ago (`labelled_before`) is read in one GET and its label checked on that same
object: a run then waits for one round trip instead of two, and a label removed meanwhile still keeps
its data from being used.

Errors name the Secret and the asked key and never a value or the Secret's other keys; the value is
returned and nothing else keeps it (no log line, no status field, no event).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client import ApiException

from employes_sync.kube.kubeapi import KubeApi
from employes_sync.kube.problem import Problem
from employes_sync.kube.spec import SecretRef

SECRET_LABEL = "employessync.io/secret"
SECRET_NOT_ALLOWED = "SecretNotAllowed"


def opted_in(metadata: Mapping[str, Any]) -> bool:
    """Whether a Secret's owner let EmployesSync resources use it."""
    return (metadata.get("labels") or {}).get(SECRET_LABEL) == "true"


def _not_allowed(namespace: str, name: str, what: str) -> Problem:
    return Problem(
        SECRET_NOT_ALLOWED,
        f'Secret {namespace}/{name} (the {what}) is not labelled {SECRET_LABEL}: "true"; the operator'
        f" reads only Secrets that opt in (kubectl -n {namespace} label secret {name}"
        f" {SECRET_LABEL}=true)",
    )


async def _read(api: KubeApi, namespace: str, name: str, what: str, *, metadata: bool) -> dict[str, Any]:
    try:
        if metadata:
            return await api.read_secret_metadata(namespace, name)
        return await api.read_secret(namespace, name)
    except ApiException as exc:
        if exc.status == 404:
            raise Problem(
                "SecretNotFound", f"Secret {namespace}/{name} (the {what}) does not exist"
            ) from None
        if exc.status == 403:
            raise Problem(
                "SecretForbidden", f"the operator may not read Secret {namespace}/{name} (the {what})"
            ) from None
        raise Problem(
            "SecretUnreadable", f"Secret {namespace}/{name} (the {what}) could not be read: HTTP {exc.status}"
        ) from None


async def read_labelled_secret(
    api: KubeApi, namespace: str, name: str, what: str, *, labelled_before: bool = False
) -> dict[str, Any]:
    """The whole Secret, once its label says it opted in; `what` says what it is for, for the message.

    One read serves every key a resource takes from this Secret (the token and the DSN often share
    one): the label belongs to the Secret, not to a key, so one check covers them all.
    `labelled_before`: the caller read this Secret, labelled, recently; skip the metadata read.
    """
    if not labelled_before and not opted_in(await _read(api, namespace, name, what, metadata=True)):
        raise _not_allowed(namespace, name, what)
    secret = await _read(api, namespace, name, what, metadata=False)
    if not opted_in(secret.get("metadata") or {}):  # the label was removed in between: its data unused
        raise _not_allowed(namespace, name, what)
    return secret


#: What is wrong with a key's value for its purpose, worded to follow "(the API token)"; None: usable.
ValueCheck = Callable[[str], str | None]


def secret_value(
    secret: Mapping[str, Any], namespace: str, ref: SecretRef, what: str, *, check: ValueCheck | None = None
) -> str:
    """The decoded value of one key of a Secret read by `read_labelled_secret`.

    `check`: a value its purpose cannot use is refused here, by reason and without quoting it
    (`settings.token_problem`: a bearer token a header cannot hold, instead of failing in the HTTP
    library with its offending character; `dsn.dsn_problem`: a DSN libpq would misread and dial).
    """
    data = secret.get("data") or {}
    if ref.key not in data:
        raise Problem(
            "SecretKeyNotFound", f"Secret {namespace}/{ref.name} has no key {ref.key!r} (the {what})"
        )
    try:
        value = base64.b64decode(data[ref.key], validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        raise Problem(
            "SecretKeyInvalid", f"key {ref.key!r} of Secret {namespace}/{ref.name} is not valid UTF-8 text"
        ) from None
    if not value:
        raise Problem("SecretKeyEmpty", f"key {ref.key!r} of Secret {namespace}/{ref.name} is empty")
    if check is not None and (problem := check(value)):
        raise Problem(
            "SecretKeyInvalid", f"key {ref.key!r} of Secret {namespace}/{ref.name} (the {what}) {problem}"
        )
    return value
