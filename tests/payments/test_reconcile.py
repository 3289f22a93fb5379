"""reconcile_stars: Telegram's Star transactions (the fake server) against the local payments."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conftest import run_concurrently
from payments.charges import Charge
from payments.models import LedgerEntry, Payment, ReconciliationRun
from payments.reconciliation import reconcile_star_transactions
from payments.services import purchase_complete, purchase_create_invoice
from subscriptions.models import Subscription
from tests.payments.factories import PaymentFactory
from tests.telegram_fake.helpers import paid_subscription
from tests.users.factories import UserFactory


def reconcile() -> str:
    out = StringIO()
    call_command("reconcile_stars", stdout=out, stderr=StringIO())
    return out.getvalue()


def lost_payment(fake, *, user=None, amount=None, charge_id="charge-lost") -> Payment:
    """The buyer paid, Telegram lists the charge, but the successful_payment update never arrived."""
    payment = purchase_create_invoice(user=user or UserFactory(), tariff="1m").payment
    fake.add_star_transaction(payment.user, payment.invoice_payload, amount or payment.amount, charge_id)
    return payment


def ledger_rows() -> list[tuple]:
    return list(LedgerEntry.objects.order_by("pk").values_list("payment_id", "kind", "amount", "balance_delta"))


@pytest.mark.django_db
def test_payment_whose_update_was_lost_is_completed_once(fake_telegram, tariff_1m):
    payment = lost_payment(fake_telegram)

    output = reconcile()
    reconcile()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.telegram_payment_charge_id == "charge-lost"
    assert ledger_rows() == [(payment.pk, "purchase", 100, 0)]
    assert Subscription.objects.get(user=payment.user).expires_at is not None
    assert f"completed {payment.purchase_id}" in output


@pytest.mark.django_db
def test_second_run_changes_nothing(fake_telegram, tariff_1m):
    lost_payment(fake_telegram)
    first = reconcile_star_transactions()
    state = (ledger_rows(), list(Payment.objects.values_list("pk", "status", "paid_at")))

    second = reconcile_star_transactions()

    assert (first.fixed_count, second.fixed_count) == (1, 0)
    assert (ledger_rows(), list(Payment.objects.values_list("pk", "status", "paid_at"))) == state
    assert second.ok


@pytest.mark.django_db
def test_refund_made_outside_the_bot_is_booked_once(fake_telegram, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory())
    fake_telegram.add_star_transaction(
        payment.user, payment.invoice_payload, 100, payment.telegram_payment_charge_id, refund=True
    )

    first = reconcile_star_transactions()
    second = reconcile_star_transactions()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert LedgerEntry.objects.filter(payment=payment, kind="refund").count() == 1
    assert [r["purchase_id"] for r in first.refunds_booked] == [str(payment.purchase_id)]
    assert second.refunds_booked == [] and second.ok
    assert fake_telegram.calls("refundStarPayment") == []  # only booked, Telegram already did it


@pytest.mark.django_db
def test_paging_reaches_transactions_beyond_the_first_hundred(fake_telegram, tariff_1m):
    lost = lost_payment(fake_telegram, charge_id="charge-oldest")  # newest first: on the last page
    for payment in PaymentFactory.create_batch(
        130, tariff=tariff_1m, status=Payment.Status.SUCCEEDED, telegram_payment_charge_id=None
    ):
        payment.telegram_payment_charge_id = f"charge-{payment.pk}"
        payment.save(update_fields=["telegram_payment_charge_id"])
        fake_telegram.add_star_transaction(
            payment.user, payment.invoice_payload, 100, payment.telegram_payment_charge_id
        )

    report = reconcile_star_transactions()

    assert report.transactions_seen == 131
    assert [c["charge_id"] for c in report.completed] == ["charge-oldest"]
    assert report.mismatches == []
    assert Payment.objects.get(pk=lost.pk).status == Payment.Status.SUCCEEDED
    assert len(fake_telegram.calls("getStarTransactions")) == 2


@pytest.mark.django_db
def test_small_pages_are_followed_to_the_end(fake_telegram, tariff_1m):
    for i in range(5):
        lost_payment(fake_telegram, charge_id=f"charge-{i}")

    report = reconcile_star_transactions(page_size=2)

    assert report.fixed_count == 5
    assert [c.params["offset"] for c in fake_telegram.calls("getStarTransactions")] == [0, 2, 4]


@pytest.mark.django_db
def test_charge_with_an_unknown_payload_is_recorded_for_review_and_reported(fake_telegram):
    fake_telegram.add_star_transaction(777, "no-such-invoice", 50, "charge-orphan")

    first = reconcile_star_transactions()
    second = reconcile_star_transactions()

    assert [m["kind"] for m in first.mismatches] == ["unknown_payload"]
    review = Payment.objects.get(telegram_payment_charge_id="charge-orphan")
    assert review.needs_review and review.status == Payment.Status.FAILED
    assert LedgerEntry.objects.filter(payment=review).count() == 1  # the money that arrived is booked
    assert [m["kind"] for m in second.mismatches] == ["needs_review"]
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db
def test_charge_with_another_amount_is_reported_not_granted(fake_telegram, tariff_1m):
    payment = lost_payment(fake_telegram, amount=1)

    report = reconcile_star_transactions()

    payment.refresh_from_db()
    assert [m["kind"] for m in report.mismatches] == ["amount_differs"]
    assert payment.status == Payment.Status.FAILED and payment.needs_review
    assert not Subscription.objects.filter(user=payment.user, expires_at__isnull=False).exists()


@pytest.mark.django_db
def test_charge_paid_by_another_user_is_reported_not_granted(fake_telegram, tariff_1m):
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    fake_telegram.add_star_transaction(999_999, payment.invoice_payload, 100, "charge-other")

    report = reconcile_star_transactions()

    assert [m["kind"] for m in report.mismatches] == ["user_differs"]
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING


@pytest.mark.django_db
def test_local_payment_unknown_to_telegram_is_reported_but_mock_charges_are_not(fake_telegram, tariff_1m):
    real = PaymentFactory(tariff=tariff_1m)
    purchase_complete(Charge(payload=real.invoice_payload, charge_id="charge-ghost", amount=100, currency="XTR"))
    mock = PaymentFactory(tariff=tariff_1m)
    purchase_complete(Charge(payload=mock.invoice_payload, charge_id="mock_123", amount=100, currency="XTR"))

    report = reconcile_star_transactions()

    assert [(m["kind"], m["charge_id"]) for m in report.mismatches] == [("missing_in_telegram", "charge-ghost")]
    assert not report.ok


@pytest.mark.django_db
def test_each_run_is_stored(fake_telegram, tariff_1m):
    lost_payment(fake_telegram)

    reconcile_star_transactions()

    run = ReconciliationRun.objects.get()
    assert (run.transactions_seen, run.fixed_count, run.mismatch_count, run.ok) == (1, 1, 0, True)
    assert run.finished_at >= run.started_at
    assert run.report["completed"][0]["charge_id"] == "charge-lost"


@pytest.mark.django_db
def test_telegram_error_stops_the_run_and_fails_the_command(fake_telegram, tariff_1m):
    payment = lost_payment(fake_telegram)
    fake_telegram.fail_next("getStarTransactions", status=500)

    with pytest.raises(CommandError, match="getStarTransactions failed"):
        reconcile()

    run = ReconciliationRun.objects.get()
    assert not run.ok and "Internal Server Error" in run.report["error"]
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING


@pytest.mark.django_db
def test_mismatches_fail_the_command_only_when_asked(fake_telegram):
    fake_telegram.add_star_transaction(777, "no-such-invoice", 50, "charge-orphan")

    call_command("reconcile_stars", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="1 mismatches"):
        call_command("reconcile_stars", "--fail-on-mismatch", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_command_without_a_bot_token_says_so(settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN"):
        reconcile()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_and_a_late_update_complete_the_payment_once(fake_telegram, tariff_1m):
    payment = lost_payment(fake_telegram)

    def work(i: int):
        if i == 0:  # the lost update arrives after all, while reconciliation runs
            return purchase_complete(
                Charge(payload=payment.invoice_payload, charge_id="charge-lost", amount=100, currency="XTR")
            )
        return reconcile_star_transactions()

    results = run_concurrently(work, 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert ledger_rows() == [(payment.pk, "purchase", 100, 0)]
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED
