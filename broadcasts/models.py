"""Broadcasts: a message an admin writes once and the worker sends to a segment of the buyers.

A broadcast is a draft while it is written and tested. Starting it hands it to the worker,
which first fixes its recipients as one Delivery row each (unique per broadcast and user, in
one transaction), then sends them in batches through the rate-limited Telegram client. Every
row is claimed before it is sent, so a worker that is restarted, or a second one, never sends
a row twice (see broadcasts/sending.py for what happens to a row whose send was cut off).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import ServiceOwnedFieldsMixin
from notifications.messages import BROADCAST_BUY, BROADCAST_RENEW, BROADCAST_URL

MAX_EXPIRING_DAYS = 365


class Broadcast(ServiceOwnedFieldsMixin, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SENDING = "sending", _("sending")
        DONE = "done", _("sent")
        CANCELLED = "cancelled", _("cancelled")

    class Segment(models.TextChoices):
        ALL = "all", _("all buyers")
        ACTIVE = "active", _("active subscribers")
        EXPIRING = "expiring", _("subscription ends within N days")
        EXPIRED = "expired", _("subscription expired")
        NEVER_PAID = "never_paid", _("never paid")

    class Language(models.TextChoices):
        ANY = "", _("any language")
        RU = "ru", "Русский"
        EN = "en", "English"

    class ButtonKind(models.TextChoices):
        NONE = "", _("no button")
        BUY = BROADCAST_BUY, _("Buy (opens the tariffs)")
        RENEW = BROADCAST_RENEW, _("Renew (opens the tariffs)")
        URL = BROADCAST_URL, _("a link")

    # The worker, the start, the test and the cancel set these; an admin form never writes them
    # back (a page opened before the start would otherwise undo it).
    service_owned_fields = (
        "status",
        "total",
        "photo_file_id",
        "image_name",
        "image_type",
        "image_size",
        "started_by",
        "started_at",
        "prepared_at",
        "finished_at",
        "cancelled_by",
        "cancelled_at",
        "stop_reason",
        "runner",
        "runner_token",
        "runner_until",
        "handed_over_at",
        "test_user",
        "test_requested_at",
        "test_sent_at",
        "test_error",
    )

    name = models.CharField(_("internal name"), max_length=100, help_text=_("For the admin only; buyers never see it."))
    text = models.TextField(
        _("message"), blank=True, help_text=_("Sent exactly as written, in Telegram's HTML; line breaks are kept.")
    )
    button = models.CharField(_("button"), max_length=8, choices=ButtonKind.choices, blank=True, default="")
    button_text = models.CharField(
        _("button label"),
        max_length=64,
        blank=True,
        help_text=_("For a link button only (Buy and Renew are labelled in each buyer's language)."),
    )
    button_url = models.URLField(
        _("button link"), max_length=500, blank=True, validators=[URLValidator(schemes=["https"])]
    )
    # The picture itself lives in BroadcastImage (a row read only to upload it); these describe it.
    image_name = models.CharField(_("picture"), max_length=100, blank=True)
    image_type = models.CharField(max_length=32, blank=True)
    image_size = models.PositiveIntegerField(default=0)
    # Telegram's id of the uploaded picture: it is uploaded once, then sent by this id.
    photo_file_id = models.CharField(max_length=255, blank=True)

    segment = models.CharField(_("recipients"), max_length=16, choices=Segment.choices, default=Segment.ALL)
    expiring_days = models.PositiveSmallIntegerField(
        _("ending within (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_EXPIRING_DAYS)],
        help_text=_("For “subscription ends within N days”: active subscriptions that end within this many days."),
    )
    language = models.CharField(
        _("language"),
        max_length=2,
        choices=Language.choices,
        blank=True,
        default="",
        help_text=_("Only buyers whose bot speaks this language (the one they chose, else Telegram's)."),
    )

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    total = models.PositiveIntegerField(_("recipients fixed at the start"), default=0)
    stop_reason = models.CharField(_("stopped because"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("started by"),
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)  # when the Delivery rows were made
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    # The worker running it now: host:pid (a dead process of this host is replaced at once), a token
    # naming this run, and a lease after which another worker may take over.
    runner = models.CharField(max_length=128, blank=True)
    runner_token = models.CharField(max_length=32, blank=True)
    runner_until = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)  # last given to the task queue

    # The last test message an admin sent to themselves.
    test_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("test sent to"),
    )
    test_requested_at = models.DateTimeField(null=True, blank=True)
    test_sent_at = models.DateTimeField(null=True, blank=True)
    test_error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at"]
        permissions = [("send_broadcast", "Can start and cancel broadcasts (admin)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(button_url="") | Q(button_url__startswith="https://"), name="broadcast_button_url_https"
            ),
            models.CheckConstraint(
                condition=~Q(segment="expiring") | Q(expiring_days__gte=1, expiring_days__lte=MAX_EXPIRING_DAYS),
                name="broadcast_expiring_days_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class BroadcastImage(models.Model):
    """A broadcast's picture, in the database so that the web process that received it and the
    worker that uploads it to Telegram need no shared disk. Read once per broadcast at most."""

    broadcast = models.OneToOneField(Broadcast, on_delete=models.CASCADE, primary_key=True, related_name="image")
    data = models.BinaryField()

    class Meta:
        verbose_name = _("broadcast picture")
        verbose_name_plural = _("broadcast pictures")

    def __str__(self) -> str:
        return f"picture of broadcast {self.broadcast_id}"


class Delivery(models.Model):
    """One recipient of one broadcast: made when the broadcast starts, claimed before its send."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        SENDING = "sending", _("being sent")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        BLOCKED = "blocked", _("blocked the bot")
        CANCELLED = "cancelled", _("not sent (cancelled)")

    broadcast = models.ForeignKey(
        Broadcast, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("broadcast")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="broadcast_deliveries",
        verbose_name=_("recipient"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The run that claimed it (Broadcast.runner_token of that run) and when.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    message_id = models.BigIntegerField(_("Telegram message id"), null=True, blank=True)
    done_at = models.DateTimeField(_("finished"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("broadcast delivery")
        verbose_name_plural = _("broadcast deliveries")
        ordering = ["broadcast", "pk"]
        constraints = [models.UniqueConstraint(fields=["broadcast", "user"], name="delivery_once_per_user")]
        # Claims (pending rows of a broadcast, oldest first) and the progress counts.
        indexes = [models.Index(fields=["broadcast", "status", "id"], name="delivery_broadcast_status_idx")]

    def __str__(self) -> str:
        return f"broadcast {self.broadcast_id} → user {self.user_id} ({self.status})"
