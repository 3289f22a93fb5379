"""POST /panel/webhook: Remnawave events, verified by X-Remnawave-Signature."""

import hashlib
import hmac
import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from integrations.remnawave import format_panel_datetime
from subscriptions.models import ProvisioningTask, Subscription
from subscriptions.provisioning import process_due
from tests.subscriptions.factories import SubscriptionFactory
from tests.subscriptions.helpers import buy, refund, subscription_of
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET = "panel-webhook-secret"
URL = "/panel/webhook"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.REMNAWAVE_WEBHOOK_SECRET = SECRET


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, payload, *, signature: str | None = None):
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    headers = {"HTTP_X_REMNAWAVE_SIGNATURE": sign(body) if signature is None else signature}
    return client.post(URL, data=body, content_type="application/json", **headers)


def provisioned(*, days: float = 10, version: str = "2") -> Subscription:
    user = UserFactory()
    return SubscriptionFactory(
        user=user,
        expires_at=timezone.now() + timedelta(days=days),
        status=Subscription.Status.ACTIVE if days > 0 else Subscription.Status.EXPIRED,
        panel_username=f"tg_{user.telegram_id}",
        panel_user_uuid="0b0e5f4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b" if version == "2" else "",
        panel_user_id=None if version == "2" else 17,
        panel_api_version=version,
    )


def event(name: str, subscription: Subscription, *, version: str = "2", **user_fields):
    user = {"username": subscription.panel_username, "status": "ACTIVE", "telegramId": subscription.user.telegram_id}
    if version == "2":
        user["uuid"] = subscription.panel_user_uuid
    else:
        user["id"] = subscription.panel_user_id
    user.update(user_fields)
    return {"scope": "user", "event": name, "timestamp": format_panel_datetime(timezone.now()), "data": user}


def same_instant(a, b) -> bool:
    return abs(a - b) < timedelta(milliseconds=1)


def test_bad_signature_is_refused_and_changes_nothing(client):
    subscription = provisioned()

    response = post(client, event("user.disabled", subscription, status="DISABLED"), signature="0" * 64)

    assert response.status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_missing_signature_is_refused(client):
    subscription = provisioned()
    body = json.dumps(event("user.disabled", subscription)).encode()

    response = client.post(URL, data=body, content_type="application/json")

    assert response.status_code == 403


def test_webhooks_are_off_without_a_secret(client, settings):
    settings.REMNAWAVE_WEBHOOK_SECRET = ""
    subscription = provisioned()
    body = json.dumps(event("user.disabled", subscription)).encode()

    response = post(client, body, signature=sign(body, secret=""))

    assert response.status_code == 403


@pytest.mark.parametrize("version", ["2", "3"])
def test_disabled_in_the_panel_is_mirrored(client, version):
    subscription = provisioned(version=version)

    response = post(client, event("user.disabled", subscription, version=version, status="DISABLED"))

    assert response.status_code == 200
    assert response.json()["applied"] is True
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.DISABLED


def test_enabled_in_the_panel_restores_an_active_subscription(client):
    subscription = provisioned()
    Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.DISABLED)

    post(client, event("user.enabled", subscription))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_expired_event_marks_an_ended_subscription_expired(client):
    subscription = provisioned(days=-1)
    Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.ACTIVE)

    post(client, event("user.expired", subscription, status="EXPIRED"))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.EXPIRED


def test_expired_event_for_a_paid_subscription_resyncs_the_panel(client):
    subscription = provisioned(days=10)

    post(client, event("user.expired", subscription, status="EXPIRED"))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    task = ProvisioningTask.objects.get(user=subscription.user)
    assert task.reason == ProvisioningTask.Reason.PANEL


def test_a_longer_expiry_set_in_the_panel_is_adopted(client):
    subscription = provisioned(days=10)
    later = subscription.expires_at + timedelta(days=5)

    post(client, event("user.modified", subscription, version="2", expireAt=format_panel_datetime(later)))

    subscription.refresh_from_db()
    assert abs(subscription.expires_at - later) < timedelta(milliseconds=1)


def test_a_stale_shorter_expiry_never_shortens_the_subscription(client):
    subscription = provisioned(days=10)
    paid_until = subscription.expires_at
    earlier = paid_until - timedelta(days=5)

    post(client, event("user.modified", subscription, expireAt=format_panel_datetime(earlier)))

    subscription.refresh_from_db()
    assert subscription.expires_at == paid_until


