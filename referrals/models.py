"""Who invited whom, and the bonus each invited buyer earned their referrer.

Both rules live in constraints: an invited user has one referrer for good
(unique `invited`), and a referral pays its bonus at most once (unique
`referral` on the bonus), however often or concurrently payments arrive.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class ReferralCode(models.Model):
    """A user's personal code for the link t.me/<bot>?start=ref_<code>."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referral_code")
    code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.code} ({self.user})"


class Referral(models.Model):
    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_made")
    # One referrer per invited user, never overwritten.
    invited = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~Q(referrer=F("invited")), name="referral_not_self")]

    def __str__(self) -> str:
        return f"{self.referrer} invited {self.invited}"


class ReferralBonus(models.Model):
    """The bonus for the invited buyer's first paid purchase. A refund of that
    purchase takes the days back (`revoked_at`); the row stays, so no later
    purchase pays a second bonus."""

    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="bonus")
    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral_bonuses")
    # The invited buyer's purchase (a reference, not a foreign key: referrals sit below payments).
    purchase_id = models.UUIDField(unique=True)
    days = models.PositiveIntegerField(help_text="Days the referrer got (0 when bonuses were off).")
    granted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at"]
        verbose_name_plural = "referral bonuses"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "granted"
        return f"{self.days} days for {self.referrer} ({state})"
