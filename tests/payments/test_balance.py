import uuid

import pytest
from django.db import IntegrityError, transaction

from conftest import run_concurrently
from payments.errors import InsufficientBalance, MockPaymentsDisabled
from payments.gateways.balance import purchase_pay_from_balance
from payments.ledger import balance_adjust, balance_of, dev_add_stars
from payments.models import LedgerEntry, Payment
from promos.services import PromoInvalid
from subscriptions.models import Subscription
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import StaffUserFactory, UserFactory
from users.models import User
from users.services import AccountDeactivated

pytestmark = pytest.mark.django_db


def funded_user(stars: int) -> User:
    user = UserFactory()
    balance_adjust(user=user, delta=stars, reason="test funding")
    user.refresh_from_db()
    return user


def test_pay_from_balance_spends_and_grants_in_one_go(tariff_1m):
    user = funded_user(150)
    payment = purchase_pay_from_balance(user=user, tariff="1m")
    user.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED and payment.method == Payment.Method.BALANCE
    assert user.stars_balance == 50 == balance_of(user=user)
    spend = LedgerEntry.objects.get(payment=payment)
    assert (spend.kind, spend.amount, spend.balance_delta) == ("balance_spend", 0, -100)
    assert Subscription.objects.get(user=user).is_active


def test_insufficient_balance_changes_nothing(tariff_1m):
    user = funded_user(99)
    with pytest.raises(InsufficientBalance) as exc:
        purchase_pay_from_balance(user=user, tariff="1m")
    assert exc.value.details == {"needed": 100, "available": 99}
    user.refresh_from_db()
    assert user.stars_balance == 99 and not Payment.objects.exists()
    assert not Subscription.objects.filter(user=user, expires_at__isnull=False).exists()


def test_promo_applies_to_balance_purchase(tariff_1m):
    user = funded_user(90)
    promo = PromoCodeFactory(code="PROMO10", discount_percent=10)
    payment = purchase_pay_from_balance(user=user, tariff="1m", promo_code="PROMO10")
    user.refresh_from_db()
    promo.refresh_from_db()
    assert payment.amount == 90 and user.stars_balance == 0 and promo.used_count == 1


def test_used_up_promo_charges_nothing(tariff_1m):
    user = funded_user(100)
    PromoCodeFactory(code="GONE", max_uses=1, used_count=1)
    with pytest.raises(PromoInvalid):
        purchase_pay_from_balance(user=user, tariff="1m", promo_code="GONE")
    user.refresh_from_db()
    assert user.stars_balance == 100


def test_balance_can_never_go_negative_in_the_database(db):
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(stars_balance=-1)


def test_manual_adjustment_needs_a_reason(db):
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError):
        balance_adjust(user=UserFactory(), delta=10, reason="  ")
    assert not LedgerEntry.objects.exists()


def test_manual_adjustment_is_booked_with_reason_and_actor(db):
    admin = StaffUserFactory()
    user = UserFactory()
    entry = balance_adjust(user=user, delta=25, reason="goodwill", actor=admin)
    assert (entry.kind, entry.balance_delta, entry.reason, entry.created_by) == ("adjustment", 25, "goodwill", admin)
    with pytest.raises(InsufficientBalance):
        balance_adjust(user=user, delta=-26, reason="too much")
    user.refresh_from_db()
    assert user.stars_balance == 25


def test_dev_add_stars_only_with_mock_payments(db, settings):
    user = UserFactory()
    settings.MOCK_PAYMENTS = False
    with pytest.raises(MockPaymentsDisabled):
        dev_add_stars(user=user, amount=100)
    settings.MOCK_PAYMENTS = True
    dev_add_stars(user=user, amount=100)
    user.refresh_from_db()
    assert user.stars_balance == 100


def test_pay_from_balance_with_a_reference_pays_once(tariff_1m):
    user = funded_user(300)
    reference = uuid.uuid4()

    first = purchase_pay_from_balance(user=user, tariff="1m", purchase_id=reference)
    again = purchase_pay_from_balance(user=user, tariff="1m", purchase_id=reference)

    assert first.pk == again.pk and first.purchase_id == reference
    assert balance_of(user=user) == 200
    assert Payment.objects.filter(user=user).count() == 1


def test_dev_add_stars_with_a_reference_credits_once(settings):
    settings.MOCK_PAYMENTS = True
    user = UserFactory()
    reference = uuid.uuid4()

    dev_add_stars(user=user, amount=50, reference=reference)
    dev_add_stars(user=user, amount=50, reference=reference)

    assert balance_of(user=user) == 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_with_one_reference_pay_once(tariff_1m):
    user = funded_user(1000)
    reference = uuid.uuid4()

    results = run_concurrently(lambda _: purchase_pay_from_balance(user=user, tariff="1m", purchase_id=reference), 8)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert {r.pk for r in results} == {results[0].pk}
    assert balance_of(user=user) == 900


@pytest.mark.django_db
def test_a_deactivated_buyer_cannot_spend_the_balance(tariff_1m):
    user = UserFactory(is_active=False)
    balance_adjust(user=user, delta=500, reason="credited before deactivation")

    with pytest.raises(AccountDeactivated):
        purchase_pay_from_balance(user=user, tariff="1m")

    assert User.objects.get(pk=user.pk).stars_balance == 500
    assert not Payment.objects.exists()
