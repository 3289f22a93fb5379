"""The worker watches what readiness reports and tells the owner's chat when it goes wrong and
when it is right again: the provisioning outbox stuck (HEALTH_OUTBOX_MAX_AGE_SECONDS), the
polling bot silent (HEALTH_BOT_MAX_SILENCE_SECONDS), the bot's Star balance below
OWNER_STAR_BALANCE_BELOW. Each change is one alert, whatever the number of workers."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from notifications.models import AlertKind
from notifications.owner import owner_alert, owner_condition
from ops.health import bot_polls, check_bot_polling, check_outbox
from payments.dashboard import star_balance

OUTBOX_STUCK = "outbox stuck"
BOT_SILENT = "bot silent"
STAR_BALANCE_LOW = "star balance low"


def watch_for_owner() -> None:
    _watch_outbox()
    if bot_polls():
        _watch_bot()
    if settings.OWNER_STAR_BALANCE_BELOW:
        _watch_star_balance()


def _watch_outbox() -> None:
    outbox = check_outbox()
    if not owner_condition(name=OUTBOX_STUCK, active=not outbox.ok):
        return
    path = reverse("admin:subscriptions_provisioningtask_changelist")
    if outbox.ok:
        owner_alert(kind=AlertKind.OUTBOX, event="ok", details={"path": path})
        return
    minutes = int(outbox.details["oldest_due_age_seconds"] // 60)
    owner_alert(
        kind=AlertKind.OUTBOX, event="stuck", details={"due": outbox.details["due"], "minutes": minutes, "path": path}
    )


def _watch_bot() -> None:
    polling = check_bot_polling()
    if not owner_condition(name=BOT_SILENT, active=not polling.ok):
        return
    if polling.ok:
        owner_alert(kind=AlertKind.BOT, event="back")
        return
    age = polling.details["seconds_since_last_update"]
    owner_alert(kind=AlertKind.BOT, event="silent", details={"minutes": None if age is None else int(age // 60)})


def _watch_star_balance() -> None:
    """From the balance the dashboard reads in the background (unknown yet: nothing to say).
    Only the fall is news; climbing back above the threshold ends the condition quietly."""
    balance = star_balance()
    if balance is None:
        return
    threshold = settings.OWNER_STAR_BALANCE_BELOW
    if owner_condition(name=STAR_BALANCE_LOW, active=balance < threshold) and balance < threshold:
        owner_alert(kind=AlertKind.STAR_BALANCE, event="low", details={"balance": balance, "threshold": threshold})
