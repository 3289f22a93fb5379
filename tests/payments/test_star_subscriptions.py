"""Native Telegram Star subscriptions: the first payment starts one, each renewal
Telegram charges by itself adds one period exactly once, cancel/resume go through
editUserStarSubscription, refunds take back what one charge gave."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from conftest import run_concurrently
from core.errors import ApplicationError
from payments.errors import AlreadySubscribed, RefundNotAllowed
from payments.gateways.balance import RenewingNeedsStars, purchase_pay_from_balance
from payments.gateways.registry import invoice_params, precheckout_validate
from payments.gateways.stars_subscription import (
    SUBSCRIPTION_PERIOD_SECONDS,
    StarSubscriptionEditRefused,
    star_subscription_cancel,
    star_subscription_resume,
)
from payments.ledger import balance_adjust
from payments.models import LedgerEntry, Payment, PurchaseEvent, StarSubscription
from payments.refunds import refund_payment
from payments.services import purchase_create_invoice
from payments.star_subscriptions import star_subscriptions_expire
from promos.services import PromoInvalid
from subscriptions.models import ProvisioningTask, Subscription, Tariff
from tests.payments.factories import PaymentFactory
from tests.payments.star_subscription_helpers import RENEWING, charge_of, deliver, renew, renewals, subscribe
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def expiry(user):
    return Subscription.objects.get(user=user).expires_at


# --- Subscribing -----------------------------------------------------------------------


def test_every_new_shop_offers_a_monthly_renewing_tariff(renewing_tariff):
    tariff = Tariff.objects.get(code=RENEWING)
    assert (tariff.renews_monthly, tariff.days, tariff.is_active) == (True, 30, True)
    assert tariff.title_ru == "Ежемесячно, автопродление"


def test_a_renewing_tariff_needs_30_days_and_at_most_10000_stars(renewing_tariff):
    tariff = Tariff(code="x", title="x", days=31, price_stars=100, renews_monthly=True)
    with translation.override("en"):
        with pytest.raises(Exception, match="30 days"):
            tariff.validate_constraints()
        tariff.days, tariff.price_stars = 30, 10001
        with pytest.raises(Exception, match="10,000 Stars"):
            tariff.validate_constraints()


def test_the_invoice_of_a_renewing_tariff_is_a_star_subscription_link(fake_telegram, renewing_tariff):
    payment = purchase_create_invoice(user=UserFactory(), tariff=RENEWING).payment

    params = invoice_params(payment=payment)

    assert payment.purchase_type == Payment.STAR_SUBSCRIPTION
    assert (params.subscription_period, params.amount) == (SUBSCRIPTION_PERIOD_SECONDS, 100)
    assert "renews automatically" in params.description


def test_a_client_label_never_makes_an_invoice_a_subscription_or_a_trial(fake_telegram, tariff_1m, renewing_tariff):
    for label in (Payment.STAR_SUBSCRIPTION, Payment.RENEWAL, Payment.TRIAL):
        payment = purchase_create_invoice(user=UserFactory(), tariff="1m", purchase_type=label).payment
        assert payment.purchase_type == "subscription"
        assert invoice_params(payment=payment).subscription_period is None


def test_the_first_payment_starts_the_subscription(fake_telegram, renewing_tariff):
    user = UserFactory()

    subscription = subscribe(fake_telegram, user)

    first = Payment.objects.get(telegram_payment_charge_id=subscription.first_charge_id)
    telegram = fake_telegram.star_subscription(subscription.first_charge_id)
    assert (first.status, first.star_subscription_id, first.days_granted) == ("succeeded", subscription.pk, 30)
    assert (subscription.status, subscription.amount, subscription.renewals_count) == ("active", 100, 0)
    assert subscription.current_period_end.timestamp() == telegram["expires"]
    assert abs(expiry(user) - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert Subscription.objects.get(user=user).renews_automatically
    assert PurchaseEvent.objects.filter(name="star_subscription_started", payment=first).count() == 1


def test_a_second_subscription_is_refused_while_one_is_live(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscribe(fake_telegram, user)

    with pytest.raises(AlreadySubscribed):
        purchase_create_invoice(user=user, tariff=RENEWING)


def test_precheckout_refuses_a_second_subscription(fake_telegram, renewing_tariff):
    # given a subscription invoice still open after the buyer subscribed through another one
    user = UserFactory()
    subscribe(fake_telegram, user)
    tariff = Tariff.objects.get(code=RENEWING)
    waiting = PaymentFactory(user=user, tariff=tariff, purchase_type=Payment.STAR_SUBSCRIPTION)

    result = precheckout_validate(
        payload=waiting.invoice_payload, from_user_id=user.telegram_id, total_amount=100, currency="XTR"
    )

    assert (result.ok, result.reason) == (False, "already_subscribed")


def test_a_renewing_tariff_is_not_paid_from_the_balance(fake_telegram, renewing_tariff):
    user = UserFactory()
    balance_adjust(user=user, delta=500, reason="test")
    with pytest.raises(RenewingNeedsStars):
        purchase_pay_from_balance(user=user, tariff=RENEWING)
    assert not Payment.objects.filter(user=user).exists()


def test_discount_codes_do_not_apply_to_renewing_tariffs(fake_telegram, renewing_tariff):
    PromoCodeFactory(code="HALF", discount_percent=50)
    with pytest.raises(PromoInvalid) as refused:
        purchase_create_invoice(user=UserFactory(), tariff=RENEWING, promo_code="HALF")
    assert refused.value.reason == "renewing_discount"


def test_bonus_days_apply_to_the_first_period_only(fake_telegram, renewing_tariff):
    PromoCodeFactory(code="BONUS7", discount_percent=0, bonus_days=7)
    user = UserFactory()

    subscription = subscribe(fake_telegram, user, promo_code="BONUS7")
    deliver(renew(fake_telegram, subscription))

    first = Payment.objects.get(telegram_payment_charge_id=subscription.first_charge_id)
    [renewal] = renewals(subscription)
    assert (first.days_granted, renewal.days_granted, renewal.promo_id) == (37, 30, None)


# --- Renewals -------------------------------------------------------------------------


def test_a_renewal_adds_one_period_once_per_charge(fake_telegram, renewing_tariff):
    # given a subscribed buyer
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    before = expiry(user)

    # when Telegram renews it, and the renewal is delivered twice
    update = renew(fake_telegram, subscription)
    first, again = deliver(update), deliver(update)

    # then one renewal payment, one ledger row, 30 more days, the period moved
    assert (first.outcome, again.outcome) == ("granted", "duplicate")
    [renewal] = renewals(subscription)
    assert (renewal.status, renewal.amount, renewal.telegram_payment_charge_id) == ("succeeded", 100, update.charge_id)
    assert LedgerEntry.objects.filter(gateway_tx_id=update.charge_id).count() == 1
    assert expiry(user) - before == timedelta(days=30)
    subscription.refresh_from_db()
    assert subscription.renewals_count == 1
    assert (
        subscription.current_period_end.timestamp()
        == fake_telegram.star_subscription(subscription.first_charge_id)["expires"]
    )


def test_a_renewal_updates_the_panel_without_a_second_link_message(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    Subscription.objects.filter(user=user).update(link_state=Subscription.LinkState.SENT)

    deliver(renew(fake_telegram, subscription))

    assert Subscription.objects.get(user=user).link_state == Subscription.LinkState.SENT
    assert ProvisioningTask.objects.filter(user=user, reason=ProvisioningTask.Reason.RENEWAL).count() == 1


def test_two_renewals_add_two_periods(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    before = expiry(user)

    deliver(renew(fake_telegram, subscription))
    deliver(renew(fake_telegram, subscription))

    assert renewals(subscription).count() == 2
    assert expiry(user) - before == timedelta(days=60)


def test_a_renewal_for_another_amount_is_booked_and_flagged_not_granted(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    before = expiry(user)
    update = renew(fake_telegram, subscription)
    update["message"]["successful_payment"]["total_amount"] = 99

    result = deliver(update)

    assert result.outcome == "needs_review" and result.payment.needs_review
    assert "renewal of 99 XTR" in result.payment.review_reason
    assert LedgerEntry.objects.get(gateway_tx_id=update.charge_id).amount == 99
    assert expiry(user) == before and renewals(subscription).count() == 0


def test_a_renewal_paid_by_another_user_is_flagged(fake_telegram, renewing_tariff):
    user, stranger = UserFactory(), UserFactory()
    subscription = subscribe(fake_telegram, user)
    update = renew(fake_telegram, subscription)
    update["message"]["from"] = fake_telegram.user_dict(stranger)

    result = deliver(update)

    assert result.outcome == "needs_review" and "another user" in result.payment.review_reason


def test_a_recurring_charge_of_an_unknown_subscription_is_recorded_never_dropped(fake_telegram, renewing_tariff):
    # given a subscription invoice whose first payment the shop recorded as a review (no record)
    user = UserFactory()
    payment = purchase_create_invoice(user=user, tariff=RENEWING).payment
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.SUCCEEDED, telegram_payment_charge_id="x-1")
    update = fake_telegram.inject_star_subscription_payment(user, payment.invoice_payload, 100, deliver=False)
    update["message"]["successful_payment"]["is_first_recurring"] = False

    result = deliver(update)

    assert result.outcome == "needs_review" and "no record" in result.payment.review_reason
    assert LedgerEntry.objects.get(gateway_tx_id=update.charge_id).amount == 100


def test_a_second_charge_of_a_one_off_invoice_is_not_a_renewal(fake_telegram, tariff_1m, renewing_tariff):
    user = UserFactory()
    payment = purchase_create_invoice(user=user, tariff="1m").payment
    deliver(fake_telegram.inject_successful_payment(user, payment.invoice_payload, 100, deliver=False))

    update = fake_telegram.inject_successful_payment(
        user, payment.invoice_payload, 100, is_recurring=True, deliver=False
    )
    result = deliver(update)

    assert result.outcome == "needs_review" and "second charge" in result.payment.review_reason


# --- Cancel and resume ---------------------------------------------------------------------


def test_cancel_asks_telegram_and_keeps_the_paid_period(fake_telegram, renewing_tariff):
    # given a renewing subscription
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    before = expiry(user)

    # when the buyer cancels it (twice)
    star_subscription_cancel(user=user)
    star_subscription_cancel(user=user)

    # then Telegram was asked once, with the first charge, and renews no more
    assert fake_telegram.subscription_edits == [
        {"user_id": user.telegram_id, "charge_id": subscription.first_charge_id, "is_canceled": True}
    ]
    with pytest.raises(ValueError):
        renew(fake_telegram, subscription)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.canceled_by) == ("canceled", "buyer")
    # and the VPN stays active to the end of the paid period
    assert expiry(user) == before
    assert not Subscription.objects.get(user=user).renews_automatically


def test_resume_renews_again(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    star_subscription_cancel(user=user)

    star_subscription_resume(user=user)

    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.canceled_at is None
    assert fake_telegram.subscription_edits[-1]["is_canceled"] is False
    deliver(renew(fake_telegram, subscription))
    assert renewals(subscription).count() == 1


def test_a_cancel_telegram_refuses_changes_nothing_and_is_recorded(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    fake_telegram.fail_next("editUserStarSubscription", status=400, description="Bad Request: CHARGE_ID_INVALID")

    with pytest.raises(StarSubscriptionEditRefused):
        star_subscription_cancel(user=user)

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert PurchaseEvent.objects.filter(name="star_subscription_edit_failed").count() == 1


def test_a_subscription_whose_period_ended_cannot_be_resumed(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    star_subscription_cancel(user=user)
    StarSubscription.objects.filter(pk=subscription.pk).update(current_period_end=timezone.now() - timedelta(hours=1))

    with pytest.raises(ApplicationError) as refused:
        star_subscription_resume(user=user)
    assert refused.value.code == "no_star_subscription"


def test_a_renewal_charged_just_before_a_cancel_keeps_it_canceled(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    update = renew(fake_telegram, subscription)
    star_subscription_cancel(user=user)

    deliver(update)

    subscription.refresh_from_db()
    assert (subscription.status, subscription.renewals_count) == ("canceled", 1)


def test_canceled_and_unrenewed_subscriptions_expire(fake_telegram, renewing_tariff):
    canceled_user, lapsed_user = UserFactory(), UserFactory()
    canceled = subscribe(fake_telegram, canceled_user)
    star_subscription_cancel(user=canceled_user)
    lapsed = subscribe(fake_telegram, lapsed_user)
    ended = timezone.now() - timedelta(days=2)
    StarSubscription.objects.filter(pk__in=[canceled.pk, lapsed.pk]).update(current_period_end=ended)

    assert star_subscriptions_expire() == 2

    assert set(StarSubscription.objects.values_list("status", flat=True)) == {"expired"}
    assert not Subscription.objects.filter(renews_automatically=True).exists()


# --- Refunds ---------------------------------------------------------------------------------


def test_refunding_a_renewal_takes_back_that_period_only(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    update = renew(fake_telegram, subscription)
    deliver(update)
    before = expiry(user)
    [renewal] = renewals(subscription)

    refund_payment(payment=renewal, reason="asked")

    assert fake_telegram.calls("refundStarPayment")[0].params["telegram_payment_charge_id"] == update.charge_id
    assert before - expiry(user) == timedelta(days=30)
    subscription.refresh_from_db()
    assert subscription.status == "active" and fake_telegram.subscription_edits == []


def test_refunding_the_first_payment_of_a_renewing_subscription_cancels_it_with_telegram(
    fake_telegram, renewing_tariff
):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    first = Payment.objects.get(telegram_payment_charge_id=subscription.first_charge_id)

    refund_payment(payment=first, reason="asked")

    assert fake_telegram.subscription_edits == [
        {"user_id": user.telegram_id, "charge_id": subscription.first_charge_id, "is_canceled": True}
    ]
    assert [
        c.method for c in fake_telegram.calls() if c.method in ("editUserStarSubscription", "refundStarPayment")
    ] == [
        "editUserStarSubscription",
        "refundStarPayment",
    ]
    subscription.refresh_from_db()
    assert subscription.status == "expired"
    assert Payment.objects.get(pk=first.pk).status == "refunded"
    with pytest.raises(ValueError):
        renew(fake_telegram, subscription)


def test_a_first_payment_is_not_refunded_when_telegram_will_not_cancel_its_subscription(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    first = Payment.objects.get(telegram_payment_charge_id=subscription.first_charge_id)
    fake_telegram.fail_next("editUserStarSubscription", status=500)

    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=first, reason="asked")

    assert fake_telegram.calls("refundStarPayment") == []
    assert Payment.objects.get(pk=first.pk).status == "succeeded"


# --- Reconciliation ---------------------------------------------------------------------------


def test_reconciliation_grants_a_renewal_whose_update_was_lost_once(fake_telegram, renewing_tariff):
    from payments.reconciliation import reconcile_star_transactions

    # given a renewal Telegram charged, whose update never reached the shop
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    lost = renew(fake_telegram, subscription)

    # when reconciliation runs twice
    first, second = reconcile_star_transactions(), reconcile_star_transactions()

    # then the renewal is granted once, and nothing is reported as a mismatch
    assert [c["charge_id"] for c in first.completed] == [lost.charge_id]
    assert second.completed == [] and first.ok and second.ok, (first.mismatches, second.mismatches)
    assert renewals(subscription).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_deliveries_of_one_renewal_grant_one_period(fake_telegram, renewing_tariff):
    # given a subscribed buyer and one renewal
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    before = expiry(user)
    charge = charge_of(renew(fake_telegram, subscription))

    # when ten deliveries of it race
    from payments.services import purchase_complete

    results = run_concurrently(lambda _: purchase_complete(charge), 10)

    # then exactly one grant: one payment, one ledger row, one period
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.outcome for r in results) == ["duplicate"] * 9 + ["granted"]
    assert renewals(subscription).count() == 1
    assert LedgerEntry.objects.filter(gateway_tx_id=charge.charge_id).count() == 1
    assert expiry(user) - before == timedelta(days=30)
    assert StarSubscription.objects.get(pk=subscription.pk).renewals_count == 1
