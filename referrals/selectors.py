"""Reads about referrals shared by the bot and the admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from referrals.models import Referral, ReferralBonus
from users.models import User


@dataclass(frozen=True)
class ReferralStats:
    invited: int
    paid: int  # invited users whose first paid purchase stands (not refunded)
    bonus_days: int


def referral_stats(*, user: User | int) -> ReferralStats:
    user_id = user if isinstance(user, int) else user.pk
    invited = Referral.objects.filter(referrer_id=user_id).count()
    bonuses = ReferralBonus.objects.filter(referrer_id=user_id).aggregate(
        paid=Count("pk", filter=Q(revoked_at__isnull=True)),
        days=Sum("days", filter=Q(revoked_at__isnull=True), default=0),
    )
    return ReferralStats(invited=invited, paid=bonuses["paid"], bonus_days=bonuses["days"])
