"""The Remnawave client against the fake panel (API generations 2.x and 3.x)."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integrations.remnawave import (
    PanelNotFound,
    PanelRejected,
    PanelUnavailable,
    PanelUser,
    RemnawaveClient,
    format_panel_datetime,
)
from tests.fakes.remnawave_fixtures import both_panel_versions


def make_client(panel, **overrides) -> RemnawaveClient:
    options = {"base_url": panel.url, "token": panel.token, "timeout": 0.5, "max_retries": 2, "retry_backoff": 0.01}
    options.update(overrides)
    return RemnawaveClient(**options)


def in_days(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


@both_panel_versions
def test_api_version_is_detected_once(fake_panel):
    client = make_client(fake_panel)

    assert client.api_version == fake_panel.version
    assert client.api_version == fake_panel.version

    assert len(fake_panel.calls_to("GET", "/api/users/stream")) == 1


def test_configured_api_version_is_not_probed(fake_panel):
    client = make_client(fake_panel, api_version="2")

    client.find_by_username("tg_1")

    assert fake_panel.calls_to("GET", "/api/users/stream") == []


@both_panel_versions
def test_create_then_find_by_username(fake_panel):
    client = make_client(fake_panel)
    expires = in_days(30)

    created = client.create_user(
        username="tg_42", expire_at=expires, telegram_id=42, squads=["sq"], traffic_limit_bytes=10, device_limit=3
    )
    found = client.find_by_username("tg_42")

    assert found == created
    assert found.expire_at == expires
    assert found.subscription_url.endswith(found.short_uuid)
    stored = fake_panel.user("tg_42")
    assert stored["activeInternalSquads"] == ["sq"]
    assert stored["trafficLimitBytes"] == 10
    assert stored["hwidDeviceLimit"] == 3
    assert stored["telegramId"] == 42


@both_panel_versions
def test_user_identity_follows_the_api_generation(fake_panel):
    client = make_client(fake_panel)

    user = client.create_user(username="tg_43", expire_at=in_days(5))

    if fake_panel.version == "2":
        assert user.uuid and user.id is None
    else:
        assert user.id is not None and user.uuid == ""


@both_panel_versions
def test_missing_user_is_none(fake_panel):
    assert make_client(fake_panel).find_by_username("tg_404") is None


@both_panel_versions
def test_find_by_telegram_id_uses_the_generation_endpoint(fake_panel):
    client = make_client(fake_panel)
    client.create_user(username="tg_77", expire_at=in_days(5), telegram_id=77)

    found = client.find_by_telegram_id(77)
    missing = client.find_by_telegram_id(78)

    assert [u.username for u in found] == ["tg_77"]
    assert missing == []
    endpoint = "/api/users/by-telegram-id/" if fake_panel.version == "2" else "/api/users/stream"
    assert fake_panel.calls_to("GET", endpoint)


@both_panel_versions
def test_update_sends_absolute_expiry_with_the_generation_identity(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_44", expire_at=in_days(5))
    new_expiry = in_days(40)

    updated = client.update_user(user, expire_at=new_expiry, status="ACTIVE")

    assert updated.expire_at == new_expiry
    body = fake_panel.calls_to("PATCH", "/api/users")[-1].body
    assert body["expireAt"] == format_panel_datetime(new_expiry)
    if fake_panel.version == "2":
        assert body["uuid"] == user.uuid and "id" not in body
    else:
        assert body["id"] == user.id and "uuid" not in body


@both_panel_versions
def test_disable_and_enable(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_45", expire_at=in_days(5))

    assert client.disable_user(user).status == "DISABLED"
    assert client.enable_user(user).status == "ACTIVE"


@both_panel_versions
def test_delete(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_46", expire_at=in_days(5))

    client.delete_user(user)

    assert client.find_by_username("tg_46") is None


def test_subscription_url_is_read_from_the_panel(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_47", expire_at=in_days(5))

    assert client.subscription_url("tg_47") == user.subscription_url


def test_3x_bad_id_is_a_validation_error_not_not_found(fake_panel):
    fake_panel.version = "3"
    client = make_client(fake_panel, api_version="3")
    ghost = PanelUser(username="tg_1", status="ACTIVE", expire_at=None, api_version="3", uuid="x", id=None)

    with pytest.raises(PanelRejected) as caught:
        client.disable_user(ghost)  # /api/users/None/actions/disable

    assert caught.value.status == 400
    assert not isinstance(caught.value, PanelNotFound)


@both_panel_versions
def test_past_expiry_is_rejected_with_the_panel_error(fake_panel):
    client = make_client(fake_panel)

    with pytest.raises(PanelRejected) as caught:
        client.create_user(username="tg_48", expire_at=in_days(-1))

    assert caught.value.status == 400
    assert caught.value.error_code == "A001"
    assert "past" in str(caught.value)


def test_duplicate_username_is_rejected(fake_panel):
    client = make_client(fake_panel)
    client.create_user(username="tg_49", expire_at=in_days(5))

    with pytest.raises(PanelRejected) as caught:
        client.create_user(username="tg_49", expire_at=in_days(5))

    assert caught.value.error_code == "A019"


def test_5xx_is_retried_until_it_succeeds(fake_panel):
    client = make_client(fake_panel, api_version="2")
    fake_panel.fail_next(2, status=502)

    assert client.find_by_username("tg_50") is None

    assert len(fake_panel.calls_to("GET", "/api/users/by-username")) == 3


def test_5xx_beyond_the_retries_is_unavailable(fake_panel):
    client = make_client(fake_panel, api_version="2", max_retries=1)
    fake_panel.fail_next(5, status=500)

    with pytest.raises(PanelUnavailable) as caught:
        client.find_by_username("tg_51")

    assert caught.value.status == 500
    assert caught.value.error_code == "E500"
    assert len(fake_panel.calls) == 2


def test_4xx_is_never_retried(fake_panel):
    client = make_client(fake_panel, api_version="2")

    with pytest.raises(PanelRejected):
        client.create_user(username="x", expire_at=in_days(5))  # too short

    assert len(fake_panel.creates()) == 1


def test_wrong_token_is_rejected_once(fake_panel):
    client = make_client(fake_panel, api_version="2", token="wrong")

    with pytest.raises(PanelRejected) as caught:
        client.find_by_username("tg_52")

    assert caught.value.status == 401
    assert len(fake_panel.calls) == 1


def test_timeout_is_retried_then_unavailable(fake_panel):
    client = make_client(fake_panel, api_version="2", timeout=0.2, max_retries=1)
    fake_panel.delay_next(0.6, count=2)

    with pytest.raises(PanelUnavailable):
        client.find_by_username("tg_53")

    assert len(fake_panel.calls) == 2


def test_connection_refused_is_unavailable():
    client = RemnawaveClient(base_url="http://127.0.0.1:9", token="t", api_version="2", max_retries=1, retry_backoff=0)

    with pytest.raises(PanelUnavailable):
        client.find_by_username("tg_54")


def test_connection_dropped_is_unavailable(fake_panel):
    client = make_client(fake_panel, api_version="2", max_retries=0)
    fake_panel.drop = True

    with pytest.raises(PanelUnavailable):
        client.find_by_username("tg_55")


def test_bearer_extra_and_forwarded_headers_are_sent(fake_panel):
    client = make_client(fake_panel, api_version="2", extra_headers={"X-Api-Key": "k1"}, forwarded=True)

    client.find_by_username("tg_56")

    headers = {k.lower(): v for k, v in fake_panel.calls[-1].headers.items()}
    assert headers["authorization"] == f"Bearer {fake_panel.token}"
    assert headers["x-api-key"] == "k1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-for"]


def test_unwrapped_success_body_is_a_protocol_error():
    from integrations.remnawave import PanelProtocolError

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"username": "tg_1"}))
    client = RemnawaveClient(base_url="http://panel", token="t", api_version="2", transport=transport)

    with pytest.raises(PanelProtocolError):
        client.find_by_username("tg_1")