def test_3x_user_is_found_by_numeric_id(client):
    subscription = provisioned(version="3")
    payload = event("user.disabled", subscription, version="3", status="DISABLED")
    payload["data"].pop("username")
    payload["data"].pop("telegramId")

    post(client, payload)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.DISABLED


def test_deleted_panel_user_is_forgotten(client):
    subscription = provisioned()

    post(client, event("user.deleted", subscription))

    subscription.refresh_from_db()
    assert subscription.panel_user_uuid == ""


def test_unknown_user_is_acknowledged_and_ignored(client):
    payload = {"scope": "user", "event": "user.disabled", "data": {"username": "tg_nobody", "status": "DISABLED"}}

    response = post(client, payload)

    assert response.status_code == 200
    assert response.json()["applied"] is False


def test_unknown_event_is_acknowledged_and_ignored(client):
    subscription = provisioned()

    response = post(client, event("node.connection_lost", subscription))

    assert response.status_code == 200
    assert response.json()["applied"] is False


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"event": "user.disabled", "data": "x"}', b"\xff\xfe"])
def test_malformed_body_is_a_400(client, body):
    response = post(client, body)

    assert response.status_code == 400


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_a_replayed_old_event_changes_nothing(client):
    # given a correctly signed user.disabled whose body was sent an hour ago
    subscription = provisioned()
    stale = event("user.disabled", subscription, status="DISABLED")
    stale["timestamp"] = format_panel_datetime(timezone.now() - timedelta(hours=1))

    # when it is posted again
    response = post(client, stale)

    # then it is acknowledged but ignored
    assert response.status_code == 200 and response.json()["applied"] is False
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_an_event_without_timestamp_from_older_panels_is_applied(client):
    subscription = provisioned()
    old_panel = event("user.disabled", subscription, status="DISABLED")
    del old_panel["timestamp"]

    response = post(client, old_panel)

    assert response.status_code == 200 and response.json()["applied"] is True
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.DISABLED


# --- Paid time is the shop's: a panel event never brings refunded days back ----------------


def bought_then_refunded(fake_panel) -> tuple[Subscription, datetime]:
    """Two months bought and provisioned, the second refunded; returns the subscription and
    the expiry the panel held before the refund."""
    user = UserFactory()
    buy(user)
    second = buy(user)
    process_due()
    subscription = subscription_of(user)
    assert subscription.panel_username  # provisioned in the fake panel
    paid_before_refund = subscription.expires_at
    refund(second)
    return subscription_of(user), paid_before_refund


@pytest.mark.parametrize("name", ["user.modified", "user.traffic_reset", "user.revoked"])
def test_an_event_before_the_refund_reached_the_panel_keeps_the_refund(client, fake_panel, tariff_1m, name):
    # given a refund whose sync to the panel has not run yet
    subscription, old_expiry = bought_then_refunded(fake_panel)
    refunded_to = subscription.expires_at

    # when the panel sends an event carrying the expiry it still has
    response = post(
        client, event(name, subscription, version=fake_panel.version, expireAt=format_panel_datetime(old_expiry))
    )

    # then the refunded days do not come back
    assert response.status_code == 200
    assert subscription_of(subscription.user).expires_at == refunded_to


def test_a_late_event_after_the_refund_reached_the_panel_keeps_the_refund_and_resyncs(client, fake_panel, tariff_1m):
    # given a refund already pushed to the panel, and an event from before it, delivered late
    subscription, old_expiry = bought_then_refunded(fake_panel)
    process_due()
    refunded_to = subscription.expires_at
    late = event("user.modified", subscription, version=fake_panel.version, expireAt=format_panel_datetime(old_expiry))

    # when it arrives
    post(client, late)

    # then the expiry stays refunded and the panel is told the shop's state again
    assert subscription_of(subscription.user).expires_at == refunded_to
    assert ProvisioningTask.objects.filter(
        user=subscription.user, reason=ProvisioningTask.Reason.PANEL, status=ProvisioningTask.Status.PENDING
    ).exists()


def test_a_manual_extension_beyond_what_the_shop_ever_set_is_adopted(client, fake_panel, tariff_1m):
    user = UserFactory()
    buy(user)
    process_due()
    subscription = subscription_of(user)
    extended = subscription.expires_at + timedelta(days=7)

    post(
        client,
        event("user.modified", subscription, version=fake_panel.version, expireAt=format_panel_datetime(extended)),
    )

    assert same_instant(subscription_of(user).expires_at, extended)
