"""The owner's alerts: an outbox like the others (a row is the source of truth, a worker sends).

An OwnerAlert is written by the service that makes the change it reports, in that change's
transaction (a purchase that rolls back leaves no alert). The worker groups the alerts of one
kind that are waiting into one OwnerMessage (at most one per kind per OWNER_ALERT_GROUP_SECONDS,
the OwnerAlertGate row decides), then sends the message to OWNER_CHAT_ID. Nothing here is on
a buyer's path: a failing owner chat only fails these rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AlertKind(models.TextChoices):
    """What an alert is about; also the keys of OWNER_THREAD_IDS (a forum topic per kind)."""

    PURCHASE = "purchase", _("purchase")
    REFUND = "refund", _("refund")
    REVIEW = "review", _("payment needs review")
    PANEL = "panel", _("panel")
    OUTBOX = "outbox", _("provisioning outbox")
    BOT = "bot", _("bot polling")
    STAR_BALANCE = "star_balance", _("Star balance")
    BROADCAST = "broadcast", _("broadcast")
    SUMMARY = "summary", _("daily summary")


class OwnerMessage(models.Model):
    """One message to the owner's chat: one or more alerts of a kind, rendered once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=16, choices=AlertKind.choices)
    text = models.TextField(_("text"), blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Due from then; a worker that takes it pushes it forward by a lease first (a dead worker's row comes back).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("message to the owner")
        verbose_name_plural = _("messages to the owner")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="ownermessage_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class OwnerAlert(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=AlertKind.choices)
    event = models.CharField(_("event"), max_length=32)  # what happened within the kind, e.g. "problem", "resolved"
    # Set when an alert must exist once (a review of one payment, one day's summary): unique.
    key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    details = models.JSONField(default=dict, blank=True)  # plain values the text is made from
    created_at = models.DateTimeField(default=timezone.now)
    message = models.ForeignKey(OwnerMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")

    class Meta:
        verbose_name = _("owner alert")
        verbose_name_plural = _("owner alerts")
        indexes = [
            models.Index(fields=["kind", "created_at"], condition=Q(message__isnull=True), name="owneralert_waiting"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.event} #{self.pk}"


class OwnerAlertGate(models.Model):
    """When the next message of a kind may be made: a conditional UPDATE of this row lets one
    worker through per window, so a burst of alerts becomes one message, not one each."""

    kind = models.CharField(max_length=16, primary_key=True)
    opens_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} from {self.opens_at:%Y-%m-%d %H:%M:%S}"


class OwnerCondition(models.Model):
    """A state the owner hears of when it starts and when it ends (the outbox is stuck, the bot
    is silent, the panel does not answer): one row per condition, flipped by a conditional UPDATE
    so that several workers noticing the same change make one alert."""

    name = models.CharField(max_length=64, primary_key=True)
    active = models.BooleanField(default=False)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name}: {'yes' if self.active else 'no'}"
