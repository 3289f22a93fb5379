"""A payment is mock only when a mock completion paid it: a purchase started with the
"mock" source label and paid with real Stars is a real Stars payment everywhere
(the refund returns the Stars through Telegram, the figures count it)."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from payments.gateways.registry import STARS_INVOICE, gateway_for
from payments.models import Payment
from payments.services import purchase_create_invoice
from tests.telegram_fake.helpers import paid_in_telegram
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled_mock_paid_in_stars(fake_telegram, tariff_1m) -> Payment:
    """Started with source "mock" (mock payments off), then paid with real Stars in Telegram."""
    invoice = purchase_create_invoice(user=UserFactory(), tariff="1m", promo_code=None, source=Payment.Source.MOCK)
    return paid_in_telegram(fake_telegram, invoice.payment)


def test_a_telegram_charge_is_not_mock_whatever_the_source_says(labelled_mock_paid_in_stars):
    payment = labelled_mock_paid_in_stars

    assert payment.is_mock is False
    assert gateway_for(payment) is STARS_INVOICE


def test_admin_refund_of_it_returns_the_stars_through_telegram(
    admin_client_for, finance_user, labelled_mock_paid_in_stars, fake_telegram
):
    payment = labelled_mock_paid_in_stars

    admin_client_for(finance_user).post(
        reverse("admin:payments_payment_refund", args=[payment.pk]), {"confirm": "yes", "reason": "asked"}
    )

    assert [call.params for call in fake_telegram.calls("refundStarPayment")] == [
        {"user_id": payment.user.telegram_id, "telegram_payment_charge_id": payment.telegram_payment_charge_id}
    ]
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.REFUNDED


def test_revenue_and_buyer_figures_count_it(admin_client_for, superuser, labelled_mock_paid_in_stars):
    cache.clear()

    data = admin_client_for(superuser).get(reverse("admin:payments_payment_dashboard")).context["data"]

    figures = {card.key: card.current for card in data.cards}
    assert (figures["net_revenue"], figures["paying_buyers"], figures["new_buyers"]) == (100, 1, 1)
    assert Payment.objects.get(pk=labelled_mock_paid_in_stars.pk).first_paid is True
    cache.clear()
