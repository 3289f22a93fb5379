import pytest
from django.utils import translation

from payments.gateways.registry import precheckout_validate
from payments.models import Payment
from promos.models import PromoCode
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def check(payment, **overrides):
    args = {
        "payload": payment.invoice_payload,
        "from_user_id": payment.user.telegram_id,
        "total_amount": payment.amount,
        "currency": "XTR",
    }
    args.update(overrides)
    return precheckout_validate(**args)


def test_pending_invoice_passes(tariff_1m):
    assert check(PaymentFactory()).ok


def test_wrong_amount_is_refused(tariff_1m):
    result = check(PaymentFactory(), total_amount=1)
    assert (result.ok, result.reason) == (False, "wrong_amount") and result.message


def test_wrong_currency_is_refused(tariff_1m):
    assert check(PaymentFactory(), currency="USD").reason == "wrong_currency"


def test_unknown_payload_is_refused(tariff_1m):
    assert check(PaymentFactory(), payload="forged").reason == "unknown_payload"


def test_payload_of_another_user_is_refused(tariff_1m):
    assert check(PaymentFactory(), from_user_id=UserFactory().telegram_id).reason == "user_mismatch"


def test_already_paid_is_refused(tariff_1m):
    assert check(PaymentFactory(status=Payment.Status.SUCCEEDED)).reason == "already_paid"


def test_expired_invoice_is_refused(tariff_1m):
    assert check(PaymentFactory(status=Payment.Status.EXPIRED)).reason == "expired"


def test_disabled_tariff_is_refused(tariff_1m):
    payment = PaymentFactory()
    tariff_1m.is_active = False
    tariff_1m.save()
    assert check(payment).reason == "tariff_unavailable"


def test_promo_used_up_meanwhile_is_refused(tariff_1m):
    promo = PromoCodeFactory(code="LAST", max_uses=1)
    payment = PaymentFactory(promo=promo, discount=10)
    PromoCode.objects.filter(pk=promo.pk).update(used_count=1)
    with translation.override("en"):
        result = check(payment)
    assert result.reason == "promo_used_up" and "used up" in result.message


def test_precheckout_is_a_few_indexed_reads(tariff_1m, django_assert_max_num_queries):
    payment = PaymentFactory(promo=PromoCodeFactory(code="FAST"), discount=10)
    with django_assert_max_num_queries(3):
        assert check(payment).ok
