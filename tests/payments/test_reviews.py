"""Payments flagged for review are resolved (who, when, note) and stop counting as open."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from core.errors import ApplicationError
from payments.gateways.balance import purchase_pay_from_balance
from payments.models import Payment, PurchaseEvent
from payments.refunds import refund_from_telegram, refund_payment
from payments.reviews import review_resolve, reviews_open
from tests.subscriptions.factories import TariffFactory
from tests.telegram_fake.helpers import paid_topup
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def reconcile_strictly() -> None:
    call_command("reconcile_stars", "--fail-on-mismatch", stdout=StringIO(), stderr=StringIO())


def orphan_charge(fake) -> Payment:
    """A charge for an invoice the shop does not know: recorded, flagged, granting nothing."""
    fake.add_star_transaction(777, "no-such-invoice", 50, "charge-orphan")
    with pytest.raises(CommandError):
        reconcile_strictly()
    return Payment.objects.get(telegram_payment_charge_id="charge-orphan")


def test_a_resolved_review_no_longer_fails_reconciliation(fake_telegram):
    # given a flagged payment that keeps `reconcile_stars --fail-on-mismatch` red
    flagged = orphan_charge(fake_telegram)
    with pytest.raises(CommandError, match="1 mismatches"):
        reconcile_strictly()

    # when someone from Finance resolves it with a note
    resolved = review_resolve(payment=flagged, actor=StaffUserFactory(), note="checked with the buyer")

    # then the alarm clears, and the flag and its reason stay as the record
    assert resolved
    reconcile_strictly()
    flagged.refresh_from_db()
    assert flagged.needs_review and flagged.review_reason
    assert flagged.review_note == "checked with the buyer" and flagged.review_resolved_at is not None
    assert PurchaseEvent.objects.filter(payment=flagged, name=PurchaseEvent.Name.REVIEW_RESOLVED).count() == 1


def test_refunding_a_flagged_payment_resolves_its_review(fake_telegram):
    flagged = orphan_charge(fake_telegram)

    refund_payment(payment=flagged, reason="unknown invoice, money returned", actor=StaffUserFactory())

    flagged.refresh_from_db()
    assert flagged.status == Payment.Status.REFUNDED and not flagged.review_open
    assert "money returned" in flagged.review_note
    reconcile_strictly()


def test_resolving_needs_a_note_and_changes_nothing_without_one(fake_telegram):
    flagged = orphan_charge(fake_telegram)

    with pytest.raises(ApplicationError):
        review_resolve(payment=flagged, actor=StaffUserFactory(), note="   ")

    assert Payment.objects.get(pk=flagged.pk).review_open


def test_resolving_twice_changes_nothing(fake_telegram):
    flagged = orphan_charge(fake_telegram)
    staff = StaffUserFactory()

    first = review_resolve(payment=flagged, actor=staff, note="first")
    second = review_resolve(payment=flagged, actor=staff, note="second")

    assert (first, second) == (True, False)
    assert Payment.objects.get(pk=flagged.pk).review_note == "first"


def test_a_new_problem_reopens_a_resolved_review(fake_telegram):
    # given a top-up that was flagged and resolved
    user = UserFactory()
    topup = paid_topup(fake_telegram, user, amount=100)
    Payment.objects.filter(pk=topup.pk).update(needs_review=True, review_reason="checked once")
    review_resolve(payment=topup, actor=StaffUserFactory(), note="fine")
    purchase_pay_from_balance(user=user, tariff=TariffFactory(code="all", price_stars=100, days=30).code)

    # when Telegram refunds it after its Stars were spent
    refund_from_telegram(user=user, charge_id=topup.telegram_payment_charge_id, amount=100)

    # then it needs review again
    assert list(reviews_open()) == [Payment.objects.get(pk=topup.pk)]
