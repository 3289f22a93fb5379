from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone, translation

from promos.models import PromoCode, PromoRedemption
from promos.services import PromoInvalid, discount_for, promo_consume, promo_quote
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def refusal(**kwargs) -> str:
    with pytest.raises(PromoInvalid) as exc:
        promo_quote(**kwargs)
    return exc.value.reason


def test_no_code_quotes_the_tariff_price(tariff_1m):
    quote = promo_quote(tariff=tariff_1m, user=UserFactory(), code=None)
    assert (quote.base_price, quote.discount, quote.amount, quote.days, quote.bonus_days) == (100, 0, 100, 30, 0)


def test_percent_discount_and_bonus_days_apply(tariffs):
    # given SUPER2025 (20 % and 14 bonus days), when quoting 3 months (250 Stars)
    PromoCodeFactory(code="SUPER2025", discount_percent=20, bonus_days=14)
    quote = promo_quote(tariff=tariffs["3m"], user=UserFactory(), code="SUPER2025")
    # then 50 Stars off and 90 + 14 days
    assert (quote.discount, quote.amount, quote.total_days) == (50, 200, 104)


def test_code_is_case_insensitive_and_trimmed(tariff_1m):
    PromoCodeFactory(code="PROMO10", discount_percent=10)
    assert promo_quote(tariff=tariff_1m, user=UserFactory(), code="  promo10 ").amount == 90


def test_discount_rounds_down_to_whole_stars():
    # 15 % of 99 is 14.85 Stars: the buyer gets 14 off
    assert discount_for(price=99, percent=15) == 14


def test_price_never_below_one_star_unless_fully_free():
    assert discount_for(price=5, percent=99) == 4
    assert discount_for(price=1, percent=50) == 0
    assert discount_for(price=100, percent=100) == 100


def test_hundred_percent_promo_makes_it_free(tariff_1m):
    PromoCodeFactory(code="FREE", discount_percent=100)
    quote = promo_quote(tariff=tariff_1m, user=UserFactory(), code="FREE")
    assert quote.is_free and quote.amount == 0


def test_unknown_code_is_refused(tariff_1m):
    assert refusal(tariff=tariff_1m, user=UserFactory(), code="NOPE") == "unknown"


def test_inactive_code_is_refused(tariff_1m):
    PromoCodeFactory(code="OFF", is_active=False)
    assert refusal(tariff=tariff_1m, user=UserFactory(), code="OFF") == "inactive"


def test_expired_code_is_refused(tariff_1m):
    PromoCodeFactory(code="OLD", expires_at=timezone.now() - timedelta(seconds=1))
    assert refusal(tariff=tariff_1m, user=UserFactory(), code="OLD") == "expired"


def test_code_before_its_window_is_refused(tariff_1m):
    PromoCodeFactory(code="SOON", valid_from=timezone.now() + timedelta(days=1))
    assert refusal(tariff=tariff_1m, user=UserFactory(), code="SOON") == "not_started"


def test_used_up_code_is_refused(tariff_1m):
    promo = PromoCodeFactory(code="FEW", max_uses=2)
    PromoCode.objects.filter(pk=promo.pk).update(used_count=2)
    assert refusal(tariff=tariff_1m, user=UserFactory(), code="FEW") == "used_up"


def test_code_for_other_tariffs_is_refused(tariffs):
    PromoCodeFactory(code="YEARLY", for_tariffs=[tariffs["12m"]])
    assert refusal(tariff=tariffs["1m"], user=UserFactory(), code="YEARLY") == "wrong_tariff"
    assert promo_quote(tariff=tariffs["12m"], user=UserFactory(), code="YEARLY").discount == 80


def test_code_already_used_by_this_user_is_refused(tariff_1m):
    user = UserFactory()
    promo = PromoCodeFactory(code="ONCE")
    promo_consume(promo=promo, user=user)
    assert refusal(tariff=tariff_1m, user=user, code="ONCE") == "already_used"
    # another user may still use it
    assert promo_quote(tariff=tariff_1m, user=UserFactory(), code="ONCE").discount == 10


def test_reusable_code_can_be_used_twice_by_one_user(tariff_1m):
    user = UserFactory()
    promo = PromoCodeFactory(code="AGAIN", once_per_user=False)
    promo_consume(promo=promo, user=user)
    promo_consume(promo=promo, user=user)
    promo.refresh_from_db()
    assert promo.used_count == 2


def test_refusal_message_is_readable():
    exc = PromoInvalid("used_up", promo_code="X")
    with translation.override("en"):
        assert "used up" in str(exc.message) and exc.code == "promo_invalid" and exc.details["reason"] == "used_up"


def test_consume_never_passes_max_uses(tariff_1m):
    promo = PromoCodeFactory(code="ONE", max_uses=1)
    promo_consume(promo=promo, user=UserFactory())
    with pytest.raises(PromoInvalid) as exc:
        promo_consume(promo=promo, user=UserFactory())
    assert exc.value.reason == "used_up"
    promo.refresh_from_db()
    assert promo.used_count == 1 and PromoRedemption.objects.count() == 1


def test_second_use_by_same_user_does_not_count(tariff_1m):
    user = UserFactory()
    promo = PromoCodeFactory(code="TWICE", max_uses=5)
    promo_consume(promo=promo, user=user)
    with pytest.raises(PromoInvalid):
        promo_consume(promo=promo, user=user)
    promo.refresh_from_db()
    assert promo.used_count == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"discount_percent": 101},
        {"max_uses": 0},
        {"max_uses": 1, "used_count": 2},
    ],
)
def test_database_rejects_impossible_promos(fields):
    with pytest.raises(IntegrityError):
        PromoCode.objects.create(code="BAD", **fields)


def test_codes_are_unique_ignoring_case():
    PromoCode.objects.create(code="Summer")
    with pytest.raises(IntegrityError):
        PromoCode.objects.create(code="SUMMER")
