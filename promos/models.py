from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import ServiceOwnedFieldsMixin


class PromoCode(ServiceOwnedFieldsMixin, models.Model):
    # Counted by promo_consume/promo_release with conditional UPDATEs; never by save().
    service_owned_fields = ("used_count",)

    code = models.CharField(max_length=64, help_text=_("Case-insensitive; stored as typed."), verbose_name=_("code"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    discount_percent = models.PositiveSmallIntegerField(default=0, verbose_name=_("discount (%)"))
    bonus_days = models.PositiveIntegerField(default=0, verbose_name=_("bonus days"))
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty = unlimited."), verbose_name=_("max uses")
    )
    used_count = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("used"))
    valid_from = models.DateTimeField(null=True, blank=True, verbose_name=_("valid from"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires"))
    is_active = models.BooleanField(default=True, verbose_name=_("active"))
    once_per_user = models.BooleanField(default=True, verbose_name=_("once per buyer"))
    tariffs = models.ManyToManyField(
        "subscriptions.Tariff",
        blank=True,
        related_name="promo_codes",
        help_text=_("Empty = every tariff."),
        verbose_name=_("tariffs"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))

    class Meta:
        verbose_name = _("promo code")
        verbose_name_plural = _("promo codes")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="promo_code_unique_ci"),
            models.CheckConstraint(condition=Q(discount_percent__lte=100), name="promo_percent_0_100"),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(used_count__lte=F("max_uses")),
                name="promo_used_le_max",
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(max_uses__gt=0), name="promo_max_uses_positive"
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(expires_at__isnull=True) | Q(expires_at__gt=F("valid_from")),
                name="promo_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def uses_left(self) -> int | None:
        return None if self.max_uses is None else max(self.max_uses - self.used_count, 0)

    def is_in_window(self, at=None) -> bool:
        at = at or timezone.now()
        return (self.valid_from is None or self.valid_from <= at) and (self.expires_at is None or at < self.expires_at)


class PromoRedemption(models.Model):
    promo = models.ForeignKey(
        PromoCode, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("promo code")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promo_redemptions", verbose_name=_("buyer")
    )
    # The purchase this use paid for (a reference, not a foreign key: promos sit below payments).
    purchase_id = models.UUIDField(null=True, blank=True, unique=True, verbose_name=_("purchase id"))
    # A copy of the promo's flag, so the database itself enforces "once per user".
    once_per_user = models.BooleanField(default=True, verbose_name=_("once per buyer"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("redeemed"))

    class Meta:
        verbose_name = _("promo code use")
        verbose_name_plural = _("promo code uses")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["promo", "user"], condition=Q(once_per_user=True), name="promo_redemption_once_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.promo} by {self.user}"
