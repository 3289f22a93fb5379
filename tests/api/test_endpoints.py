"""Each endpoint's success and its error codes (auth errors: test_auth.py)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments.ledger import dev_add_stars
from payments.models import Payment
from tests.api.conftest import make_init_data
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.subscriptions.factories import SubscriptionFactory
from users.models import User

pytestmark = pytest.mark.django_db


def user_of(telegram_id: int = 555001) -> User:
    return User.objects.get(telegram_id=telegram_id)


# --- tariffs ---------------------------------------------------------------------------


def test_tariffs_lists_the_active_tariffs_in_order(tariffs, api):
    tariffs["6m"].is_active = False
    tariffs["6m"].save()

    response = api.get("/api/v1/tariffs")

    assert response.status_code == 200
    # (and the monthly auto-renewing tariff every new shop offers, last)
    assert [t["item_id"] for t in response.json()] == ["1m", "3m", "12m", "1m-auto"]
    assert response.json()[1] == {
        "item_id": "3m",
        "title": "3 месяца",  # the API key's buyer has no language: Russian, like the bot
        "description": "",
        "months": 3,
        "days": 90,
        "price_stars": 250,
        "price_per_month": 83,
        "renews_monthly": False,
    }


def test_tariffs_are_public(tariffs):
    assert APIClient().get("/api/v1/tariffs").status_code == 200


def mini_app_client(*, language_code: str) -> APIClient:
    client = APIClient()
    init_data = make_init_data(telegram_id=777_100 if language_code == "ru" else 777_101, language_code=language_code)
    client.credentials(HTTP_AUTHORIZATION=f"tma {init_data}")
    return client


def test_tariffs_speak_the_buyers_language(tariffs):
    tariffs["3m"].description_ru = "Выгоднее на 17 %"
    tariffs["3m"].description = "Save 17 %"
    tariffs["3m"].save()

    russian = mini_app_client(language_code="ru").get("/api/v1/tariffs").json()[1]
    english = mini_app_client(language_code="en").get("/api/v1/tariffs").json()[1]

    assert (russian["title"], russian["description"]) == ("3 месяца", "Выгоднее на 17 %")
    assert (english["title"], english["description"]) == ("3 months", "Save 17 %")


def test_anonymous_callers_get_the_language_they_accept(tariffs):
    russian = APIClient().get("/api/v1/tariffs", HTTP_ACCEPT_LANGUAGE="ru").json()
    english = APIClient().get("/api/v1/tariffs", HTTP_ACCEPT_LANGUAGE="en").json()

    assert (russian[0]["title"], english[0]["title"]) == ("1 месяц", "1 month")


# --- promos/quote ----------------------------------------------------------------------


def test_quote_prices_a_tariff_with_a_promo(tariff_1m, api):
    PromoCodeFactory(code="SPRING10", discount_percent=10, bonus_days=5)

    response = api.post("/api/v1/promos/quote", {"item_id": "1m", "promo_code": "SPRING10"}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "item_id": "1m",
        "promo_code": "SPRING10",
        "price_stars": 100,
        "discount_stars": 10,
        "amount_stars": 90,
        "days": 30,
        "bonus_days": 5,
        "total_days": 35,
    }


def test_quote_without_a_promo_is_the_tariff_price(tariff_1m, api):
    body = api.post("/api/v1/promos/quote", {"item_id": "1m"}, format="json").json()

    assert (body["promo_code"], body["amount_stars"]) == (None, 100)


def test_quote_gives_the_refusal_reason(tariff_1m, api):
    PromoCodeFactory(code="OLD", expires_at=timezone.now() - timedelta(days=1))

    response = api.post("/api/v1/promos/quote", {"item_id": "1m", "promo_code": "OLD"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "promo_invalid"
    assert response.json()["error"]["details"] == {"reason": "expired", "promo_code": "OLD"}


def test_quote_for_an_unknown_tariff_is_404(db, api):
    assert api.post("/api/v1/promos/quote", {"item_id": "nope"}, format="json").status_code == 404


# --- purchases -------------------------------------------------------------------------


def test_purchases_lists_only_the_callers_purchases_newest_first(tariff_1m, api, client_for):
    mine = [api.post("/api/v1/purchase/invoice", {"item_id": "1m", "purchase_id": str(uuid.uuid4())}, format="json")]
    api.post("/api/v1/purchase", {"purchase_id": mine[0].json()["purchase_id"]}, format="json")
    mine.append(api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json"))
    client_for(555999).post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    body = api.get("/api/v1/purchases").json()

    assert body["count"] == 2
    assert [p["purchase_id"] for p in body["results"]] == [m.json()["purchase_id"] for m in reversed(mine)]


def test_purchases_are_paginated(tariff_1m, api):
    api.get("/api/v1/me")
    PaymentFactory.create_batch(5, user=user_of(), tariff=tariff_1m)

    body = api.get("/api/v1/purchases?page_size=2&page=3").json()

    assert (body["count"], len(body["results"]), body["next"]) == (5, 1, None)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=abc", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=-1", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=", "page_size"),
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=last", "page"),
    ],
)
def test_purchases_page_parameters_out_of_range_are_400(db, api, query, field):
    response = api.get(f"/api/v1/purchases?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["details"]["fields"]) == [field]


def test_purchases_page_size_100_is_served(tariff_1m, api):
    api.get("/api/v1/me")
    PaymentFactory.create_batch(3, user=user_of(), tariff=tariff_1m)

    assert len(api.get("/api/v1/purchases?page_size=100").json()["results"]) == 3


def test_purchases_page_out_of_range_is_404(db, api):
    response = api.get("/api/v1/purchases?page=7")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_purchase_detail(tariff_1m, api):
    purchase_id = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["purchase_id"]

    response = api.get(f"/api/v1/purchases/{purchase_id}")

    assert response.status_code == 200
    assert response.json()["purchase_id"] == purchase_id
    assert response.json()["item_id"] == "1m"


def test_purchase_detail_of_another_user_is_409(tariff_1m, api, client_for):
    purchase_id = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["purchase_id"]

    response = client_for(555998).get(f"/api/v1/purchases/{purchase_id}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "purchase_conflict"


def test_purchase_detail_unknown_is_404(db, api):
    assert api.get(f"/api/v1/purchases/{uuid.uuid4()}").json()["error"]["code"] == "not_found"


# --- me --------------------------------------------------------------------------------


def test_me_without_a_subscription(db, api):
    body = api.get("/api/v1/me").json()

    assert body["subscription"] == {
        "status": "none",
        "is_active": False,
        "expires_at": None,
        "days_left": 0,
        "subscription_url": None,
    }
    assert body["balance_stars"] == 0


def test_me_shows_the_subscription_link_and_balance(db, api):
    api.get("/api/v1/me")
    user = user_of()
    SubscriptionFactory(
        user=user,
        status="active",
        expires_at=timezone.now() + timedelta(days=10, hours=1),
        subscription_url="https://panel.example/sub/abc",
    )
    dev_add_stars(user=user, amount=70)

    body = api.get("/api/v1/me").json()

    assert body["subscription"]["status"] == "active"
    assert body["subscription"]["days_left"] == 10
    assert body["subscription"]["subscription_url"] == "https://panel.example/sub/abc"
    assert body["balance_stars"] == 70


def test_me_shows_an_expired_subscription(db, api):
    api.get("/api/v1/me")
    SubscriptionFactory(user=user_of(), status="active", expires_at=timezone.now() - timedelta(days=1))

    assert api.get("/api/v1/me").json()["subscription"]["status"] == "expired"


# --- balance ---------------------------------------------------------------------------


def test_topup_creates_a_pending_topup_invoice(db, api):
    response = api.post("/api/v1/balance/topup", {"amount": 250}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["status"], body["amount_stars"], body["item_id"]) == ("topup", "pending", 250, None)
    assert body["pay_url"].endswith(f"/api/v1/mock-pay/{body['purchase_id']}")


def test_topup_paid_on_the_mock_page_credits_the_balance(db, api, client):
    pay_url = api.post("/api/v1/balance/topup", {"amount": 250}, format="json").json()["pay_url"]

    client.post(pay_url)

    assert api.get("/api/v1/me").json()["balance_stars"] == 250


@pytest.mark.parametrize("amount", [0, -5, 10**9, "many", None, 1.5, [], {}])
def test_topup_refuses_a_bad_amount(db, api, amount):
    response = api.post("/api/v1/balance/topup", {"amount": amount}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "amount" in response.json()["error"]["details"]["fields"]


def test_pay_from_balance_buys_the_tariff(tariff_1m, api):
    api.post("/api/v1/dev/add-stars", {"amount": 150}, format="json")

    response = api.post("/api/v1/purchase/pay-from-balance", {"item_id": "1m"}, format="json")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["method"]) == ("succeeded", "balance")
    assert response.json()["balance_stars"] == 50


def test_pay_from_balance_without_enough_stars_is_422(tariff_1m, api):
    api.post("/api/v1/dev/add-stars", {"amount": 30}, format="json")

    response = api.post("/api/v1/purchase/pay-from-balance", {"item_id": "1m"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_balance"
    assert response.json()["error"]["details"] == {"needed": 100, "available": 30}
    assert not Payment.objects.exists()


def test_pay_from_balance_with_an_unknown_promo_is_422(tariff_1m, api):
    response = api.post("/api/v1/purchase/pay-from-balance", {"item_id": "1m", "promo_code": "X"}, format="json")

    assert response.json()["error"]["code"] == "promo_invalid"


def test_dev_add_stars_credits_the_balance(db, api):
    response = api.post("/api/v1/dev/add-stars", {"amount": 500}, format="json")

    assert response.status_code == 200
    assert response.json() == {"balance_stars": 500}


def test_dev_add_stars_needs_mock_payments(db, api, settings):
    settings.MOCK_PAYMENTS = False

    response = api.post("/api/v1/dev/add-stars", {"amount": 500}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mock_payments_disabled"


# --- webhook ---------------------------------------------------------------------------


def test_webhook_route_reaches_the_real_bot_view(db, client, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret"

    response = client.post("/api/v1/purchase/webhook", {}, content_type="application/json")

    assert response.status_code == 403  # the bot's own secret check answered, not our 503


def test_purchase_detail_of_a_topup_has_no_item(db, api):
    purchase_id = api.post("/api/v1/balance/topup", {"amount": 100}, format="json").json()["purchase_id"]

    body = api.get(f"/api/v1/purchases/{purchase_id}").json()

    assert (body["kind"], body["item_id"], body["amount_stars"]) == ("topup", None, 100)


@pytest.mark.parametrize("amount", [0, 10_001])
def test_topup_outside_1_to_the_setting_is_400(db, api, settings, amount):
    settings.BALANCE_TOPUP_MAX = 10_000

    response = api.post("/api/v1/balance/topup", {"amount": amount}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]["fields"]) == ["amount"]


def test_topup_of_the_setting_itself_is_served(db, api, settings):
    settings.BALANCE_TOPUP_MAX = 500

    assert api.post("/api/v1/balance/topup", {"amount": 500}, format="json").status_code == 201
    assert api.post("/api/v1/balance/topup", {"amount": 501}, format="json").status_code == 400
