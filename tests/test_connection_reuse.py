"""SecretsRead: when a pass may use the token and DSN read before instead of reading again; its repr."""

from __future__ import annotations

import time

from employes_sync.controller.connection import SECRETS_REUSE_SECONDS, SecretsRead
from employes_sync.kube.spec import SecretRef

REFS = (SecretRef("esync", "token"), SecretRef("esync", "dsn"))


def test_an_idle_pass_reuses_a_recent_read_of_the_same_references_only() -> None:
    read = SecretsRead(REFS, "t", "d", at=time.monotonic())
    assert read.usable(REFS, reuse=True, fresh_since=None)
    other = (SecretRef("other", "token"), REFS[1])
    assert not read.usable(other, reuse=True, fresh_since=None)  # another Secret named: read it
    stale = SecretsRead(REFS, "t", "d", at=time.monotonic() - SECRETS_REUSE_SECONDS - 1)
    assert not stale.usable(REFS, reuse=True, fresh_since=None)


def test_a_run_uses_only_what_its_own_pass_read() -> None:
    began = time.monotonic()
    read_by_this_pass = SecretsRead(REFS, "t", "d", at=began + 0.01)
    assert read_by_this_pass.usable(REFS, reuse=False, fresh_since=began)
    read_before = SecretsRead(REFS, "t", "d", at=began - 1)  # reused by the pass: a run reads afresh
    assert not read_before.usable(REFS, reuse=False, fresh_since=began)
    assert not read_by_this_pass.usable(REFS, reuse=False, fresh_since=None)


def test_its_repr_shows_neither_the_token_nor_the_dsn() -> None:
    """A repr reaches a log line or a traceback (`%r`, pytest's assertion rewriting, a debugger)."""
    token, dsn = "tok-3c9a1f", "postgresql://sync:pw-7e21b@db.internal:5432/payroll"
    read = SecretsRead(REFS, token, dsn, at=time.monotonic())
    for text in (repr(read), str(read), repr([read])):
        assert token not in text and dsn not in text and "pw-7e21b" not in text
    assert "esync" in repr(read)  # the references still say which Secrets were read
