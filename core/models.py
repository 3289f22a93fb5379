"""The core's own tables (Heartbeat, StaffAction) and model building blocks shared by the apps."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """When a long-running process last showed it was alive (e.g. the polling
    bot after a getUpdates round). In the database so that every web process
    sees it, whatever cache is configured; one row per name, overwritten."""

    name = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class ServiceOwnedFieldsMixin:
    """`save()` of an existing row never writes the fields in `service_owned_fields`.

    Counters and cached balances move only with F() or a conditional UPDATE in
    their service. A copy of the row read earlier (an admin form, any code that
    loaded it before a concurrent change) would otherwise write the old value
    back and lose what happened meanwhile. Inserting a new row writes them.
    """

    service_owned_fields: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        if not self._state.adding and not kwargs.get("force_insert") and not args:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                update_fields = [f.name for f in self._meta.concrete_fields if not f.primary_key]
            kwargs["update_fields"] = [name for name in update_fields if name not in self.service_owned_fields]
        return super().save(*args, **kwargs)


class StaffAction(models.Model):
    """One thing a member of staff did that moves money or reaches buyers (a refund, a
    balance adjustment, a price change, a broadcast...) or that concerns their sign-in.

    Written by the service that makes the change, in its transaction (so a change that
    rolls back leaves no row), through `core.audit.staff_action_record`. Append-only:
    the admin shows it read-only; `purge_staff_actions` drops rows past the retention."""

    class Action(models.TextChoices):
        SIGN_IN = "sign_in", _("signed in")
        LOCKED_OUT = "locked_out", _("locked out after failed sign-ins")
        UNLOCKED = "unlocked", _("unlocked a sign-in")
        TWO_FACTOR_ENROLLED = "two_factor_enrolled", _("set up two-factor")
        RECOVERY_CODE_USED = "recovery_code_used", _("signed in with a recovery code")
        RECOVERY_CODES_RENEWED = "recovery_codes_renewed", _("made new recovery codes")
        TWO_FACTOR_RESET = "two_factor_reset", _("reset two-factor")
        REFUND = "refund", _("refund")
        BALANCE_ADJUST = "balance_adjust", _("balance adjustment")
        SUBSCRIPTION_ADJUST = "subscription_adjust", _("subscription days changed")
        REVIEW_RESOLVE = "review_resolve", _("review resolved")
        AUTO_RENEWAL_CANCEL = "auto_renewal_cancel", _("auto-renewal cancelled")
        AUTO_RENEWAL_RESUME = "auto_renewal_resume", _("auto-renewal resumed")
        BROADCAST_SEND = "broadcast_send", _("broadcast sent")
        BROADCAST_CANCEL = "broadcast_cancel", _("broadcast cancelled")
        TARIFF_CHANGE = "tariff_change", _("tariff changed")
        SHOP_SETTINGS_CHANGE = "shop_settings_change", _("shop settings changed")
        PROMO_CHANGE = "promo_change", _("promo code changed")
        PROMO_BULK_CREATE = "promo_bulk_create", _("promo codes generated")
        PROMO_DEACTIVATE = "promo_deactivate", _("promo codes deactivated")
        API_KEY_CREATE = "api_key_create", _("API key created")
        API_KEY_SCOPES = "api_key_scopes", _("API key scopes changed")
        API_KEY_REVOKE = "api_key_revoke", _("API key revoked")

    at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("who"),
    )
    # The name as it was (a deleted account, a command run on the server, a username that failed to sign in).
    actor_name = models.CharField(max_length=150, blank=True, verbose_name=_("who (name)"))
    address = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("from address"))
    action = models.CharField(max_length=32, choices=Action.choices, verbose_name=_("action"))
    target_type = models.CharField(max_length=64, blank=True, verbose_name=_("object type"))
    target_id = models.CharField(max_length=64, blank=True, verbose_name=_("object id"))
    target_repr = models.CharField(max_length=200, blank=True, verbose_name=_("object"))
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, verbose_name=_("values before"))
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, verbose_name=_("values after"))
    note = models.TextField(blank=True, verbose_name=_("note"))

    class Meta:
        verbose_name = _("staff action")
        verbose_name_plural = _("staff actions")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["action", "-at"], name="staffaction_action_at"),
            models.Index(fields=["actor", "-at"], name="staffaction_actor_at"),
            models.Index(fields=["target_type", "target_id"], name="staffaction_target"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or '-'}: {self.get_action_display()} {self.target_repr}".strip()
