"""The owner builds the catalogue in the Russian admin: option pages, a location's squads
checked against the panel check, the price rule setting the list price, Finance's rights."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone, translation

from payments.dashboard.page import sales_by_option
from payments.dashboard.period import period_preset
from subscriptions.admin import LocationForm
from subscriptions.models import PanelCheck, Tariff

pytestmark = pytest.mark.django_db

NL = "6f1e8a2c-1111-4222-8333-944455556666"


@pytest.fixture
def as_owner(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("admin:subscriptions_devicetier_add", "вариант устройств"),
        ("admin:subscriptions_traffictier_add", "Сброс трафика"),
        ("admin:subscriptions_location_add", "Внутренние сквады"),
        ("admin:subscriptions_tariff_add", "Что выбирает покупатель"),
    ],
)
def test_the_catalogue_pages_speak_russian(as_owner, url, label):
    page = as_owner.get(reverse(url), HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")

    assert page.status_code == 200 and label in page.content.decode()


def location_form(squads) -> LocationForm:
    return LocationForm(
        data={
            "title": "Netherlands",
            "title_ru": "🇳🇱 Нидерланды",
            "squads": squads,
            "monthly_price": 0,
            "sort_order": 0,
        }
    )


def test_a_location_names_only_squads_the_panel_check_saw():
    PanelCheck.objects.create(pk=1, checked_at=timezone.now(), reachable=True, squads=[{"uuid": NL, "name": "NL"}])

    unknown = location_form('["7b2d9e10-2222-4333-8444-955566667777"]')
    known = location_form(f'["{NL}"]')

    assert not unknown.is_valid() and "NL (" in str(unknown.errors["squads"])
    assert known.is_valid(), known.errors


@pytest.mark.parametrize("squads", ['["not-a-uuid"]', "[]", '"x"', "[1]"])
def test_a_location_needs_a_list_of_squad_uuids(squads):
    assert not location_form(squads).is_valid()


def test_a_price_rule_sets_the_list_price_when_saved(as_owner, tariff_1m, rf, superuser):
    from django.contrib.admin.sites import site

    from subscriptions.admin import TariffAdmin

    request = rf.post("/admin/")
    request.user = superuser
    tariff_1m.monthly_price, tariff_1m.period_discount_percent = 90, 0
    TariffAdmin(Tariff, site).save_model(request=request, obj=tariff_1m, form=None, change=True)

    assert Tariff.objects.get(pk=tariff_1m.pk).price_stars == 90


def test_finance_manages_the_options_and_support_sees_them():
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))

    assert {"add_location", "change_devicetier", "change_traffictier", "delete_planprice"} <= finance
    assert {"view_location", "view_devicetier", "view_planprice"} <= support


# --- Sales by plan and option; the configuration in the payments export --------------------


@pytest.fixture
def sold_configurations(db):
    """Two buyers of the 3-device Germany configuration, one of the 1-device Netherlands one."""
    import uuid

    from payments.charges import Charge
    from payments.services import purchase_complete, purchase_create_invoice
    from subscriptions.pricing import Selection
    from tests.subscriptions.factories import DeviceTierFactory, LocationFactory, TariffFactory
    from tests.users.factories import UserFactory

    tariff = TariffFactory(code="vpn", title="VPN", title_ru="VPN на месяц", days=30, months=1, price_stars=100)
    one, three = DeviceTierFactory(device_limit=1), DeviceTierFactory(device_limit=3, monthly_price=30)
    nl = LocationFactory(title="Netherlands", title_ru="🇳🇱 Нидерланды")
    de = LocationFactory(title="Germany", title_ru="🇩🇪 Германия", monthly_price=10)
    tariff.device_tiers.set([one, three])
    tariff.locations.set([nl, de])
    for devices, location in ((three, de), (three, de), (one, nl)):
        user = UserFactory()
        payment = purchase_create_invoice(
            user=user, tariff="vpn", selection=Selection(devices=devices.pk, location=location.pk)
        ).payment
        purchase_complete(
            Charge(
                payload=payment.invoice_payload,
                charge_id=f"c-{uuid.uuid4().hex}",
                amount=payment.amount,
                currency="XTR",
                from_user_id=user.telegram_id,
            )
        )


def test_the_dashboard_shows_revenue_and_buyers_by_plan_and_option(as_owner, sold_configurations):
    period = period_preset("30d", today=timezone.now().date())
    until = timezone.now() + timedelta(minutes=1)
    with translation.override("en"):
        rows = {
            (str(r["kind"]), r["title"]): (r["count"], r["buyers"], r["stars"])
            for r in sales_by_option(period=period, until=until)
        }

    assert rows[("location", "Germany")] == (2, 2, 280)
    assert rows[("location", "Netherlands")] == (1, 1, 100)
    assert rows[("plan", "VPN")] == (3, 3, 380)
    assert rows[("devices", "3 devices")] == (2, 2, 280)
    page = as_owner.get(reverse("admin:payments_payment_dashboard"), HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")
    assert "🇩🇪 Германия" in page.content.decode() and "Продажи по тарифам и опциям" in page.content.decode()


def test_the_payments_export_carries_the_configuration(as_owner, sold_configurations):
    import csv
    import io

    response = as_owner.get(reverse("admin:payments_payment_export"), HTTP_ACCEPT_LANGUAGE="en")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]

    exported = sorted((row[header.index("location")], row[header.index("device_limit")]) for row in rows[1:])
    assert exported == [("Germany", "3"), ("Germany", "3"), ("Netherlands", "1")]
    assert {row[header.index("list_price")] for row in rows[1:]} == {"140", "100"}
