"""CA certificates the API client trusts on top of its bundle: a company's TLS-inspecting proxy, say.

The bundle is certifi's, or the one `SSL_CERT_FILE` / `SSL_CERT_DIR` name (`shared_ssl_context`).
Those replace it; these are added to it, so the API's public chain stays trusted beside the company's CA:

- `$EMPLOYES_SYNC_EXTRA_CA_FILE`: a PEM file, for the operator (the chart mounts a ConfigMap's key there)
  and the local CLI;
- `$EMPLOYES_SYNC_EXTRA_CA_PEM`: the certificates themselves. This is how the operator hands them to its
  Jobs: a Job's pod runs in the resource's namespace, where the operator's ConfigMap is not, and nothing
  in a resource's spec can mount a file into it. CA certificates are public; a Job's spec may show them.

Both are read once per process (`configured_extra_ca`), checked, and reduced to their certificates, so
the text the operator loads and the text its Jobs get are the same (a ConfigMap changed after the start
reaches neither until a restart), and the variable never carries anything else: a private key or any
other PEM block is refused, and text around the blocks (a bundle's comments) is dropped. At most 64 KiB:
a company's CAs are a few KB, Linux allows 128 KiB per environment string, and a Job's spec is stored
in etcd for every batch attempt.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import ssl
from collections.abc import Mapping

import certifi

from employes_sync.settings import EXTRA_CA_FILE_ENV, WORKER_EXTRA_CA_ENV

__all__ = [
    "MAX_EXTRA_CA_BYTES",
    "ExtraCAError",
    "certificates",
    "configured_extra_ca",
    "load_extra_ca",
    "read_extra_ca_file",
    "shared_ssl_context",
]

log = logging.getLogger(__name__)

MAX_EXTRA_CA_BYTES = 64 * 1024

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


class ExtraCAError(ValueError):
    """Extra CA certificates that cannot be used: one line naming the setting, the file and the problem."""


def certificates(text: str) -> list[bytes]:
    """The DER of each certificate in PEM `text`, in order; a `ValueError` saying what is wrong.

    Each must parse as an X.509 certificate (OpenSSL reads it, as it will when the context loads it).
    It need not be a CA's: a self-signed server certificate is a trust anchor as well.
    """
    if not text.strip():
        return []
    blocks = _BLOCK.findall(text)
    if text.count("-----BEGIN ") != len(blocks):
        raise ValueError("has a PEM block without its -----END line")
    found: list[bytes] = []
    for label, body in blocks:
        if "PRIVATE KEY" in label:
            raise ValueError(f"holds a private key ({label}); give only the CA's certificates")
        if label != "CERTIFICATE":
            raise ValueError(f"holds a {label} block; only CERTIFICATE blocks are taken")
        number = len(found) + 1
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"certificate {number} is not valid base64") from None
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=der)
        except ssl.SSLError:
            raise ValueError(f"certificate {number} does not parse as an X.509 certificate") from None
        found.append(der)
    return found


def _parse(data: bytes | str, where: str) -> list[bytes]:
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise ExtraCAError(
                f"{where}: is not PEM text (binary or non-ASCII; a DER certificate converts with "
                "`openssl x509 -inform der`)"
            ) from None
    if not data.isascii():
        raise ExtraCAError(f"{where}: is not PEM text (it holds non-ASCII characters)")
    try:
        found = certificates(data)
    except ValueError as exc:
        raise ExtraCAError(f"{where}: {exc}") from None
    if not found:
        raise ExtraCAError(f"{where}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return found


def _too_large(where: str, size: str) -> ExtraCAError:
    return ExtraCAError(
        f"{where}: is {size}, more than the {MAX_EXTRA_CA_BYTES // 1024} KiB of CA certificates "
        "the operator hands to its Jobs (a company's CAs are a few KB)"
    )


def read_extra_ca_file(path: str) -> list[bytes]:
    """The certificates of the PEM file at `path`; read at most one byte past the limit."""
    where = f"${EXTRA_CA_FILE_ENV}={path}"
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_EXTRA_CA_BYTES + 1)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ExtraCAError(f"{where}: cannot be read ({reason})") from None
    if len(data) > MAX_EXTRA_CA_BYTES:
        raise _too_large(where, f"larger than {MAX_EXTRA_CA_BYTES} bytes")
    return _parse(data, where)


def load_extra_ca(environ: Mapping[str, str]) -> str | None:
    """The extra CA certificates that `environ` names, as PEM text, or None when it names none.

    The file's and the variable's certificates together (a local worker inherits both), each once.
    """
    found: list[bytes] = []
    sources: list[str] = []
    path = environ.get(EXTRA_CA_FILE_ENV, "")
    if path:
        found += read_extra_ca_file(path)
        sources.append(f"${EXTRA_CA_FILE_ENV}")
    text = environ.get(WORKER_EXTRA_CA_ENV, "")
    if text:
        where = f"${WORKER_EXTRA_CA_ENV}"
        size = len(text.encode("utf-8", "replace"))
        if size > MAX_EXTRA_CA_BYTES:
            raise _too_large(where, f"{size} bytes")
        found += _parse(text, where)
        sources.append(where)
    if not found:
        return None
    unique = list(dict.fromkeys(found))
    pem = "".join(ssl.DER_cert_to_PEM_cert(der) for der in unique)
    if len(pem) > MAX_EXTRA_CA_BYTES:
        raise _too_large(" and ".join(sources), f"{len(pem)} bytes as PEM")
    return pem


@functools.cache
def configured_extra_ca() -> str | None:
    """`load_extra_ca(os.environ)`, once per process: what every client's TLS context adds, and what
    the operator gives its Jobs. Raises `ExtraCAError`; the commands call it first, to stop with it."""
    pem = load_extra_ca(os.environ)
    if pem is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=pem)
        names = [_common_name(cert) for cert in context.get_ca_certs()]
        sources = [f"${name}" for name in (EXTRA_CA_FILE_ENV, WORKER_EXTRA_CA_ENV) if os.environ.get(name)]
        log.info(
            "trusting %d extra CA certificate(s) from %s besides the default bundle: %s",
            pem.count("-----BEGIN CERTIFICATE-----"),
            " and ".join(sources),
            ", ".join(name for name in names if name) or "(no subject names)",
        )
    return pem


def _common_name(cert: Mapping[str, object]) -> str:
    subject = cert.get("subject")
    if not isinstance(subject, tuple):
        return ""
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context (verification on) for every client of the process: the API client's and the
    webhooks' deliverer's.

    Loading the CA bundle per client was most of the operator's CPU when 200 resources started at
    once, and a megabyte of memory per concurrent run; a context is safe to share between connections.
    The bundle is certifi's unless `SSL_CERT_FILE` or `SSL_CERT_DIR` names another, as with httpx,
    which this client used before. The certificates of `$EMPLOYES_SYNC_EXTRA_CA_FILE` and
    `$EMPLOYES_SYNC_EXTRA_CA_PEM` (a TLS-inspecting proxy's CA, say) are trusted as well:
    loaded from the text read once at start (`cadata`), the very text the operator gives its Jobs.
    """
    if os.environ.get("SSL_CERT_FILE"):
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        context = ssl.create_default_context(cafile=certifi.where())
    extra = configured_extra_ca()
    if extra is not None:
        context.load_verify_locations(cadata=extra)
    return context
