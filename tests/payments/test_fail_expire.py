from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments.models import Payment, PurchaseEvent
from payments.services import payments_expire_stale, purchase_fail
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay

pytestmark = pytest.mark.django_db


def age(payment, **delta):
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(**delta))


def test_fail_moves_pending_to_failed_with_event(tariff_1m):
    payment = PaymentFactory()
    assert purchase_fail(payment=payment, reason="qa")
    payment.refresh_from_db()
    assert payment.status == "failed" and payment.failure_reason == "qa"
    event = PurchaseEvent.objects.get(payment=payment, name="purchase_failed")
    assert event.payload["previous_status"] == "pending"


def test_paid_payment_never_fails(tariff_1m):
    payment = PaymentFactory()
    pay(payment)
    assert not purchase_fail(payment=payment, reason="qa")
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_stale_pending_payments_expire_once(tariff_1m, settings):
    settings.PAYMENT_PENDING_TTL_MINUTES = 60
    stale, fresh = PaymentFactory(), PaymentFactory()
    age(stale, minutes=61)
    assert payments_expire_stale() == 1
    assert payments_expire_stale() == 0
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == ("expired", "pending")
    assert PurchaseEvent.objects.filter(payment=stale, name="purchase_expired").count() == 1


def test_expire_command_reports_count(tariff_1m, capsys):
    age(PaymentFactory(), days=30)
    call_command("expire_pending_payments", "--older-than-minutes", "10")
    assert "expired 1" in capsys.readouterr().out
