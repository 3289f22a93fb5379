"""refund_payment: Telegram's refundStarPayment (the fake server), then the booking, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import run_concurrently
from integrations.telegram import client
from payments import refunds
from payments.charges import Charge
from payments.errors import InsufficientBalance, RefundNotAllowed
from payments.gateways.balance import purchase_pay_from_balance
from payments.models import LedgerEntry, Payment
from payments.reconciliation import reconcile_star_transactions
from payments.refunds import refund_from_telegram, refund_payment
from payments.services import purchase_complete
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
    purchase_complete(Charge(payload=payment.invoice_payload, charge_id="mock_abc", amount=100, currency="XTR"))

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

    # then the Stars left the balance when they were held for Telegram, and the refund row books the revenue
    user.refresh_from_db()
    assert user.stars_balance == 0
    rows = LedgerEntry.objects.filter(payment=topup).order_by("pk").values_list("kind", "amount", "balance_delta")
    assert list(rows) == [("topup", 100, 100), ("refund_hold", 0, -100), ("refund", -100, 0)]


def spend_during_the_telegram_call(monkeypatch, spend):
    """Run `spend()` while refundStarPayment is in flight (the buyer spends meanwhile)."""
    outcomes = []
    real = client().refund_star_payment

    def refund_star_payment(**kwargs):
        try:
            outcomes.append(spend())
        except Exception as exc:  # noqa: BLE001 - the test reads it
            outcomes.append(exc)
        return real(**kwargs)

    monkeypatch.setattr(client(), "refund_star_payment", refund_star_payment)
    return outcomes


@pytest.mark.django_db
def test_topup_balance_cannot_be_spent_while_telegram_refunds_it(fake_telegram, monkeypatch):
    # given a paid 100-Star top-up, and a buyer who tries to spend it while Telegram refunds it
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    TariffFactory(code="cheap", price_stars=60, days=30)
    spends = spend_during_the_telegram_call(monkeypatch, lambda: purchase_pay_from_balance(user=user, tariff="cheap"))

    # when the admin refunds it
    result = refund_payment(payment=topup)

    # then the spend was refused, the refund is booked once, and nothing was granted with the refunded Stars
    assert isinstance(spends[0], InsufficientBalance)
    assert result.created and result.shortfall == 0
    assert len(successful_refund_calls(fake_telegram)) == 1
    user.refresh_from_db()
    assert user.stars_balance == 0
    assert not Payment.objects.filter(user=user, method=Payment.Method.BALANCE).exists()
    assert not Payment.objects.get(pk=topup.pk).needs_review


@pytest.mark.django_db
def test_held_topup_stars_come_back_when_telegram_refuses(fake_telegram):
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    fake_telegram.fail_next("refundStarPayment", status=400, description="Bad Request: CHARGE_NOT_FOUND")

    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=topup)

    user.refresh_from_db()
    assert user.stars_balance == 100
    kinds = list(LedgerEntry.objects.filter(payment=topup).order_by("pk").values_list("kind", "balance_delta"))
    assert kinds == [("topup", 100), ("refund_hold", -100), ("refund_release", 100)]
    assert Payment.objects.get(pk=topup.pk).status == Payment.Status.SUCCEEDED


@pytest.mark.django_db
def test_refund_retried_after_a_crash_during_the_telegram_call_holds_once(fake_telegram, monkeypatch):
    # given a refund whose process died after the hold, before Telegram answered
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    refunds._hold_balance(topup)

    # when the admin refunds it again
    result = refund_payment(payment=topup)

    # then the existing hold is used: the balance is taken once, the refund booked once
    assert result.created
    user.refresh_from_db()
    assert user.stars_balance == 0
    assert LedgerEntry.objects.filter(payment=topup, kind="refund_hold").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_topup_refund_racing_balance_spends_on_other_connections_never_pays_twice(fake_telegram, monkeypatch):
    # given a paid 100-Star top-up and a buyer spending from the balance on other connections
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    TariffFactory(code="cheap", price_stars=60, days=30)

    def spend_in_other_connections():
        return run_concurrently(lambda _: purchase_pay_from_balance(user=user, tariff="cheap"), 4)

    spends = spend_during_the_telegram_call(monkeypatch, spend_in_other_connections)

    # when the top-up is refunded in Telegram meanwhile
    result = refund_payment(payment=topup)

    # then no spend got through: the Stars went back to the buyer exactly once
    assert all(isinstance(outcome, InsufficientBalance) for outcome in spends[0]), spends
    assert result.created
    user.refresh_from_db()
    assert user.stars_balance == 0
    assert not Payment.objects.filter(user=user, method=Payment.Method.BALANCE).exists()


@pytest.mark.django_db
def test_telegram_refund_of_a_spent_topup_is_booked_as_a_debt_and_flagged(fake_telegram):
    # given a 100-Star top-up of which 60 were spent on a subscription
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    TariffFactory(code="cheap", price_stars=60, days=30)
    purchase_pay_from_balance(user=user, tariff="cheap")

    # when Telegram reports that it refunded the top-up (refunded elsewhere)
    result = refund_from_telegram(user=user, charge_id=topup.telegram_payment_charge_id, amount=100)

    # then the refund is booked: what is left leaves the balance, the rest is the buyer's debt, for review
    assert result.created and result.shortfall == 60
    topup.refresh_from_db()
    assert topup.status == Payment.Status.REFUNDED
    assert (topup.refund_shortfall, topup.review_open) == (60, True)
    assert "owes 60" in topup.review_reason
    assert list(refund_rows(topup).values_list("amount", "balance_delta")) == [(-100, -40)]
    user.refresh_from_db()
    assert user.stars_balance == 0


@pytest.mark.django_db
def test_telegram_refund_of_a_spent_topup_twice_books_one_debt(fake_telegram):
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    purchase_pay_from_balance(user=user, tariff=TariffFactory(code="all", price_stars=100, days=30).code)

    first = refund_from_telegram(user=user, charge_id=topup.telegram_payment_charge_id, amount=100)
    second = refund_from_telegram(user=user, charge_id=topup.telegram_payment_charge_id, amount=100)

    assert (first.created, second.created) == (True, False)
    assert refund_rows(topup).count() == 1
    assert Payment.objects.get(pk=topup.pk).refund_shortfall == 100


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


@pytest.mark.django_db
def test_reconciliation_gives_back_the_stars_held_by_a_refund_that_died_before_telegram(fake_telegram):
    # given a top-up whose refund process died after holding its Stars, before asking Telegram
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    refunds._hold_balance(topup)
    LedgerEntry.objects.filter(kind="refund_hold").update(created_at=timezone.now() - timedelta(hours=1))

    # when reconciliation finds no refund of it at Telegram
    report = reconcile_star_transactions()
    again = reconcile_star_transactions()

    # then the Stars are the buyer's again, once
    assert [r["purchase_id"] for r in report.holds_released] == [str(topup.purchase_id)]
    assert again.holds_released == []
    user.refresh_from_db()
    assert user.stars_balance == 100
    assert Payment.objects.get(pk=topup.pk).status == Payment.Status.SUCCEEDED


@pytest.mark.django_db
def test_reconciliation_books_a_held_refund_that_telegram_made(fake_telegram):
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    refunds._hold_balance(topup)
    client().refund_star_payment(user_id=user.telegram_id, charge_id=topup.telegram_payment_charge_id)
    LedgerEntry.objects.filter(kind="refund_hold").update(created_at=timezone.now() - timedelta(hours=1))

    report = reconcile_star_transactions()

    assert report.holds_released == [] and len(report.refunds_booked) == 1
    assert Payment.objects.get(pk=topup.pk).status == Payment.Status.REFUNDED
    user.refresh_from_db()
    assert user.stars_balance == 0
