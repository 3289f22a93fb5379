"""Panel webhooks: keep the shop's Subscription in step with what the panel reports.

The database stays the source of truth for paid time: a panel event never
shortens a subscription, and never brings back time the shop took away (a
refund, an admin shortening). "expired" is applied only when the database
agrees, otherwise the panel is resynced. A longer expiry in the panel is adopted
as a manual extension only when the panel is up to date with the shop (no sync
of the user is waiting or running) and it lies beyond every expiry the shop
itself ever set; otherwise the event carries an old expiry and the panel is
resynced. A disable/enable in the panel is mirrored; a deleted panel user is
forgotten (the next sync creates it again).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.remnawave import parse_panel_datetime
from subscriptions.models import ProvisioningTask, Subscription
from subscriptions.services import provisioning_enqueue
from users.services import user_lock_row

logger = logging.getLogger(__name__)

# The user events a panel sends that change what the shop holds (EVENTS.USER in
# libs/contract/constants/events, the same names from 2.0.0 to 3.3.2); reminders
# (user.expires_in_*, user.expiration) and traffic notices are the shop's own business.
STATUS_EVENTS = {
    "user.expired",
    "user.disabled",
    "user.enabled",
    "user.modified",
    "user.deleted",
    "user.revoked",
    "user.limited",
    "user.traffic_reset",
}


class MalformedWebhook(ValueError):
    """The body is not a panel event."""


@dataclass(frozen=True)
class WebhookOutcome:
    applied: bool
    detail: str


def webhook_signature_valid(*, body: bytes, signature: str) -> bool:
    """Hex HMAC-SHA256 of the raw body with REMNAWAVE_WEBHOOK_SECRET; no secret = webhooks disabled."""
    secret = settings.REMNAWAVE_WEBHOOK_SECRET
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def parse_event(payload: Any) -> tuple[str, dict[str, Any]]:
    """(event name, panel user) from a 2.x or 3.x body: {"event", "data": user} or {"event", "data": {"user": ...}}."""
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise MalformedWebhook("no event")
    data = payload.get("data")
    if isinstance(data, dict) and isinstance(data.get("user"), dict):
        data = data["user"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MalformedWebhook("data is not an object")
    return payload["event"], data


def _subscription_for(data: dict[str, Any]) -> Subscription | None:
    match = Q()
    if data.get("username"):
        match |= Q(panel_username=str(data["username"]))
    if data.get("uuid"):
        match |= Q(panel_user_uuid=str(data["uuid"]))
    if isinstance(data.get("id"), int):
        match |= Q(panel_user_id=data["id"])
    telegram_id = data.get("telegramId")
    if isinstance(telegram_id, int | str) and str(telegram_id).isdigit():
        match |= Q(user__telegram_id=int(telegram_id))
    if not match:
        return None
    return Subscription.objects.filter(match).order_by("pk").first()


def event_is_stale(payload: dict[str, Any], *, now: datetime | None = None) -> bool:
    """A signed event older than REMNAWAVE_WEBHOOK_MAX_AGE_SECONDS is a replay (or
    hopelessly late): the body's timestamp is covered by the signature, the
    X-Remnawave-Timestamp header is not. Panels before 2.5 send none: applied."""
    sent_at = parse_panel_datetime(payload.get("timestamp"))
    if sent_at is None:
        return False
    return (now or timezone.now()) - sent_at > timedelta(seconds=settings.REMNAWAVE_WEBHOOK_MAX_AGE_SECONDS)


def panel_webhook_apply(*, payload: Any) -> WebhookOutcome:
    event, data = parse_event(payload)
    if event_is_stale(payload):
        return WebhookOutcome(False, f"event {event} too old: ignored as a replay")
    if event not in STATUS_EVENTS:
        return WebhookOutcome(False, f"event {event} ignored")
    found = _subscription_for(data)
    if found is None:
        return WebhookOutcome(False, "unknown panel user")
    with transaction.atomic():
        user_lock_row(user_id=found.user_id)
        subscription = Subscription.objects.select_for_update(no_key=True).get(pk=found.pk)
        detail = _apply(subscription, event=event, data=data)
    logger.info("panel webhook %s for subscription %s: %s", event, subscription.pk, detail)
    return WebhookOutcome(True, detail)


def _apply(subscription: Subscription, *, event: str, data: dict[str, Any]) -> str:
    now = timezone.now()
    panel_status = str(data.get("status") or "").upper()
    if event == "user.deleted":
        Subscription.objects.filter(pk=subscription.pk).update(
            panel_user_uuid="", panel_user_id=None, panel_short_uuid="", updated_at=now
        )
        return "panel user forgotten"
    if event == "user.disabled" or (panel_status == "DISABLED" and event != "user.enabled"):
        if subscription.status != Subscription.Status.DISABLED:
            _set_status(subscription, Subscription.Status.DISABLED)
        return "disabled"
    if event == "user.enabled" and subscription.status == Subscription.Status.DISABLED:
        active = subscription.expires_at and subscription.expires_at > now
        _set_status(subscription, Subscription.Status.ACTIVE if active else Subscription.Status.EXPIRED)
        return "enabled"
    if event == "user.expired":
        if subscription.expires_at and subscription.expires_at > now:
            # The database says the user paid for more: the panel is behind, resync it.
            provisioning_enqueue(user=subscription.user, reason=ProvisioningTask.Reason.PANEL)
            return "panel behind the database: resync queued"
        if subscription.status == Subscription.Status.ACTIVE:
            _set_status(subscription, Subscription.Status.EXPIRED)
        return "expired"
    panel_expiry = parse_panel_datetime(data.get("expireAt"))
    if panel_expiry and (subscription.expires_at is None or panel_expiry > subscription.expires_at):
        # Never shorten from a possibly stale event; lengthen only for a real manual extension.
        if _sync_open(subscription):
            return "panel behind the database (a sync is on its way): expiry not adopted"
        if subscription.expiry_high_water and panel_expiry <= subscription.expiry_high_water:
            provisioning_enqueue(user=subscription.user_id, reason=ProvisioningTask.Reason.PANEL)
            return "panel reports time the shop took back: not adopted, resync queued"
        subscription.expires_at = panel_expiry
        subscription.expiry_high_water = panel_expiry
        if subscription.status != Subscription.Status.DISABLED:
            subscription.status = Subscription.Status.ACTIVE if panel_expiry > now else Subscription.Status.EXPIRED
        subscription.save(update_fields=["expires_at", "expiry_high_water", "status", "updated_at"])
        return "expiry adopted from the panel"
    return "no change"


def _sync_open(subscription: Subscription) -> bool:
    """A sync of this user has not reached the panel yet: the panel still shows an older state."""
    return ProvisioningTask.objects.filter(
        user_id=subscription.user_id,
        kind=ProvisioningTask.Kind.SYNC,
        status__in=(ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING, ProvisioningTask.Status.RUNNING),
    ).exists()


def _set_status(subscription: Subscription, status: str) -> None:
    subscription.status = status
    subscription.save(update_fields=["status", "updated_at"])
