"""Settings checks: a URL the client cannot use is refused up front, in one line, never quoting a secret."""

from __future__ import annotations

import pytest

from employes_sync.settings import SettingsError, SyncSettings, check_api_url
from tests.reliability import rows

COMPANY = "00000000-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:99999/v4", "invalid port '99999'"),
        ("http://127.0.0.1:0/v4", "invalid port '0'"),
        ("http://127.0.0.1:abc/v4", "invalid port 'abc'"),
        ("http://h:/v4", "has an empty port after ':'"),  # urlsplit reads no port at all
        ("https://api.example:/v4", "has an empty port after ':'"),
        ("http://[::1]:/v4", "has an empty port after ':'"),
        ("http://[::1:8089/v4", "malformed IPv6 address"),
        ("http://[zz]:8089/v4", "malformed IPv6 address"),
        ("http://[::1]x:8089/v4", "malformed IPv6 address"),  # urlsplit reads host ::1
        ("http://[::1]evil.example/v4", "malformed IPv6 address"),
        ("http://127.0.0.1:8089/v4?x=1", "must not have a query"),
        ("http://127.0.0.1:8089/v4#top", "must not have a query (?...) or a fragment"),
        ("ftp://example.com/v4", "is not an http(s) URL"),
        ("http:///v4", "has no host"),
        ("http://exa mple.com/v4", "whitespace"),
        ("http://bad..host/v4", "invalid host name"),
        ("", "must not be empty"),
    ],
)
@pytest.mark.fault(*rows.UNUSABLE_API_URLS_ARE_REFUSED_WITH_A_REASON)
def test_unusable_api_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        check_api_url(url)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://apiuser:s3cretpw@127.0.0.1:8089/v4",
        "http://s3cretpw@127.0.0.1:8089/v4",
        "https://connect.employes.nl/v4?api_key=s3cretpw",
        "https://connect.employes.nl/v4#s3cretpw",
        "http://apiuser:s3cretpw@[::1:8089/v4",
    ],
)
@pytest.mark.fault(*rows.A_CREDENTIAL_IN_THE_URL_IS_REFUSED_WITHOUT_BEING_QUOTED)
def test_a_credential_in_the_url_is_refused_without_being_quoted(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        SyncSettings(scope="local/x", company_id=COMPANY, api_url=url)
    assert "s3cretpw" not in str(caught.value)
    assert "apiuser" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://connect.employes.nl/v4",
        "http://127.0.0.1:8089/v4",
        "http://[::1]:8089/v4",
        "http://simulator.employes-sync.svc.cluster.local:8089/v4/",
        "https://localhost/v4",
    ],
)
def test_usable_api_urls_pass(url: str) -> None:
    check_api_url(url)
    assert SyncSettings(scope="local/x", company_id=COMPANY, api_url=url).api_url == url.rstrip("/")
