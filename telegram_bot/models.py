from django.conf import settings
from django.db import models
from django.utils import timezone


class TelegramUpdate(models.Model):
    """A Telegram update exactly as received, stored before any handler runs.

    The unique update id makes a replay (webhook retry, polling restart) a
    no-op; the status says how far processing got, so an update whose handler
    failed, or whose process died mid-way, is retried and never lost.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        PROCESSING = "processing", "processing"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    update_id = models.BigIntegerField(unique=True)
    raw = models.JSONField()
    kind = models.CharField(max_length=32, db_index=True)
    telegram_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # What Telegram sent could not be stored as is (PostgreSQL refuses NUL and lone
    # surrogates in jsonb): those characters were replaced with U+FFFD, or, if even
    # that failed, only the update id was kept and the update left failed for an admin.
    altered = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When the update may be (re)claimed: the retry time of a failed update,
    # or the lease end of one being processed (a dead worker's lease runs out).
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="tg_update_due_idx")]

    def __str__(self) -> str:
        return f"update {self.update_id} ({self.kind}, {self.status})"


class BotSession(models.Model):
    """What the bot remembers about a buyer between updates: the promo code
    they applied and whether the next text message is a promo code. In the
    database so that it holds across webhook workers and restarts."""

    class Awaiting(models.TextChoices):
        NOTHING = "", "nothing"
        PROMO = "promo", "promo code"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_session")
    promo_code = models.CharField(max_length=64, blank=True)
    awaiting = models.CharField(max_length=16, choices=Awaiting.choices, blank=True, default=Awaiting.NOTHING)
    tariff_code = models.CharField(max_length=32, blank=True, help_text="The tariff the buyer is looking at.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"bot session of {self.user}"
