"""A configuration bought is frozen on the payment: the price edits made mid-checkout do not
change it, pre-checkout refuses what the catalogue no longer sells at that price, the old
invoice cannot be paid at a new price, and the subscription gets what was bought."""

from __future__ import annotations

import pytest
from django.utils import translation

from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.registry import precheckout_validate
from payments.ledger import balance_adjust
from payments.models import Payment
from payments.services import purchase_create_invoice
from subscriptions.models import Subscription
from subscriptions.pricing import ConfigurationInvalid, Selection
from tests.payments.helpers import pay
from tests.subscriptions.factories import DeviceTierFactory, LocationFactory, TariffFactory, TrafficTierFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def precheckout(payment: Payment, *, amount: int | None = None):
    with translation.override("en"):
        return precheckout_validate(
            payload=payment.invoice_payload,
            from_user_id=payment.user.telegram_id,
            total_amount=payment.amount if amount is None else amount,
            currency="XTR",
        )


@pytest.fixture
def plan():
    """1 month at 100: 1 device (included) or 3 devices (+30), 50 GB a day, Netherlands or Germany (+10)."""
    tariff = TariffFactory(code="built-1m", days=30, months=1, price_stars=100)
    one, three = DeviceTierFactory(device_limit=1), DeviceTierFactory(device_limit=3, monthly_price=30)
    daily = TrafficTierFactory(traffic_limit_bytes=50 * 1024**3, traffic_strategy="DAY")
    nl = LocationFactory(title="Netherlands", squads=["11111111-1111-4111-8111-111111111111"])
    de = LocationFactory(title="Germany", monthly_price=10, squads=["22222222-2222-4222-8222-222222222222"])
    tariff.device_tiers.set([one, three])
    tariff.traffic_tiers.set([daily])
    tariff.locations.set([nl, de])
    return tariff, {"one": one, "three": three, "daily": daily, "nl": nl, "de": de}


def invoice(user, tariff, selection: Selection) -> Payment:
    return purchase_create_invoice(user=user, tariff=tariff.code, selection=selection).payment


def test_the_invoice_charges_the_configuration_and_keeps_its_snapshot(plan):
    tariff, o = plan

    payment = invoice(UserFactory(), tariff, Selection(devices=o["three"].pk, location=o["de"].pk))

    assert (payment.base_price, payment.amount) == (140, 140)
    assert payment.configuration["device_limit"] == 3
    assert payment.configuration["squads"] == ["22222222-2222-4222-8222-222222222222"]
    assert payment.configuration["price"]["total"] == 140
    assert precheckout(payment).ok


def test_a_configuration_the_plan_does_not_offer_makes_no_invoice(plan):
    tariff, o = plan

    with pytest.raises(ConfigurationInvalid):
        invoice(UserFactory(), tariff, Selection(devices=o["three"].pk))  # two locations: one must be chosen

    assert not Payment.objects.exists()


def test_the_same_configuration_reuses_the_open_invoice_and_another_does_not(plan):
    tariff, o = plan
    user = UserFactory()
    first = invoice(user, tariff, Selection(devices=o["one"].pk, location=o["nl"].pk))

    again = purchase_create_invoice(user=user, tariff=tariff.code, selection=Selection(o["one"].pk, None, o["nl"].pk))
    other = invoice(user, tariff, Selection(devices=o["one"].pk, location=o["de"].pk))

    assert (again.created, again.payment.pk) == (False, first.pk)
    assert other.pk != first.pk


def test_an_option_price_edited_mid_checkout_is_refused_at_precheckout(plan):
    tariff, o = plan
    payment = invoice(UserFactory(), tariff, Selection(devices=o["three"].pk, location=o["nl"].pk))
    o["three"].monthly_price = 50
    o["three"].save()

    result = precheckout(payment)

    assert (result.ok, result.reason) == (False, "configuration_price_changed")
    assert "price has changed" in result.message


def test_a_plan_price_edited_mid_checkout_is_refused_at_precheckout(tariff_1m):
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    tariff_1m.price_stars = 120
    tariff_1m.save()

    result = precheckout(payment)

    assert (result.ok, result.reason) == (False, "configuration_price_changed")


def test_an_option_switched_off_mid_checkout_is_refused_at_precheckout(plan):
    tariff, o = plan
    payment = invoice(UserFactory(), tariff, Selection(devices=o["one"].pk, location=o["de"].pk))
    tariff.locations.remove(o["de"])

    result = precheckout(payment)

    assert (result.ok, result.reason) == (False, "configuration_unknown_option")


def test_the_old_invoice_cannot_be_paid_at_the_new_price(plan):
    tariff, o = plan
    payment = invoice(UserFactory(), tariff, Selection(devices=o["three"].pk, location=o["nl"].pk))
    o["three"].monthly_price = 50
    o["three"].save()

    result = pay(payment, amount=150)  # what the catalogue asks now

    payment.refresh_from_db()
    assert (result.outcome, payment.status, payment.needs_review) == ("needs_review", Payment.Status.FAILED, True)
    assert not Subscription.objects.filter(user=payment.user, expires_at__isnull=False).exists()


def test_a_charge_past_precheckout_grants_the_snapshot_not_the_edited_catalogue(plan):
    tariff, o = plan
    payment = invoice(UserFactory(), tariff, Selection(devices=o["three"].pk, location=o["de"].pk))
    o["three"].device_limit = 10
    o["three"].save()
    o["de"].squads = ["33333333-3333-4333-8333-333333333333"]
    o["de"].save()

    assert pay(payment).outcome == "granted"

    configuration = Subscription.objects.get(user=payment.user).configuration
    assert (configuration["device_limit"], configuration["squads"]) == (3, ["22222222-2222-4222-8222-222222222222"])


def test_paying_from_the_balance_keeps_the_configuration(plan):
    tariff, o = plan
    buyer = UserFactory()
    balance_adjust(user=buyer, delta=200, reason="test funding")

    payment = purchase_pay_from_balance(
        user=buyer, tariff=tariff.code, selection=Selection(devices=o["three"].pk, location=o["nl"].pk)
    )

    assert payment.amount == 130 and payment.configuration["device_limit"] == 3
    assert Subscription.objects.get(user=buyer).configuration["squads"] == o["nl"].squads
