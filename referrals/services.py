"""Referral writes: personal codes, attaching an invited user, and the bonus
their first paid purchase earns the referrer (taken back on refund).

The payments services call the bonus functions inside their own transaction,
with the invited buyer locked; the referrer's lock comes after it. A referral
only points from an older account to a newer one, so these locks always run
from the newer user to the older and two purchases can never wait on each
other in a circle.
"""

from __future__ import annotations

import logging
import secrets
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from referrals.models import Referral, ReferralBonus, ReferralCode
from subscriptions.models import Subscription
from subscriptions.selectors import referral_bonus_days
from subscriptions.services import subscription_grant_bonus, subscription_shorten
from users.models import User
from users.services import user_lock

logger = logging.getLogger(__name__)

DEEP_LINK_PREFIX = "ref_"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def referral_code_for(*, user: User) -> str:
    """The user's personal code, created on first need (random, unique)."""
    existing = ReferralCode.objects.filter(user=user).values_list("code", flat=True).first()
    if existing:
        return existing
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(user=user, code=code).code
        except IntegrityError:
            # Another request created this user's code, or the code is taken: look again.
            existing = ReferralCode.objects.filter(user=user).values_list("code", flat=True).first()
            if existing:
                return existing
    raise RuntimeError("could not draw an unused referral code")


def referral_link(*, bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={DEEP_LINK_PREFIX}{code}"


class Attach:
    ATTACHED = "attached"
    UNKNOWN = "unknown"  # no such code
    OWN_LINK = "own_link"
    ALREADY = "already"  # has a referrer (never overwritten)
    NOT_NEW = "not_new"  # has had a subscription already, or is older than the referrer


def _is_new_to(invited: User, referrer: User) -> bool:
    """Only a newcomer counts: no subscription days yet, and joined after the referrer
    (which also keeps referrals free of cycles)."""
    had_days = Subscription.objects.filter(user=invited, expires_at__isnull=False).exists()
    return not had_days and invited.date_joined >= referrer.date_joined


def referral_attach(*, invited: User, code: str) -> str:
    """Record who invited `invited` (the code from their /start link); an Attach outcome."""
    referrer = User.objects.filter(referral_code__code=(code or "").strip().upper()[:16]).first() if code else None
    if referrer is None:
        return Attach.UNKNOWN
    if referrer.pk == invited.pk:
        return Attach.OWN_LINK
    if Referral.objects.filter(invited=invited).exists():
        return Attach.ALREADY
    if not _is_new_to(invited, referrer):
        return Attach.NOT_NEW
    try:
        with transaction.atomic():
            Referral.objects.create(referrer=referrer, invited=invited)
    except IntegrityError:
        return Attach.ALREADY  # a concurrent /start attached a referrer first
    return Attach.ATTACHED


def referral_bonus_grant(*, invited: User, purchase_id: uuid.UUID) -> ReferralBonus | None:
    """The invited buyer's paid purchase succeeded: their referrer gets the bonus
    days, once per invited buyer (the unique bonus row), extended and provisioned
    like a purchase and announced by the worker. In the caller's transaction,
    with `invited` locked. None when there is no referral or it paid already."""
    referral = Referral.objects.filter(invited=invited).first()
    if referral is None:
        return None
    days = referral_bonus_days()
    try:
        with transaction.atomic():
            bonus = ReferralBonus.objects.create(
                referral=referral, referrer_id=referral.referrer_id, purchase_id=purchase_id, days=days
            )
    except IntegrityError:
        return None  # this referral's bonus was granted for an earlier purchase
    if days:
        referrer = user_lock(user_id=referral.referrer_id)
        subscription_grant_bonus(user=referrer, days=days, purchase_id=purchase_id)
    logger.info("referral bonus: %s days to user %s for purchase %s", days, referral.referrer_id, purchase_id)
    return bonus


def referral_bonus_revoke(*, purchase_id: uuid.UUID) -> bool:
    """A refunded purchase takes back the bonus it earned (once). In the caller's
    transaction, with the invited buyer locked."""
    bonus = ReferralBonus.objects.filter(purchase_id=purchase_id, revoked_at__isnull=True).first()
    if bonus is None:
        return False
    if not ReferralBonus.objects.filter(pk=bonus.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        return False
    if bonus.days:
        referrer = user_lock(user_id=bonus.referrer_id)
        subscription_shorten(user=referrer, days=bonus.days, purchase_id=purchase_id)
    logger.info("referral bonus of purchase %s revoked (%s days)", purchase_id, bonus.days)
    return True
