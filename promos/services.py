from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import staff_action_record
from core.errors import ApplicationError
from core.models import StaffAction
from promos.models import PromoCode, PromoRedemption
from subscriptions.models import Tariff
from subscriptions.pricing import Configuration, Price, configuration_price, promo_discount, snapshot
from users.models import User


class PromoInvalid(ApplicationError):
    """A promo code that cannot be used; `reason` is a stable machine code."""

    code = "promo_invalid"
    status = 422

    MESSAGES = {
        "unknown": _("This promo code does not exist."),
        "inactive": _("This promo code is no longer active."),
        "not_started": _("This promo code is not valid yet."),
        "expired": _("This promo code has expired."),
        "used_up": _("This promo code has been used up."),
        "wrong_tariff": _("This promo code does not apply to this tariff."),
        "already_used": _("You have already used this promo code."),
        # Telegram charges an auto-renewing plan the invoice's price every month, so a
        # discount cannot apply to the first month alone; bonus days can.
        "renewing_discount": _(
            "Discount codes do not apply to auto-renewing plans (Telegram charges the same price every month); "
            "codes with bonus days do."
        ),
    }

    def __init__(self, reason: str, *, promo_code: str = ""):
        self.reason = reason
        super().__init__(self.MESSAGES[reason], details={"reason": reason, "promo_code": promo_code})


@dataclass(frozen=True)
class Quote:
    """What a configuration of a plan costs this user with this promo: all integers, in
    Stars, computed by subscriptions/pricing.py."""

    tariff: Tariff
    promo: PromoCode | None
    base_price: int
    discount: int
    amount: int
    days: int
    bonus_days: int
    configuration: Configuration | None = None
    price: Price | None = None

    @property
    def snapshot(self) -> dict:
        """What the payment keeps: the configuration and its price, frozen."""
        configuration = self.configuration or Configuration(tariff=self.tariff)
        return snapshot(configuration, self.price or configuration_price(configuration))

    @property
    def total_days(self) -> int:
        return self.days + self.bonus_days

    @property
    def is_free(self) -> bool:
        return self.amount == 0


def promo_find(*, code: str) -> PromoCode | None:
    code = (code or "").strip()
    if not code:
        return None
    return PromoCode.objects.filter(code__iexact=code).first()


def discount_for(*, price: int, percent: int) -> int:
    """The promo's discount in whole Stars (the rule lives in subscriptions/pricing.py)."""
    return promo_discount(price=price, percent=percent)


def promo_check(*, promo: PromoCode, tariff: Tariff, user: User | None, at=None) -> None:
    """Raise PromoInvalid with the reason this promo cannot be used now."""
    at = at or timezone.now()
    if not promo.is_active:
        raise PromoInvalid("inactive", promo_code=promo.code)
    if promo.valid_from and at < promo.valid_from:
        raise PromoInvalid("not_started", promo_code=promo.code)
    if promo.expires_at and at >= promo.expires_at:
        raise PromoInvalid("expired", promo_code=promo.code)
    if promo.max_uses is not None and promo.used_count >= promo.max_uses:
        raise PromoInvalid("used_up", promo_code=promo.code)
    # tariffs.all() is served from prefetch when the caller prefetched it.
    allowed = [t.pk for t in promo.tariffs.all()]
    if allowed and tariff.pk not in allowed:
        raise PromoInvalid("wrong_tariff", promo_code=promo.code)
    if tariff.renews_monthly and promo.discount_percent:
        raise PromoInvalid("renewing_discount", promo_code=promo.code)
    if user is not None and user.pk and promo.once_per_user:
        if PromoRedemption.objects.filter(promo=promo, user=user, once_per_user=True).exists():
            raise PromoInvalid("already_used", promo_code=promo.code)


def promo_quote(
    *, tariff: Tariff, user: User | None, code: str | None = None, configuration: Configuration | None = None
) -> Quote:
    """The price of `tariff` (in `configuration`, else its fixed one) for `user` after the promo `code` (if any)."""
    promo = None
    if code and code.strip():
        promo = promo_find(code=code)
        if promo is None:
            raise PromoInvalid("unknown", promo_code=code.strip()[:64])
        promo_check(promo=promo, tariff=tariff, user=user)
    return quote_for(tariff=tariff, promo=promo, configuration=configuration)


def quote_for(*, tariff: Tariff, promo: PromoCode | None, configuration: Configuration | None = None) -> Quote:
    configuration = configuration or Configuration(tariff=tariff)
    price = configuration_price(configuration)
    base = price.total
    discount = discount_for(price=base, percent=promo.discount_percent) if promo else 0
    return Quote(
        tariff=tariff,
        promo=promo,
        base_price=base,
        discount=discount,
        amount=base - discount,
        days=tariff.days,
        bonus_days=promo.bonus_days if promo else 0,
        configuration=configuration,
        price=price,
    )


