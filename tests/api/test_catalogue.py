"""The catalogue over the API: plans with their options and the price of every configuration,
a quote and an invoice for a configuration (its snapshot in the purchase), and a free location
change. The API only displays what subscriptions/pricing.py computes."""

import pytest

from subscriptions.models import Subscription
from tests.subscriptions.factories import DeviceTierFactory, LocationFactory, TariffFactory

pytestmark = pytest.mark.django_db

DE_SQUAD = "22222222-2222-4222-8222-222222222222"


@pytest.fixture
def plan(db):
    tariff = TariffFactory(code="vpn", title="VPN", title_ru="VPN на месяц", days=30, months=1, price_stars=100)
    one, three = DeviceTierFactory(device_limit=1), DeviceTierFactory(device_limit=3, monthly_price=30)
    nl = LocationFactory(title="Netherlands", title_ru="🇳🇱 Нидерланды")
    de = LocationFactory(title="Germany", title_ru="🇩🇪 Германия", monthly_price=10, squads=[DE_SQUAD])
    tariff.device_tiers.set([one, three])
    tariff.locations.set([nl, de])
    return {"one": one.pk, "three": three.pk, "nl": nl.pk, "de": de.pk}


def test_the_catalogue_lists_options_and_every_configurations_price(api, plan, tariff_1m):
    plans = {row["item_id"]: row for row in api.get("/api/v1/catalogue", HTTP_ACCEPT_LANGUAGE="en").json()}

    vpn = plans["vpn"]
    assert [(o["id"], o["price_stars"], o["device_limit"]) for o in vpn["options"]["devices"]] == [
        (plan["one"], 0, 1),
        (plan["three"], 30, 3),
    ]
    assert [o["title"] for o in vpn["options"]["locations"]] == ["🇳🇱 Нидерланды", "🇩🇪 Германия"]  # the buyer's language
    prices = {(c["devices"], c["location"]): c["price_stars"] for c in vpn["configurations"]}
    assert prices == {
        (plan["one"], plan["nl"]): 100,
        (plan["one"], plan["de"]): 110,
        (plan["three"], plan["nl"]): 130,
        (plan["three"], plan["de"]): 140,
    }
    fixed = plans["1m"]
    assert fixed["options"] == {"devices": [], "traffic": [], "locations": []}
    assert fixed["configurations"] == [{"devices": None, "traffic": None, "location": None, "price_stars": 100}]


def test_a_quote_and_an_invoice_for_a_configuration(api, plan):
    body = {"item_id": "vpn", "devices": plan["three"], "location": plan["de"]}

    quote = api.post("/api/v1/promos/quote", body, format="json").json()
    invoice = api.post("/api/v1/purchase/invoice", body, format="json")

    assert quote["amount_stars"] == 140
    assert invoice.status_code == 201
    configuration = invoice.json()["configuration"]
    assert (invoice.json()["amount_stars"], configuration["device_limit"]) == (140, 3)
    assert configuration["squads"] == [DE_SQUAD] and configuration["price"]["total"] == 140


@pytest.mark.parametrize(
    ("extra", "reason"),
    [({"devices": 999_999, "location": None}, "unknown_option"), ({"devices": None, "location": None}, "choose")],
)
def test_a_configuration_the_plan_does_not_sell_is_a_clear_422(api, plan, extra, reason):
    response = api.post("/api/v1/purchase/invoice", {"item_id": "vpn", **extra}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "configuration_invalid"
    assert response.json()["error"]["details"]["reason"] == reason


def test_the_location_changes_for_free(api, plan):
    purchase = api.post(
        "/api/v1/purchase/invoice", {"item_id": "vpn", "devices": plan["one"], "location": plan["nl"]}, format="json"
    ).json()
    api.post("/api/v1/purchase", {"purchase_id": purchase["purchase_id"]}, format="json")

    response = api.post("/api/v1/subscription/location", {"location": plan["de"]}, format="json")

    assert response.status_code == 200 and response.json()["id"] == plan["de"]
    assert Subscription.objects.get(user__telegram_id=555001).configuration["squads"] == [DE_SQUAD]


def test_without_a_subscription_the_location_change_is_a_409(api, plan):
    response = api.post("/api/v1/subscription/location", {"location": plan["de"]}, format="json")

    assert response.status_code == 409 and response.json()["error"]["code"] == "location_unavailable"
