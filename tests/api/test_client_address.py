"""Throttles and the failed-authentication limit count per client address, and the
address trusts X-Forwarded-For only as far as the configured proxies."""

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from core.clientip import client_address
from tests.api.conftest import key_client, make_init_data

pytestmark = pytest.mark.django_db


def rates(settings, **rates):
    limits = {"user": None, "api_key": None, "anon": None, "auth_failures": None, **rates}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": limits}


def request_from(peer: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        (0, "6.6.6.6", "10.0.0.1"),  # no proxy: the header is the client's own claim
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # our proxy appended the real client
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),  # fewer entries than proxies: all written by ours
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_client_address_trusts_only_the_configured_proxies(settings, proxies, forwarded, client):
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_address(request_from("10.0.0.1", forwarded)) == client


def test_a_spoofed_forwarded_header_gets_no_fresh_throttle_bucket(settings, tariffs):
    # given no proxy in front and a limit of 2 anonymous requests a minute
    settings.TRUSTED_PROXY_COUNT = 0
    rates(settings, anon="2/min")

    # when one client sends each request with another made-up X-Forwarded-For
    codes = [APIClient().get("/api/v1/tariffs", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code for i in range(3)]

    # then they all count against the one real address
    assert codes == [200, 200, 429]


def test_behind_a_proxy_each_real_client_has_its_own_bucket(settings, tariffs):
    settings.TRUSTED_PROXY_COUNT = 1
    rates(settings, anon="1/min")

    first = APIClient().get("/api/v1/tariffs", HTTP_X_FORWARDED_FOR="spoof, 198.51.100.1")
    other = APIClient().get("/api/v1/tariffs", HTTP_X_FORWARDED_FOR="spoof, 198.51.100.2")
    again = APIClient().get("/api/v1/tariffs", HTTP_X_FORWARDED_FOR="other-spoof, 198.51.100.1")

    assert [first.status_code, other.status_code, again.status_code] == [200, 200, 429]


# --- Failed authentication -------------------------------------------------------------


def test_failed_api_key_attempts_are_limited_per_address(settings, issued_key):
    # given at most 3 failed authentications a minute per address
    rates(settings, auth_failures="3/min")
    prefix = issued_key.raw_key.split(".")[0]

    # when one address keeps guessing secrets
    codes = [key_client(f"{prefix}.guess-{i}", 4300).get("/api/v1/me").status_code for i in range(5)]

    # then it is refused with 429 after 3 failures, even with the right key, before the key is checked
    assert codes == [401, 401, 401, 429, 429]
    blocked = key_client(issued_key.raw_key, 4300).get("/api/v1/me")
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "throttled"
    assert int(blocked["Retry-After"]) > 0


def test_failed_init_data_attempts_are_limited_per_address(settings):
    rates(settings, auth_failures="2/min")
    forged = make_init_data(telegram_id=9100).replace("hash=", "hash=0")

    def attempt(init_data):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"tma {init_data}")
        return client.get("/api/v1/me").status_code

    assert [attempt(forged) for _ in range(3)] == [401, 401, 429]
    assert attempt(make_init_data(telegram_id=9100)) == 429


def test_failures_of_one_address_do_not_block_another(settings, issued_key):
    settings.TRUSTED_PROXY_COUNT = 1
    rates(settings, auth_failures="1/min")

    def me(raw_key, address):
        return key_client(raw_key, 4301).get("/api/v1/me", HTTP_X_FORWARDED_FOR=address).status_code

    assert [me("bad.key", "198.51.100.1"), me("bad.key", "198.51.100.1")] == [401, 429]
    assert me(issued_key.raw_key, "198.51.100.2") == 200


def test_successful_authentications_are_not_counted(settings, issued_key):
    rates(settings, auth_failures="1/min")

    codes = [key_client(issued_key.raw_key, 4302).get("/api/v1/me").status_code for _ in range(3)]

    assert codes == [200, 200, 200]