def promo_consume(*, promo: PromoCode, user: User, purchase_id: uuid.UUID | None = None) -> PromoRedemption:
    """Count one use of `promo` by `user`, race-safe.

    The counter moves only with a conditional UPDATE (never past max_uses, never
    on an inactive code); "once per user" is a unique constraint. Must run
    inside the caller's transaction: a refusal raises and the caller rolls back
    or decides what to grant instead.
    """
    updated = (
        PromoCode.objects.filter(pk=promo.pk, is_active=True)
        .filter(Q(max_uses__isnull=True) | Q(used_count__lt=F("max_uses")))
        .update(used_count=F("used_count") + 1)
    )
    if not updated:
        raise PromoInvalid("used_up", promo_code=promo.code)
    try:
        with transaction.atomic():
            return PromoRedemption.objects.create(
                promo=promo, user=user, purchase_id=purchase_id, once_per_user=promo.once_per_user
            )
    except IntegrityError:
        # Our savepoint is gone; undo the count we just made.
        PromoCode.objects.filter(pk=promo.pk).update(used_count=F("used_count") - 1)
        raise PromoInvalid("already_used", promo_code=promo.code) from None


def promo_release(*, purchase_id: uuid.UUID) -> bool:
    """Give a refunded purchase's promo use back. Returns False when there was none
    (so a second refund releases nothing)."""
    redemption = PromoRedemption.objects.filter(purchase_id=purchase_id).first()
    if redemption is None:
        return False
    promo_id = redemption.promo_id
    redemption.delete()
    PromoCode.objects.filter(pk=promo_id, used_count__gt=0).update(used_count=F("used_count") - 1)
    return True


# --- Admin: bulk generation and deactivation ----------------------------------

PROMO_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand
PROMO_BULK_MAX = 10_000


def _random_promo_codes(*, prefix: str, count: int, length: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(prefix + "".join(secrets.choice(PROMO_CODE_ALPHABET) for _ in range(length)))
    return list(codes)


def promo_bulk_generate(
    *, prefix: str, count: int, length: int = 8, tariffs: list[Tariff] | None = None, **fields
) -> list[PromoCode]:
    """Create `count` new promo codes `<prefix><random>` with the same settings.

    Uniqueness is the database's (case-insensitive unique index): codes that
    already exist are skipped before inserting, and a concurrent insert of the
    same code rolls the batch back and draws again. All or nothing.
    """
    prefix = (prefix or "").strip().upper()
    if not 1 <= count <= PROMO_BULK_MAX:
        message = _("Choose between 1 and %(max)d codes.") % {"max": PROMO_BULK_MAX}
        raise ApplicationError(message, code="validation_error")
    if not 4 <= length <= 32 or len(prefix) + length > PromoCode._meta.get_field("code").max_length:
        raise ApplicationError(_("The code length is out of range."), code="validation_error")
    sample = PromoCode(code=prefix + "X" * length, **fields)
    try:
        sample.full_clean(exclude=["code"], validate_unique=False)
    except ValidationError as exc:
        raise ApplicationError(_("Invalid promo settings: %(errors)s") % {"errors": exc.messages}) from exc
    for _attempt in range(5):
        wanted = _random_promo_codes(prefix=prefix, count=count, length=length)
        taken = set(
            PromoCode.objects.annotate(code_lower=Lower("code"))
            .filter(code_lower__in=[code.lower() for code in wanted])
            .values_list("code_lower", flat=True)
        )
        fresh = [code for code in wanted if code.lower() not in taken]
        if len(fresh) < count:
            continue
        try:
            with transaction.atomic():
                promos = PromoCode.objects.bulk_create([PromoCode(code=code, **fields) for code in fresh])
                if tariffs:
                    through = PromoCode.tariffs.through
                    through.objects.bulk_create(
                        [through(promocode_id=promo.pk, tariff_id=tariff.pk) for promo in promos for tariff in tariffs]
                    )
                staff_action_record(
                    action=StaffAction.Action.PROMO_BULK_CREATE,
                    target_label=f"{prefix}… × {count}",
                    after={"count": count, "prefix": prefix, **fields},
                )
                return promos
        except IntegrityError:
            continue  # a concurrent insert took one of our codes: draw again
    raise ApplicationError(_("Could not find enough unused codes; use a longer code."), code="conflict", status=409)


@transaction.atomic
def promo_deactivate(*, promo_ids: list[int]) -> int:
    """Switch codes off (they stay for history and reports); returns how many changed."""
    codes = dict(
        PromoCode.objects.select_for_update().filter(pk__in=promo_ids, is_active=True).values_list("pk", "code")
    )
    changed = PromoCode.objects.filter(pk__in=list(codes), is_active=True).update(is_active=False)
    if changed:
        staff_action_record(
            action=StaffAction.Action.PROMO_DEACTIVATE,
            target_label=", ".join(sorted(codes.values())),
            before={"is_active": True},
            after={"is_active": False, "count": changed},
        )
    return changed
