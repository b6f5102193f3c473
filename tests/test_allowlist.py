"""The operator's allowlists: which API URLs get a token, which images and ServiceAccounts run Jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from employes_sync.allowlist import (
    API_HOST_NOT_ALLOWED,
    SERVICE_ACCOUNT_NOT_ALLOWED,
    WORKER_IMAGE_NOT_ALLOWED,
    AllowlistError,
    Allowlists,
    normalize_url,
    shown_url,
)
from tests.reliability import rows

V4 = "https://connect.employes.nl/v4"
SIM = "http://employes-sync-simulator.payroll.svc:8089/v4"


def test_by_default_only_the_employes_v4_url_gets_a_token() -> None:
    allow = Allowlists.build()
    assert allow.api_url_refusal(V4) is None
    assert (
        allow.api_url_refusal("https://CONNECT.employes.nl:443/v4/") is None
    )  # the same URL, written otherwise
    for other in (
        "https://evil.example/v4",
        "http://connect.employes.nl/v4",  # plain http of an allowed https URL
        "https://connect.employes.nl/v5",
        "https://connect.employes.nl/v4/../v4x",
        "https://connect.employes.nl:8443/v4",
        "https://connect.employes.nl.evil.example/v4",
    ):
        refusal = allow.api_url_refusal(other)
        assert refusal is not None and refusal.reason == API_HOST_NOT_ALLOWED, other
        assert "no request was made" in refusal.message and V4 in refusal.message


def test_http_needs_the_http_url_listed_itself() -> None:
    refusal = Allowlists.build().api_url_refusal("http://connect.employes.nl/v4")
    assert refusal is not None and "plain http" in refusal.message
    allow = Allowlists.build(api_urls=[V4, SIM])
    assert allow.api_url_refusal(SIM) is None
    assert allow.api_url_refusal("https://employes-sync-simulator.payroll.svc:8089/v4") is not None
    assert allow.api_url_refusal(V4) is None


def test_giving_urls_replaces_the_default() -> None:
    allow = Allowlists.build(api_urls=["https://proxy.example/employes/v4"])
    assert allow.api_url_refusal("https://proxy.example/employes/v4") is None
    assert allow.api_url_refusal(V4) is not None


@pytest.mark.fault(*rows.CREDENTIALS_IN_A_RESOURCE_URL_ARE_REFUSED_AND_NEVER_SHOWN)
def test_credentials_in_a_resource_url_are_refused_and_never_shown() -> None:
    allow = Allowlists.build(api_urls=[V4])
    for url in (
        "https://apiuser:hunter2@connect.employes.nl/v4",
        "https://connect.employes.nl/v4?api_key=hunter2",
        "https://connect.employes.nl/v4#hunter2",
    ):
        refusal = allow.api_url_refusal(url)
        assert refusal is not None and refusal.reason == API_HOST_NOT_ALLOWED
        assert "hunter2" not in refusal.message and "apiuser" not in refusal.message
    garbage = allow.api_url_refusal("not a url")
    assert garbage is not None and garbage.reason == API_HOST_NOT_ALLOWED
    assert "https://[::1]:8443/v4" == shown_url("https://u:hunter2@[::1]:8443/v4").split(" ")[0]
    assert "hunter2" not in shown_url("https://u:hunter2@[::1]:8443/v4?x=hunter2")
    assert shown_url("https://h:99999/v4") == "<invalid URL>"


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Connect.Employes.NL/v4/", "https://connect.employes.nl/v4"),
        ("http://sim:80/v4", "http://sim/v4"),
        ("http://sim:8089/v4", "http://sim:8089/v4"),
        ("https://[::1]:443/v4", "https://[::1]/v4"),
        ("https://h", "https://h"),
        ("https://h/V4", "https://h/V4"),  # paths are case-sensitive
    ],
)
def test_urls_are_compared_in_one_form(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]x:8089/v4",  # urlsplit: host ::1, port 8089; another parser: another host
        "http://[::1]evil.example:8089/v4",
        "https://connect.employes.nl\t/v4",  # urlsplit drops tabs and line breaks anywhere
        "https://connect.emp\nloyes.nl/v4",
        "\x00https://connect.employes.nl/v4",  # ... and control characters in front
        "https://connect.employes.nl\x7f/v4",
        "https://connect.employes.nl\\@evil.example/v4",
        "https://evil.example\\.connect.employes.nl/v4",
        "https://connect.employes.nl%2eevil.example/v4",
        "https://connect.employes.\u212anl/v4",  # the Kelvin sign lower-cases to "k"
        "https://c\u043ennect.employes.nl/v4",  # a Cyrillic o
        "https://connect.employes.nl./v4",
        "https://connect.employes.nl:8443/v4",
        "https://connect.employes.nl:/v4",  # urlsplit: the default port
        "https://connect.employes.nl/v4/..",
        "https://connect.employes.nl/v4/%2e%2e/v5",
        "https://connect.employes.nl/v4evil",
        "https://connect.employes.nl/v4;x",
        "http://[::1]:8089/v4",  # listed for http://127.0.0.1 only
        "http://[0:0::1]:8089/v4",
    ],
)
@pytest.mark.fault(*rows.A_URL_THE_COMPARISON_WOULD_CLEAN_IS_REFUSED)
def test_a_url_the_comparison_would_read_otherwise_is_refused(url: str) -> None:
    """What is compared is the text the client is given: nothing urlsplit cleans or reads oddly passes."""
    allow = Allowlists.build(api_urls=[V4, "http://127.0.0.1:8089/v4"])
    refusal = allow.api_url_refusal(url)
    assert refusal is not None and refusal.reason == API_HOST_NOT_ALLOWED, url
    assert "\n" not in refusal.message
    if "[::1]" in url and "[::1]:" not in url:  # no cleaned copy (naming ::1) is shown
        assert "http://[::1]:8089" not in refusal.message.split("(allowed:")[0], refusal.message


@pytest.mark.parametrize(
    "url",
    [
        "https://CONNECT.Employes.NL/v4", "HTTPS://connect.employes.nl/v4",
        "https://connect.employes.nl:443/v4", "https://connect.employes.nl:0443/v4/",
        "https://connect.employes.nl/v4//", " https://connect.employes.nl/v4 ",
    ],
)  # fmt: skip
def test_the_same_url_written_otherwise_is_allowed(url: str) -> None:
    assert Allowlists.build(api_urls=[V4]).api_url_refusal(url) is None


@pytest.mark.parametrize(
    "entry",
    [
        "ftp://h/v4",
        "https://u:p@h/v4",
        "https://h/v4?k=v",
        "https://h/v4#f",
        "https://h:70000/v4",
        "https://h:/v4",
        "/v4",
    ],
)
def test_an_unusable_allowlist_entry_stops_the_operator_with_one_line(entry: str) -> None:
    with pytest.raises(AllowlistError) as caught:
        Allowlists.build(api_urls=[entry])
    message = str(caught.value)
    assert "\n" not in message and "cannot be used" in message
    assert ":p@" not in message and "k=v" not in message


def test_an_empty_port_is_refused_and_shown_as_written() -> None:
    refusal = Allowlists.build(api_urls=[V4]).api_url_refusal("https://connect.employes.nl:/v4")
    assert refusal is not None and refusal.reason == API_HOST_NOT_ALLOWED
    assert refusal.message == (
        "spec.api.baseUrl https://connect.employes.nl:/v4 cannot be used:"
        " its port is empty (nothing after ':')"
    )


def test_the_operators_own_image_and_service_account_are_always_allowed() -> None:
    allow = Allowlists.build(default_image="employes-sync:0.1.0", default_service_account="esync-worker")
    assert allow.worker_refusal(None, None) is None  # the defaults
    assert allow.worker_refusal("employes-sync:0.1.0", "esync-worker") is None
    image = allow.worker_refusal("attacker/img", None)
    assert image is not None and image.reason == WORKER_IMAGE_NOT_ALLOWED
    assert "'attacker/img'" in image.message and "employes-sync:0.1.0" in image.message
    account = allow.worker_refusal(None, "ci-deployer")
    assert account is not None and account.reason == SERVICE_ACCOUNT_NOT_ALLOWED
    assert "no Job was created" in account.message
    # A tag is part of the image: another tag of the same repository is another image.
    assert allow.worker_refusal("employes-sync:latest", None) is not None


def test_more_images_and_accounts_can_be_allowed() -> None:
    allow = Allowlists.build(
        worker_images=["registry.example/esync:1.2.3", " "],
        worker_service_accounts=["batch"],
        default_image="employes-sync:0.1.0",
    )
    assert allow.worker_refusal("registry.example/esync:1.2.3", "batch") is None
    assert allow.worker_refusal(None, "default") is not None
    with pytest.raises(AllowlistError):
        Allowlists.build(worker_images=["two words"])


def test_refusal_checks_the_api_url_first() -> None:
    allow = Allowlists.build(default_image="img")
    refusal = allow.refusal("https://evil.example/v4", "attacker/img", "ci-deployer")
    assert refusal is not None and refusal.reason == API_HOST_NOT_ALLOWED
    refusal = allow.refusal(V4, "attacker/img", "ci-deployer")
    assert refusal is not None and refusal.reason == WORKER_IMAGE_NOT_ALLOWED
    assert allow.refusal(V4, None, None) is None


def test_a_long_allowlist_is_named_in_part() -> None:
    allow = Allowlists.build(api_urls=[f"https://h{i}.example/v4" for i in range(12)])
    refusal = allow.api_url_refusal("https://other.example/v4")
    assert refusal is not None and "and 7 more" in refusal.message


def test_environment_values_are_comma_separated() -> None:
    assert Allowlists.parse_env(f" {V4}, ,{SIM} ") == [V4, SIM]
    assert Allowlists.parse_env(None) == []


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--allow-api-url", "https://apiuser:hunter2@connect.employes.nl/v4"], {}),
        ([], {"EMPLOYES_SYNC_ALLOWED_API_URLS": "https://connect.employes.nl/v4?api_key=hunter2"}),
        (["--allow-worker-image", "two hunter2"], {}),
    ],
    ids=["flag-userinfo", "env-query", "image-with-space"],
)
def test_the_operator_refuses_an_unusable_allowlist_in_one_line(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "employes_sync", "operator", "-n", "payroll", *args],
        env={
            **os.environ,
            "EMPLOYES_SYNC_DATA_DIR": str(tmp_path),
            "KUBECONFIG": str(tmp_path / "none"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "cannot be used" in result.stderr or "whitespace" in result.stderr
    if "://" in "".join(args) + "".join(env.values()):
        assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
