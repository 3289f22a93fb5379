"""The purchase serializers write their output out by hand (speed); it must stay
exactly what DRF renders from the declared fields, which the schema documents."""

from datetime import UTC, datetime

import pytest
from rest_framework import serializers

from api import serializers as s
from api.services import purchase_for_caller
from payments.models import Payment
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db

PAID_AT = datetime(2025, 10, 22, 10, 0, 5, 123456, tzinfo=UTC)


def declared_rendering(serializer: serializers.Serializer, instance) -> dict:
    """What DRF renders from the serializer's declared fields (its generic to_representation)."""
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.fixture(
    params=[
        "pending",
        "succeeded",
        "refunded",
        "topup",
        "with discount and bonus days",
        "loaded for the detail read",
        "fresh enum values",
    ]
)
def payment(request, tariff_1m) -> Payment:
    # given a purchase in one of the shapes the API returns
    if request.param == "pending":
        return PaymentFactory(tariff=tariff_1m)
    if request.param == "succeeded":
        return PaymentFactory(tariff=tariff_1m, status="succeeded", paid_at=PAID_AT, days_granted=30)
    if request.param == "refunded":
        return PaymentFactory(tariff=tariff_1m, status="refunded", paid_at=PAID_AT, refunded_at=PAID_AT)
    if request.param == "topup":
        return PaymentFactory(tariff=None, kind="topup", purchase_type="topup", base_price=250, days=0)
    if request.param == "with discount and bonus days":
        return PaymentFactory(tariff=tariff_1m, discount=10, bonus_days=7, source="api")
    if request.param == "loaded for the detail read":
        created = PaymentFactory(tariff=tariff_1m, status="succeeded", paid_at=PAID_AT)
        return purchase_for_caller(user=created.user, purchase_id=created.purchase_id)
    return PaymentFactory.build(
        tariff=tariff_1m, kind=Payment.Kind.SUBSCRIPTION, status=Payment.Status.PENDING, created_at=PAID_AT
    )


def test_a_purchase_renders_as_its_declared_fields(payment):
    # when the purchase serializer renders it
    serializer = s.PurchaseSerializer(payment)

    # then the output is DRF's rendering of the declared fields, in their order
    assert list(serializer.data.items()) == list(declared_rendering(serializer, payment).items())


def test_an_invoice_renders_as_its_declared_fields(payment):
    serializer = s.InvoiceSerializer(payment, context={"pay_url": "https://t.me/$abc", "reused": True})

    assert list(serializer.data.items()) == list(declared_rendering(serializer, payment).items())


def test_a_balance_payment_renders_as_its_declared_fields(payment):
    payment.user.stars_balance = 120
    serializer = s.PayFromBalanceSerializer(payment)

    assert list(serializer.data.items()) == list(declared_rendering(serializer, payment).items())


def test_a_page_of_purchases_renders_each_as_its_declared_fields(tariff_1m):
    payments = [PaymentFactory(tariff=tariff_1m), PaymentFactory(tariff=None, kind="topup", days=0)]

    data = s.PurchaseSerializer(payments, many=True).data

    child = s.PurchaseSerializer()
    assert [dict(item) for item in data] == [declared_rendering(child, p) for p in payments]


def test_the_schema_still_lists_every_declared_field():
    # the OpenAPI schema reads the declared fields: they stay declared
    assert list(s.InvoiceSerializer().fields) == [
        *s.PurchaseSerializer().fields,
        "pay_url",
        "reused",
    ]
