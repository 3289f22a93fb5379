"""What must hold after any failure: the books and the queues, read from the database."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.db.models import Sum

from payments.ledger import balances_verify
from payments.models import LedgerEntry, Payment, PendingRefund, PurchaseEvent
from subscriptions.models import ProvisioningTask, Subscription
from telegram_bot.models import TelegramUpdate

PAID = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)
MONEY_IN = (LedgerEntry.Kind.PURCHASE, LedgerEntry.Kind.TOPUP)


def settled() -> bool:
    """Nothing left to do: every stored update handled, every outbox row run, every refund applied."""
    return not (
        TelegramUpdate.objects.exclude(status=TelegramUpdate.Status.DONE).exists()
        or ProvisioningTask.objects.exclude(status=ProvisioningTask.Status.DONE).exists()
        or PendingRefund.objects.filter(applied_at__isnull=True).exists()
    )


def unsettled() -> str:
    updates = list(TelegramUpdate.objects.exclude(status="done").values_list("update_id", "kind", "status", "error"))
    tasks = list(ProvisioningTask.objects.exclude(status="done").values_list("pk", "kind", "status", "last_error"))
    return f"updates not done: {updates}; provisioning not done: {tasks}"


def assert_books_balance(*, panel=None) -> None:
    """Every paid payment granted exactly once, every refund booked exactly once,
    balances equal the ledger, nothing stuck, and the panel holds what the database says."""
    assert settled(), unsettled()
    for payment in Payment.objects.filter(status__in=PAID, method=Payment.Method.STARS):
        kinds = Counter(LedgerEntry.objects.filter(payment=payment).values_list("kind", flat=True))
        assert sum(kinds[kind] for kind in MONEY_IN) == 1, (payment.purchase_id, kinds)
        assert kinds[LedgerEntry.Kind.REFUND] == (1 if payment.status == Payment.Status.REFUNDED else 0), kinds
        grants = PurchaseEvent.objects.filter(payment=payment, name=PurchaseEvent.Name.SUCCEEDED).count()
        refunded_first = PendingRefund.objects.filter(payment=payment).exists()  # recorded refunded, never granted
        assert grants == (0 if refunded_first else 1), (payment.purchase_id, grants)
    for subscription in Subscription.objects.filter(expires_at__isnull=False).select_related("user"):
        _assert_expiry_is_what_was_paid(subscription)
        if panel is not None:
            _assert_panel_agrees(panel, subscription)
    open_holds = (
        LedgerEntry.objects.filter(kind__in=(LedgerEntry.Kind.REFUND_HOLD, LedgerEntry.Kind.REFUND_RELEASE))
        .exclude(payment__status=Payment.Status.REFUNDED)
        .aggregate(total=Sum("balance_delta"))["total"]
    )
    assert not open_holds, open_holds
    assert balances_verify() == []


def _assert_panel_agrees(panel, subscription: Subscription) -> None:
    """An active subscription is in the panel with its exact expiry; one with nothing left
    (refunded) is disabled there, or was never created."""
    panel_user = panel.user(f"tg_{subscription.user.telegram_id}")
    if subscription.is_active:
        assert panel_user is not None, subscription.user_id
        held = panel_user["expireAt"]
        assert abs(held - subscription.expires_at) < timedelta(milliseconds=1), (subscription.user_id, held)
    else:
        assert panel_user is None or panel_user["status"] == "DISABLED", (subscription.user_id, panel_user)


def _assert_expiry_is_what_was_paid(subscription: Subscription) -> None:
    """Purchases made back to back: the expiry is the first payment plus every day kept."""
    payments = Payment.objects.filter(user=subscription.user, status__in=PAID, kind=Payment.Kind.SUBSCRIPTION)
    first = payments.order_by("paid_at").values_list("paid_at", flat=True).first()
    kept = sum(payments.filter(status=Payment.Status.SUCCEEDED).values_list("days_granted", flat=True))
    expected = first + timedelta(days=kept)
    assert abs(subscription.expires_at - expected) < timedelta(seconds=5), (subscription.user_id, expected)
