import pytest

from payments.charges import Charge
from payments.gateways.registry import precheckout_validate
from payments.models import LedgerEntry, Payment
from payments.services import purchase_complete, purchase_create_invoice
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory


@pytest.mark.django_db
def test_buy_one_month_with_promo10(tariff_1m):
    user = UserFactory()
    PromoCodeFactory(code="PROMO10", discount_percent=10)
    invoice = purchase_create_invoice(user=user, tariff="1m", promo_code="promo10")
    payment = invoice.payment
    assert payment.amount == 90
    check = precheckout_validate(
        payload=payment.invoice_payload, from_user_id=user.telegram_id, total_amount=90, currency="XTR"
    )
    assert check.ok, check
    result = purchase_complete(Charge(payload=payment.invoice_payload, charge_id="ch1", amount=90, currency="XTR"))
    assert result.created
    again = purchase_complete(Charge(payload=payment.invoice_payload, charge_id="ch1", amount=90, currency="XTR"))
    assert not again.created
    assert LedgerEntry.objects.filter(payment=payment).count() == 1
    assert Payment.objects.get(pk=payment.pk).status == "succeeded"
