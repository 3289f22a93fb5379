from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TelegramUpdate(models.Model):
    """A Telegram update exactly as received, stored before any handler runs.

    The unique update id makes a replay (webhook retry, polling restart) a
    no-op; the status says how far processing got, so an update whose handler
    failed, or whose process died mid-way, is retried and never lost.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSING = "processing", _("processing")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    update_id = models.BigIntegerField(unique=True, verbose_name=_("update id"))
    raw = models.JSONField(verbose_name=_("as received"))
    kind = models.CharField(max_length=32, db_index=True, verbose_name=_("kind"))
    telegram_user_id = models.BigIntegerField(null=True, blank=True, db_index=True, verbose_name=_("Telegram user id"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, verbose_name=_("status"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    # What Telegram sent could not be stored as is (PostgreSQL refuses NUL and lone
    # surrogates in jsonb): those characters were replaced with U+FFFD, or, if even
    # that failed, only the update id was kept and the update left failed for an admin.
    altered = models.BooleanField(default=False, verbose_name=_("altered to be stored"))
    received_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("received"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed"))
    # When the update may be (re)claimed: the retry time of a failed update,
    # or the lease end of one being processed (a dead worker's lease runs out).
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt"))

    class Meta:
        verbose_name = _("Telegram update")
        verbose_name_plural = _("Telegram updates")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="tg_update_due_idx")]

    def __str__(self) -> str:
        return f"update {self.update_id} ({self.kind}, {self.status})"


class BotSession(models.Model):
    """What the bot remembers about a buyer between updates: the promo code
    they applied and whether the next text message is a promo code. In the
    database so that it holds across webhook workers and restarts."""

    class Awaiting(models.TextChoices):
        NOTHING = "", _("nothing")
        PROMO = "promo", _("promo code")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_session", verbose_name=_("user")
    )
    promo_code = models.CharField(max_length=64, blank=True, verbose_name=_("promo code"))
    awaiting = models.CharField(
        max_length=16, choices=Awaiting.choices, blank=True, default=Awaiting.NOTHING, verbose_name=_("waiting for")
    )
    tariff_code = models.CharField(
        max_length=32, blank=True, help_text=_("The tariff the buyer is looking at."), verbose_name=_("tariff")
    )
    # The options chosen so far in the plan builder (subscriptions.pricing.Selection, encoded).
    selection = models.CharField(max_length=40, blank=True, verbose_name=_("options chosen"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))

    class Meta:
        verbose_name = _("bot session")
        verbose_name_plural = _("bot sessions")

    def __str__(self) -> str:
        return f"bot session of {self.user}"
