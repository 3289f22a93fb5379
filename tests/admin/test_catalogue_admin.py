"""The owner builds the catalogue in the Russian admin: option pages, a location's squads
checked against the panel check, the price rule setting the list price, Finance's rights."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

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


def test_a_price_rule_sets_the_list_price_when_saved(as_owner, tariff_1m):
    from django.contrib.admin.sites import site

    from subscriptions.admin import TariffAdmin

    tariff_1m.monthly_price, tariff_1m.period_discount_percent = 90, 0
    TariffAdmin(Tariff, site).save_model(request=None, obj=tariff_1m, form=None, change=True)

    assert Tariff.objects.get(pk=tariff_1m.pk).price_stars == 90


def test_finance_manages_the_options_and_support_sees_them():
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))

    assert {"add_location", "change_devicetier", "change_traffictier", "delete_planprice"} <= finance
    assert {"view_location", "view_devicetier", "view_planprice"} <= support
