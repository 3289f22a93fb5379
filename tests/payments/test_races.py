"""Race tests: real threads, real row locks. PostgreSQL only (CI runs them there)."""

import pytest

from payments.errors import InsufficientBalance
from payments.gateways.balance import purchase_pay_from_balance
from payments.ledger import balance_adjust
from payments.models import LedgerEntry, Payment
from payments.refunds import refund_book
from payments.services import purchase_create_invoice
from promos.models import PromoRedemption
from promos.services import PromoInvalid
from subscriptions.models import Subscription
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.promos.factories import PromoCodeFactory
from tests.subscriptions.factories import TariffFactory
from tests.users.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run(fn, count):
    from conftest import run_concurrently

    return run_concurrently(fn, count)


def test_twenty_concurrent_deliveries_grant_once():
    # given one pending payment
    payment = PaymentFactory(tariff=TariffFactory())
    # when 20 threads deliver the same successful payment
    results = run(lambda _: pay(payment, charge_id="same-charge"), 20)
    # then exactly one grant, one ledger row, one 30-day extension
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1
    assert LedgerEntry.objects.filter(payment=payment).count() == 1
    subscription = Subscription.objects.get(user=payment.user)
    assert round((subscription.expires_at - Payment.objects.get(pk=payment.pk).paid_at).total_seconds() / 86400) == 30


def test_promo_with_ten_uses_and_fifty_buyers_gives_ten(django_db_blocker):
    # given a promo with 10 uses and 50 buyers with enough balance
    tariff = TariffFactory()
    promo = PromoCodeFactory(code="TEN", max_uses=10, discount_percent=50)
    buyers = [UserFactory() for _ in range(50)]
    for buyer in buyers:
        balance_adjust(user=buyer, delta=100, reason="funding")
    # when all 50 buy with it at once
    results = run(lambda i: purchase_pay_from_balance(user=buyers[i], tariff=tariff.code, promo_code="TEN"), 50)
    # then exactly 10 succeed, the rest are refused as used up and pay nothing
    succeeded = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if isinstance(r, PromoInvalid)]
    assert len(succeeded) == 10 and len(refused) == 40, [
        r for r in results if not isinstance(r, Payment | PromoInvalid)
    ]
    promo.refresh_from_db()
    assert promo.used_count == 10 == PromoRedemption.objects.filter(promo=promo).count()
    assert sum(LedgerEntry.objects.filter(kind="balance_spend").values_list("balance_delta", flat=True)) == -500


def test_promo_race_on_telegram_payments_never_overcounts():
    # given 30 invoices with a 10-use promo, all past pre-checkout
    tariff = TariffFactory()
    promo = PromoCodeFactory(code="TENTG", max_uses=10, bonus_days=7)
    payments = [
        purchase_create_invoice(user=UserFactory(), tariff=tariff.code, promo_code="TENTG").payment for _ in range(30)
    ]
    # when all are paid at once
    results = run(lambda i: pay(payments[i], charge_id=f"c{i}"), 30)
    # then all are granted (they paid), but only 10 got the promo; the rest wait for review
    assert all(r.created for r in results), results
    promo.refresh_from_db()
    assert promo.used_count == 10
    assert Payment.objects.filter(needs_review=True).count() == 20
    assert Payment.objects.filter(bonus_days=7, days_granted=tariff.days + 7).count() == 10


def test_twenty_concurrent_balance_payments_on_a_balance_for_five():
    # given a balance that covers exactly 5 purchases
    tariff = TariffFactory()
    user = UserFactory()
    balance_adjust(user=user, delta=tariff.price_stars * 5, reason="funding")
    # when 20 purchases race
    results = run(lambda _: purchase_pay_from_balance(user=user, tariff=tariff.code), 20)
    # then exactly 5 go through and the balance is 0, never negative
    assert sum(isinstance(r, Payment) for r in results) == 5
    assert sum(isinstance(r, InsufficientBalance) for r in results) == 15
    user.refresh_from_db()
    assert user.stars_balance == 0


def test_concurrent_refunds_book_once():
    payment = PaymentFactory(tariff=TariffFactory())
    pay(payment, charge_id="r")
    results = run(lambda _: refund_book(payment=payment), 10)
    assert sum(r.created for r in results) == 1, results
    assert LedgerEntry.objects.filter(payment=payment, kind="refund").count() == 1


def test_concurrent_invoice_requests_create_one_invoice():
    tariff = TariffFactory()
    user = UserFactory()
    results = run(lambda _: purchase_create_invoice(user=user, tariff=tariff.code), 10)
    assert sum(r.created for r in results) == 1
    assert Payment.objects.filter(user=user).count() == 1


def test_racing_users_on_one_client_purchase_id_get_one_payment_and_conflicts():
    # given ten users whose clients send the same purchase_id at once
    import uuid as uuid_module

    from payments.errors import PurchaseConflict

    tariff = TariffFactory()
    users = [UserFactory() for _ in range(10)]
    purchase_id = uuid_module.uuid4()
    # when they race
    results = run(lambda i: purchase_create_invoice(user=users[i], tariff=tariff.code, purchase_id=purchase_id), 10)
    # then one invoice is created and every other caller gets a clean conflict, never a database error
    created = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, PurchaseConflict)]
    assert len(created) == 1 and len(conflicts) == 9, results
    assert Payment.objects.get().purchase_id == purchase_id
