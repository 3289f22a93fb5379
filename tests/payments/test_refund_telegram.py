"""refund_payment: Telegram's refundStarPayment (the fake server), then the booking, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import run_concurrently
from integrations.telegram import client
from payments import refunds
from payments.errors import RefundNotAllowed
from payments.models import LedgerEntry, Payment
from payments.refunds import refund_payment
from payments.services import purchase_complete, purchase_pay_from_balance
from promos.models import PromoCode, PromoRedemption
from subscriptions.models import Subscription
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.subscriptions.factories import TariffFactory
from tests.telegram_fake.helpers import paid_subscription, paid_topup
from tests.users.factories import UserFactory


def refund_rows(payment: Payment):
    return LedgerEntry.objects.filter(payment=payment, kind=LedgerEntry.Kind.REFUND)


def successful_refund_calls(fake):
    return [c for c in fake.calls("refundStarPayment") if c.status == 200]


@pytest.mark.django_db
def test_refund_twice_books_one_negative_row_and_refunds_in_telegram_once(fake_telegram, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory())

    first = refund_payment(payment=payment, reason="asked")
    second = refund_payment(payment=payment, reason="asked again")

    assert (first.created, second.created) == (True, False)
    assert list(refund_rows(payment).values_list("amount", flat=True)) == [-100]
    assert len(successful_refund_calls(fake_telegram)) == 1
    call = fake_telegram.calls("refundStarPayment")[0]
    assert call.params == {
        "user_id": payment.user.telegram_id,
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
    }
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.REFUNDED


@pytest.mark.django_db
def test_refund_already_made_in_telegram_is_booked_once(fake_telegram, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory())
    client().refund_star_payment(user_id=payment.user.telegram_id, charge_id=payment.telegram_payment_charge_id)

    result = refund_payment(payment=payment)
    refund_payment(payment=payment)

    assert result.created
    assert fake_telegram.calls("refundStarPayment")[-1].status == 400
    assert refund_rows(payment).count() == 1


@pytest.mark.parametrize(
    "description",
    [
        "Bad Request: CHARGE_ALREADY_REFUNDED",
        "Bad Request: charge_already_refunded",
        "Bad Request: Charge already refunded",
    ],
)
@pytest.mark.django_db
def test_charge_already_refunded_in_any_letter_case_counts_as_success(fake_telegram, tariff_1m, description):
    payment = paid_subscription(fake_telegram, UserFactory())
    fake_telegram.fail_next("refundStarPayment", status=400, description=description)

    result = refund_payment(payment=payment)

    assert result.created
    assert refund_rows(payment).count() == 1


@pytest.mark.django_db
def test_telegram_server_error_books_nothing_and_says_so(fake_telegram, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory())
    fake_telegram.fail_next("refundStarPayment", status=500)

    with pytest.raises(RefundNotAllowed) as error:
        refund_payment(payment=payment)

    assert error.value.code == "refund_failed" and error.value.status == 502
    assert "Internal Server Error" in str(error.value)
    assert refund_rows(payment).count() == 0
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED


@pytest.mark.django_db
def test_refund_after_a_telegram_error_can_be_retried(fake_telegram, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory())
    fake_telegram.fail_next("refundStarPayment", status=500)
    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=payment)

    result = refund_payment(payment=payment)

    assert result.created and refund_rows(payment).count() == 1


@pytest.mark.django_db
def test_unpaid_payment_is_refused_without_asking_telegram(fake_telegram, tariff_1m):
    payment = PaymentFactory(tariff=tariff_1m)

    with pytest.raises(RefundNotAllowed) as error:
        refund_payment(payment=payment)

    assert error.value.code == "refund_not_paid"
    assert fake_telegram.calls("refundStarPayment") == []


@pytest.mark.django_db
def test_mock_payment_is_booked_without_telegram(fake_telegram, tariff_1m):
    user = UserFactory()
    payment = PaymentFactory(user=user, tariff=tariff_1m)
    purchase_complete(payload=payment.invoice_payload, charge_id="mock_abc", amount=100, currency="XTR")

    result = refund_payment(payment=payment)

    assert result.created and refund_rows(payment).count() == 1
    assert fake_telegram.calls("refundStarPayment") == []


@pytest.mark.django_db
def test_refund_of_a_spent_topup_is_refused_before_telegram(fake_telegram):
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    TariffFactory(code="cheap", price_stars=60, days=30)
    purchase_pay_from_balance(user=user, tariff="cheap")

    with pytest.raises(RefundNotAllowed) as error:
        refund_payment(payment=topup)

    assert error.value.code == "refund_topup_spent"
    assert error.value.details == {"needed": 100, "available": 40}
    assert fake_telegram.calls("refundStarPayment") == []
    assert refund_rows(topup).count() == 0
    user.refresh_from_db()
    assert user.stars_balance == 40


@pytest.mark.django_db
def test_refund_of_an_unspent_topup_takes_the_balance_back(fake_telegram):
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)

    refund_payment(payment=topup)

    user.refresh_from_db()
    assert user.stars_balance == 0
    assert list(refund_rows(topup).values_list("amount", "balance_delta")) == [(-100, -100)]


@pytest.mark.django_db
def test_topup_spent_while_telegram_refunds_is_flagged_for_review(fake_telegram, monkeypatch):
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    TariffFactory(code="cheap", price_stars=60, days=30)
    purchase_pay_from_balance(user=user, tariff="cheap")
    monkeypatch.setattr(refunds, "_refund_precheck", lambda payment: None)  # the spend raced past the check

    with pytest.raises(RefundNotAllowed) as error:
        refund_payment(payment=topup)

    assert error.value.code == "refund_needs_review"
    topup.refresh_from_db()
    assert topup.needs_review and topup.status == Payment.Status.SUCCEEDED
    assert refund_rows(topup).count() == 0


@pytest.mark.django_db
def test_refund_takes_the_granted_days_back_once(fake_telegram, tariff_1m):
    user = UserFactory()
    paid_subscription(fake_telegram, user)
    payment = paid_subscription(fake_telegram, user)
    expires_with_both = Subscription.objects.get(user=user).expires_at

    refund_payment(payment=payment)
    refund_payment(payment=payment)

    assert Subscription.objects.get(user=user).expires_at == expires_with_both - timedelta(days=30)


@pytest.mark.django_db
def test_refund_releases_the_promo_use_once(fake_telegram, tariff_1m):
    PromoCodeFactory(code="PROMO10", discount_percent=10)
    paid_subscription(fake_telegram, UserFactory(), promo_code="PROMO10")
    payment = paid_subscription(fake_telegram, UserFactory(), promo_code="PROMO10")
    assert PromoCode.objects.get(code="PROMO10").used_count == 2

    refund_payment(payment=payment)
    refund_payment(payment=payment)

    assert PromoCode.objects.get(code="PROMO10").used_count == 1
    assert not PromoRedemption.objects.filter(purchase_id=payment.purchase_id).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_book_one_row(fake_telegram, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory())

    results = run_concurrently(lambda i: refund_payment(payment=Payment.objects.get(pk=payment.pk)), 6)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1
    assert refund_rows(payment).count() == 1
    assert len(successful_refund_calls(fake_telegram)) == 1
