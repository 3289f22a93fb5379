"""The Remnawave client against the fake panel, one profile per release line (2.0, 2.7, 2.8, 3.0)."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integrations.remnawave import (
    PanelConfigError,
    PanelNotFound,
    PanelProtocolError,
    PanelRejected,
    PanelUnavailable,
    PanelUser,
    RemnawaveClient,
    format_panel_datetime,
)
from tests.fakes.remnawave_fixtures import TEST_SQUAD, both_panel_versions


def make_client(panel, **overrides) -> RemnawaveClient:
    options = {"base_url": panel.url, "token": panel.token, "timeout": 0.5, "max_retries": 2, "retry_backoff": 0.01}
    options.update(overrides)
    return RemnawaveClient(**options)


def in_days(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


RELEASE = {"2.0": "<2.5", "2.7": "2.7.4", "2.8": "2.8.1", "3.0": "3.3.2"}


def generation(panel) -> str:
    return "3" if panel.profile == "3.0" else "2"


@both_panel_versions
def test_api_version_is_read_once_from_the_panels_metadata(fake_panel):
    client = make_client(fake_panel)

    assert client.api_version == RELEASE[fake_panel.profile]
    assert client.generation == generation(fake_panel)

    assert len(fake_panel.calls_to("GET", "/api/system/metadata")) == 1
    assert fake_panel.calls_to("GET", "/api/users/stream") == []


@pytest.mark.parametrize("pinned", ["2", "2.8.1", "3", "3.1.0"])
def test_configured_api_version_is_not_probed(fake_panel, pinned):
    client = make_client(fake_panel, api_version=pinned)

    client.find_by_username("tg_000001")

    assert fake_panel.calls_to("GET", "/api/system/metadata") == []
    assert client.generation == pinned[0]


@pytest.mark.parametrize("value", ["4", "1.6.0", "latest", "2.x"])
def test_an_unsupported_configured_version_is_refused(value):
    with pytest.raises(ValueError, match="REMNAWAVE_API_VERSION"):
        RemnawaveClient(base_url="http://panel", token="t", api_version=value)


def test_a_username_no_release_takes_is_refused_before_any_call(fake_panel):
    client = make_client(fake_panel, api_version="3")

    with pytest.raises(PanelConfigError):
        client.create_user(username="tg_42", expire_at=in_days(5))  # 5 characters: 2.0.x wants 6

    assert fake_panel.creates() == []


@both_panel_versions
def test_create_then_find_by_username(fake_panel):
    client = make_client(fake_panel)
    expires = in_days(30)

    created = client.create_user(
        username="tg_000042",
        expire_at=expires,
        telegram_id=42,
        squads=[TEST_SQUAD],
        traffic_limit_bytes=10,
        device_limit=3,
    )
    found = client.find_by_username("tg_000042")

    assert found == created
    assert found.expire_at == expires
    assert found.subscription_url.endswith(found.short_uuid)
    stored = fake_panel.user("tg_000042")
    assert stored["activeInternalSquads"] == [TEST_SQUAD]
    assert stored["trafficLimitBytes"] == 10
    assert stored["hwidDeviceLimit"] == 3
    assert stored["telegramId"] == 42


@both_panel_versions
def test_user_identity_follows_the_api_generation(fake_panel):
    client = make_client(fake_panel)

    user = client.create_user(username="tg_000043", expire_at=in_days(5))

    assert user.api_version == RELEASE[fake_panel.profile]
    if fake_panel.profile == "3.0":
        assert user.id is not None and user.uuid == ""
    else:
        assert user.uuid  # 2.7 and 2.8 also carry an id, but address users by uuid


@both_panel_versions
def test_missing_user_is_none(fake_panel):
    assert make_client(fake_panel).find_by_username("tg_000404") is None


@both_panel_versions
def test_find_by_telegram_id_uses_the_generation_endpoint(fake_panel):
    client = make_client(fake_panel)
    client.create_user(username="tg_000077", expire_at=in_days(5), telegram_id=77)

    found = client.find_by_telegram_id(77)
    missing = client.find_by_telegram_id(78)

    assert [u.username for u in found] == ["tg_000077"]
    assert missing == []
    endpoint = "/api/users/by-telegram-id/" if generation(fake_panel) == "2" else "/api/users/stream"
    assert fake_panel.calls_to("GET", endpoint)


@both_panel_versions
def test_update_sends_absolute_expiry_with_the_generation_identity(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_000044", expire_at=in_days(5))
    new_expiry = in_days(40)

    updated = client.update_user(user, expire_at=new_expiry, status="ACTIVE")

    assert updated.expire_at == new_expiry
    body = fake_panel.calls_to("PATCH", "/api/users")[-1].body
    assert body["expireAt"] == format_panel_datetime(new_expiry)
    if generation(fake_panel) == "2":
        assert body["uuid"] == user.uuid and "id" not in body
    else:
        assert body["id"] == user.id and "uuid" not in body


@both_panel_versions
def test_disable_and_enable(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_000045", expire_at=in_days(5))

    assert client.disable_user(user).status == "DISABLED"
    assert client.enable_user(user).status == "ACTIVE"


@both_panel_versions
def test_delete(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_000046", expire_at=in_days(5))

    client.delete_user(user)

    assert client.find_by_username("tg_000046") is None


def test_subscription_url_is_read_from_the_panel(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_000047", expire_at=in_days(5))

    assert client.subscription_url("tg_000047") == user.subscription_url


@pytest.mark.parametrize("fake_panel", ["3.0"], indirect=True)
def test_3x_bad_id_is_a_validation_error_not_not_found(fake_panel):
    client = make_client(fake_panel)

    with pytest.raises(PanelRejected) as caught:
        client._request("POST", "/api/users/not-a-number/actions/disable")

    assert caught.value.status == 400
    assert not isinstance(caught.value, PanelNotFound)


@pytest.mark.parametrize("fake_panel", ["3.0"], indirect=True)
def test_a_3x_user_without_id_is_not_addressed_by_a_guess(fake_panel):
    client = make_client(fake_panel)
    ghost = PanelUser(username="tg_000001", status="ACTIVE", expire_at=None, api_version="3.3.2", uuid="x", id=None)

    with pytest.raises(PanelProtocolError):
        client.disable_user(ghost)

    assert fake_panel.calls_to("POST", "/api/users/") == []


@both_panel_versions
def test_past_expiry_on_update_is_rejected_with_the_panels_reason(fake_panel):
    client = make_client(fake_panel)
    user = client.create_user(username="tg_000048", expire_at=in_days(5))

    with pytest.raises(PanelRejected) as caught:
        client.update_user(user, expire_at=in_days(-1))

    assert caught.value.status == 400
    assert "past" in str(caught.value)  # the validation details are in the message


def test_duplicate_username_is_rejected(fake_panel):
    client = make_client(fake_panel)
    client.create_user(username="tg_000049", expire_at=in_days(5))

    with pytest.raises(PanelRejected) as caught:
        client.create_user(username="tg_000049", expire_at=in_days(5))

    assert caught.value.error_code == "A019"


def test_5xx_is_retried_until_it_succeeds(fake_panel):
    client = make_client(fake_panel, api_version="2")
    fake_panel.fail_next(2, status=502)

    assert client.find_by_username("tg_000050") is None

    assert len(fake_panel.calls_to("GET", "/api/users/by-username")) == 3


def test_5xx_beyond_the_retries_is_unavailable(fake_panel):
    client = make_client(fake_panel, api_version="2", max_retries=1)
    fake_panel.fail_next(5, status=500)

    with pytest.raises(PanelUnavailable) as caught:
        client.find_by_username("tg_000051")

    assert caught.value.status == 500
    assert caught.value.error_code == "E500"
    assert len(fake_panel.calls) == 2


def test_4xx_is_never_retried(fake_panel):
    client = make_client(fake_panel, api_version="2")

    with pytest.raises(PanelRejected):
        client.update_user(PanelUser("tg_000001", "ACTIVE", None, "2.7.4", uuid="not-a-uuid"), status="ACTIVE")

    assert len(fake_panel.calls_to("PATCH", "/api/users")) == 1


def test_wrong_token_is_rejected_once(fake_panel):
    client = make_client(fake_panel, api_version="2", token="wrong")

    with pytest.raises(PanelRejected) as caught:
        client.find_by_username("tg_000052")

    assert caught.value.status == 401
    assert len(fake_panel.calls) == 1


def test_timeout_is_retried_then_unavailable(fake_panel):
    client = make_client(fake_panel, api_version="2", timeout=0.2, max_retries=1)
    fake_panel.delay_next(0.6, count=2)

    with pytest.raises(PanelUnavailable):
        client.find_by_username("tg_000053")

    assert len(fake_panel.calls) == 2


def test_connection_refused_is_unavailable():
    client = RemnawaveClient(base_url="http://127.0.0.1:9", token="t", api_version="2", max_retries=1, retry_backoff=0)

    with pytest.raises(PanelUnavailable):
        client.find_by_username("tg_000054")


def test_connection_dropped_is_unavailable(fake_panel):
    client = make_client(fake_panel, api_version="2", max_retries=0)
    fake_panel.drop = True

    with pytest.raises(PanelUnavailable):
        client.find_by_username("tg_000055")


def test_bearer_extra_and_forwarded_headers_are_sent(fake_panel):
    client = make_client(fake_panel, api_version="2", extra_headers={"X-Api-Key": "k1"}, forwarded=True)

    client.find_by_username("tg_000056")

    headers = {k.lower(): v for k, v in fake_panel.calls[-1].headers.items()}
    assert headers["authorization"] == f"Bearer {fake_panel.token}"
    assert headers["x-api-key"] == "k1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-for"]


def test_unwrapped_success_body_is_a_protocol_error():

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"username": "tg_000001"}))
    client = RemnawaveClient(base_url="http://panel", token="t", api_version="2", transport=transport)

    with pytest.raises(PanelProtocolError):
        client.find_by_username("tg_000001")
