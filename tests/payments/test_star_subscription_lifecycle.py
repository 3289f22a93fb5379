"""Star subscriptions where charges, refunds, cancels and the expiry job meet: a
renewal refunded before it is recorded, a second subscription during the renewal
grace, a late renewal of an ended subscription, a refund Telegram refuses after
the auto-renewal was canceled, and the expiry job racing a renewal."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conftest import run_concurrently
from payments.errors import AlreadySubscribed, RefundNotAllowed
from payments.gateways.registry import precheckout_validate
from payments.models import LedgerEntry, Payment, PurchaseEvent, StarSubscription
from payments.refunds import refund_from_telegram, refund_payment
from payments.services import purchase_complete, purchase_create_invoice
from payments.star_subscriptions import star_subscription_live_for, star_subscriptions_expire
from subscriptions.models import ProvisioningTask, Subscription, Tariff
from tests.payments.factories import PaymentFactory
from tests.payments.star_subscription_helpers import RENEWING, charge_of, deliver, renew, renewals, subscribe
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def expiry(user):
    return Subscription.objects.get(user=user).expires_at


def first_payment(subscription: StarSubscription) -> Payment:
    return Payment.objects.get(telegram_payment_charge_id=subscription.first_charge_id)


def period_ended(subscription: StarSubscription, ago: timedelta) -> None:
    StarSubscription.objects.filter(pk=subscription.pk).update(current_period_end=timezone.now() - ago)


# --- A renewal refunded before it is recorded ---------------------------------------------------


def test_a_renewal_refunded_before_it_is_recorded_grants_nothing(fake_telegram, renewing_tariff):
    # given a subscribed buyer, and Telegram's refund of a renewal that reaches the shop before the renewal
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    before = expiry(user)
    update = renew(fake_telegram, subscription)
    refund_from_telegram(user=user, charge_id=update.charge_id, amount=100)

    # when the renewal's successful_payment is recorded
    result = deliver(update)

    # then it is booked in and out, refunded, and grants nothing: no days, no renewal counted, no "renewed"
    assert (result.outcome, result.created) == ("refunded", False)
    [renewal] = renewals(subscription)
    assert (renewal.status, renewal.days_granted, renewal.telegram_payment_charge_id) == (
        "refunded",
        0,
        update.charge_id,
    )
    assert sum(LedgerEntry.objects.filter(payment=renewal).values_list("amount", flat=True)) == 0
    assert expiry(user) == before
    subscription.refresh_from_db()
    assert subscription.renewals_count == 0
    assert not PurchaseEvent.objects.filter(name="star_subscription_renewed").exists()
    assert not ProvisioningTask.objects.filter(user=user, reason=ProvisioningTask.Reason.RENEWAL).exists()


def test_a_renewal_refunded_before_it_is_recorded_sends_no_renewed_message(fake_telegram, renewing_tariff):
    from telegram_bot.screens import payment_received

    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    update = renew(fake_telegram, subscription)
    refund_from_telegram(user=user, charge_id=update.charge_id, amount=100)

    replies = payment_received(user, charge=charge_of(update))

    assert replies == []


# --- A second subscription during the renewal grace --------------------------------------------


def test_a_second_subscription_is_refused_during_the_renewal_grace(fake_telegram, renewing_tariff):
    # given a renewing subscription whose period ended an hour ago, its renewal not arrived yet
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    period_ended(subscription, timedelta(hours=1))

    with pytest.raises(AlreadySubscribed):
        purchase_create_invoice(user=user, tariff=RENEWING)


def test_precheckout_refuses_a_second_subscription_during_the_renewal_grace(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    period_ended(subscription, timedelta(hours=1))
    waiting = PaymentFactory(
        user=user, tariff=Tariff.objects.get(code=RENEWING), purchase_type=Payment.STAR_SUBSCRIPTION
    )

    result = precheckout_validate(
        payload=waiting.invoice_payload, from_user_id=user.telegram_id, total_amount=100, currency="XTR"
    )

    assert (result.ok, result.reason) == (False, "already_subscribed")


def test_a_canceled_subscription_whose_period_ended_allows_a_new_one(fake_telegram, renewing_tariff):
    from payments.gateways.stars_subscription import star_subscription_cancel

    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    star_subscription_cancel(user=user)
    period_ended(subscription, timedelta(hours=1))

    assert purchase_create_invoice(user=user, tariff=RENEWING).created


@pytest.fixture
def two_subscription_charges(fake_telegram, renewing_tariff):
    """The first subscription in its renewal grace, its renewal charged; a second subscription's first
    payment charged too (its invoice was issued before the grace began). Neither is recorded yet."""
    user = UserFactory()
    old = subscribe(fake_telegram, user)
    tariff = Tariff.objects.get(code=RENEWING)
    second_invoice = PaymentFactory(user=user, tariff=tariff, purchase_type=Payment.STAR_SUBSCRIPTION)
    period_ended(old, timedelta(hours=1))
    renewal = charge_of(renew(fake_telegram, old))
    start = charge_of(
        fake_telegram.inject_star_subscription_payment(user, second_invoice.invoice_payload, 100, deliver=False)
    )
    return user, old, renewal, start


def flagged_second(renewal_charge, start_charge) -> list[str]:
    flagged = Payment.objects.filter(
        telegram_payment_charge_id__in=[renewal_charge.charge_id, start_charge.charge_id], needs_review=True
    )
    return list(flagged.values_list("telegram_payment_charge_id", flat=True))


def test_a_new_subscription_paid_during_the_grace_is_flagged_when_the_old_one_renews_first(two_subscription_charges):
    user, old, renewal, start = two_subscription_charges

    purchase_complete(renewal)
    purchase_complete(start)

    assert flagged_second(renewal, start) == [start.charge_id]


def test_a_new_subscription_paid_during_the_grace_is_flagged_before_the_old_one_renews(two_subscription_charges):
    user, old, renewal, start = two_subscription_charges

    purchase_complete(start)

    assert flagged_second(renewal, start) == [start.charge_id]
    assert old.first_charge_id in Payment.objects.get(telegram_payment_charge_id=start.charge_id).review_reason


def test_a_renewal_next_to_another_renewing_subscription_is_flagged(two_subscription_charges):
    # given the new subscription recorded first: Telegram now renews two subscriptions of this buyer
    user, old, renewal, start = two_subscription_charges
    purchase_complete(start)

    purchase_complete(renewal)

    flagged = Payment.objects.get(telegram_payment_charge_id=renewal.charge_id)
    assert flagged.needs_review and "second auto-renewing subscription" in flagged.review_reason


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_a_renewal_and_a_new_subscription_racing_during_the_grace_flag_the_second_to_land(
    two_subscription_charges, round_
):
    # given the old subscription's renewal and a new subscription's first payment, delivered at once
    user, old, renewal, start = two_subscription_charges

    results = run_concurrently(lambda i: purchase_complete((renewal, start)[i]), 2)

    # then both are granted (the buyer paid both), and whichever landed second is flagged
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r.outcome for r in results] == ["granted", "granted"]
    first_to_land = min(results, key=lambda r: r.payment.paid_at).payment
    second_to_land = max(results, key=lambda r: r.payment.paid_at).payment
    assert Payment.objects.get(pk=second_to_land.pk).needs_review, (first_to_land, second_to_land)
    assert StarSubscription.objects.filter(user=user).count() == 2


# --- A late renewal of an ended subscription next to a new one --------------------------------


def test_a_late_renewal_of_an_ended_subscription_next_to_a_new_one_is_flagged(fake_telegram, renewing_tariff):
    # given a subscription ended by the expiry job (no renewal in the grace), and a new one bought since
    user = UserFactory()
    old = subscribe(fake_telegram, user)
    late = renew(fake_telegram, old)  # charged by Telegram, delivered days late
    period_ended(old, timedelta(days=2))
    assert star_subscriptions_expire() == 1
    new = subscribe(fake_telegram, user)

    # when the old one's renewal finally arrives
    result = deliver(late)

    # then the money is recorded and granted (the buyer paid), and flagged: two subscriptions charge every month
    assert result.outcome == "granted"
    assert result.payment.needs_review
    assert new.first_charge_id in result.payment.review_reason
    assert not first_payment(new).needs_review


# --- A refund Telegram refuses after the auto-renewal was canceled -----------------------------


def test_a_refund_telegram_refuses_resumes_the_auto_renewal_it_canceled(fake_telegram, renewing_tariff):
    # given a renewing subscription, and Telegram refusing the refund of its first payment
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    first = first_payment(subscription)
    fake_telegram.fail_next("refundStarPayment", status=400, description="Bad Request: BALANCE_TOO_LOW")

    # when an admin refunds the first payment
    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=first, reason="asked")

    # then nothing is refunded and the subscription renews again, in Telegram and in the shop
    assert Payment.objects.get(pk=first.pk).status == "succeeded"
    assert [e["is_canceled"] for e in fake_telegram.subscription_edits] == [True, False]
    assert fake_telegram.star_subscription(subscription.first_charge_id)["canceled"] is False
    subscription.refresh_from_db()
    assert (subscription.status, subscription.canceled_at) == ("active", None)
    assert Subscription.objects.get(user=user).renews_automatically


def test_a_refused_refund_whose_resume_telegram_refuses_leaves_it_canceled_flagged_and_told(
    fake_telegram, renewing_tariff
):
    # given Telegram refusing the refund and then the resume of the auto-renewal canceled for it
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    first = first_payment(subscription)
    fake_telegram.fail_next("refundStarPayment", status=400, description="Bad Request: BALANCE_TOO_LOW")
    fake_telegram.fail_next("editUserStarSubscription", status=500, when={"is_canceled": False})
    sent_before = len(fake_telegram.sent_texts(user.telegram_id))

    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=first, reason="asked")

    # then the shop says what Telegram says (canceled, not renewing), the payment waits for an admin,
    # and the buyer is told their auto-renewal is off
    assert fake_telegram.star_subscription(subscription.first_charge_id)["canceled"] is True
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert not Subscription.objects.get(user=user).renews_automatically
    first.refresh_from_db()
    assert first.status == "succeeded" and first.needs_review
    assert len(fake_telegram.sent_texts(user.telegram_id)) == sent_before + 1
    assert fake_telegram.calls("refundStarPayment")[0].status == 400


def test_a_refused_cancel_refunds_nothing_and_changes_nothing(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    first = first_payment(subscription)
    fake_telegram.fail_next("editUserStarSubscription", status=500)

    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=first, reason="asked")

    assert fake_telegram.calls("refundStarPayment") == []
    subscription.refresh_from_db()
    assert subscription.status == "active" and first.status == "succeeded"
    assert fake_telegram.star_subscription(subscription.first_charge_id)["canceled"] is False


def test_a_refund_telegram_makes_ends_the_subscription_in_both(fake_telegram, renewing_tariff):
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)

    refund_payment(payment=first_payment(subscription), reason="asked")

    assert fake_telegram.star_subscription(subscription.first_charge_id)["canceled"] is True
    subscription.refresh_from_db()
    assert (subscription.status, subscription.canceled_by) == ("expired", "refund")
    assert star_subscription_live_for(user=user) is None


# --- A late renewal after the first payment's refund --------------------------------------------


def test_a_late_renewal_after_the_first_payment_refund_keeps_the_subscription_ended(fake_telegram, renewing_tariff):
    # given a renewal Telegram charged just before the first payment was refunded (and its renewal canceled)
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    late = renew(fake_telegram, subscription)
    refund_payment(payment=first_payment(subscription), reason="asked")

    # when the renewal is recorded
    result = deliver(late)

    # then the buyer gets the period they paid for, but nothing says it renews: it stays ended
    assert result.outcome == "granted"
    subscription.refresh_from_db()
    assert subscription.status == "expired"
    assert star_subscription_live_for(user=user) is None
    assert not Subscription.objects.get(user=user).renews_automatically
    assert purchase_create_invoice(user=user, tariff=RENEWING).created


def test_a_late_renewal_after_telegram_refunded_the_first_payment_keeps_it_ended(fake_telegram, renewing_tariff):
    # given the first payment refunded in Telegram (its refunded_payment booked), and a renewal after it
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    late = renew(fake_telegram, subscription)
    refund_from_telegram(user=user, charge_id=subscription.first_charge_id, amount=100)

    result = deliver(late)

    subscription.refresh_from_db()
    assert subscription.status == "expired"
    assert not Subscription.objects.get(user=user).renews_automatically
    # Telegram still charged it: an admin has to see it
    assert result.payment.needs_review


def test_a_subscription_canceled_by_the_buyer_stays_canceled_when_the_first_payment_is_refunded(
    fake_telegram, renewing_tariff
):
    from payments.gateways.stars_subscription import star_subscription_cancel

    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    star_subscription_cancel(user=user)

    refund_payment(payment=first_payment(subscription), reason="asked")

    subscription.refresh_from_db()
    assert (subscription.status, subscription.canceled_by) == ("expired", "buyer")
    assert subscription.canceled_at is not None


# --- The expiry job racing a renewal ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_expiry_job_does_not_end_a_subscription_renewed_between_its_read_and_its_write(
    fake_telegram, renewing_tariff
):
    # given a renewing subscription past its grace, and its renewal committed right after the job read it
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    period_ended(subscription, timedelta(days=2))
    renewal = charge_of(renew(fake_telegram, subscription))
    renewed = threading.Event()

    def renew_after_the_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not renewed.is_set() and sql.lstrip().upper().startswith("SELECT") and "starsubscription" in sql:
            renewed.set()
            run_concurrently(lambda _: purchase_complete(renewal), 1)
        return result

    # when the job runs
    with connection.execute_wrapper(renew_after_the_read):
        ended = star_subscriptions_expire()

    # then the renewal stands: the subscription renews, with its new period
    assert renewed.is_set() and ended == 0
    subscription.refresh_from_db()
    assert (subscription.status, subscription.renewals_count) == ("active", 1)
    assert subscription.current_period_end > timezone.now()
    assert Subscription.objects.get(user=user).renews_automatically
