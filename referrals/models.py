"""Who invited whom, and the bonus each invited buyer earned their referrer.

Both rules live in constraints: an invited user has one referrer for good
(unique `invited`), and a referral pays its bonus at most once (unique
`referral` on the bonus), however often or concurrently payments arrive.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class ReferralCode(models.Model):
    """A user's personal code for the link t.me/<bot>?start=ref_<code>."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referral_code", verbose_name=_("user")
    )
    code = models.CharField(max_length=16, unique=True, verbose_name=_("code"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return f"{self.code} ({self.user})"


class Referral(models.Model):
    referrer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_made", verbose_name=_("referrer")
    )
    # One referrer per invited user, never overwritten.
    invited = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral", verbose_name=_("invited")
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("invited at"))

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~Q(referrer=F("invited")), name="referral_not_self")]

    def __str__(self) -> str:
        return f"{self.referrer} invited {self.invited}"


class ReferralBonus(models.Model):
    """The bonus for the invited buyer's first paid purchase. A refund of that
    purchase takes the days back (`revoked_at`); the row stays, so no later
    purchase pays a second bonus."""

    referral = models.OneToOneField(
        Referral, on_delete=models.PROTECT, related_name="bonus", verbose_name=_("referral")
    )
    referrer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral_bonuses", verbose_name=_("referrer")
    )
    # The invited buyer's purchase (a reference, not a foreign key: referrals sit below payments).
    purchase_id = models.UUIDField(unique=True, verbose_name=_("purchase id"))
    days = models.PositiveIntegerField(
        help_text=_("Days the referrer got (0 when bonuses were off)."), verbose_name=_("days")
    )
    granted_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("granted"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("taken back"))

    class Meta:
        verbose_name = _("referral bonus")
        verbose_name_plural = _("referral bonuses")
        ordering = ["-granted_at"]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "granted"
        return f"{self.days} days for {self.referrer} ({state})"
