"""Star subscriptions through the API: the invoice link of a renewing tariff,
auto-renewal in /me, cancel and resume (a scope of their own)."""

from __future__ import annotations

import pytest

from api.keys import api_key_create
from api.models import Scope
from payments.models import Payment, StarSubscription
from tests.api.conftest import key_client
from tests.payments.star_subscription_helpers import subscribe
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

BUYER = 555001  # the `api` client's Telegram user


@pytest.fixture
def stars_on(settings, fake_telegram):
    """Telegram Stars on (the fake Bot API), mock payments off."""
    settings.TELEGRAM_STARS_ENABLED = True
    settings.MOCK_PAYMENTS = False
    return fake_telegram


@pytest.fixture
def subscribed(stars_on, renewing_tariff):
    return subscribe(stars_on, UserFactory(telegram_id=BUYER))


def test_an_invoice_for_a_renewing_tariff_is_a_subscription_invoice_link(api, stars_on, renewing_tariff):
    response = api.post("/api/v1/purchase/invoice", {"item_id": "1m-auto"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["purchase_type"] == "star_subscription" and body["amount_stars"] == 100
    [call] = stars_on.calls("createInvoiceLink")
    assert call.params["subscription_period"] == 2592000
    assert body["pay_url"] == stars_on.invoice_links[0]["link"]


def test_the_tariff_list_says_which_tariffs_renew(api, renewing_tariff, tariff_1m):
    renews = {t["item_id"]: t["renews_monthly"] for t in api.get("/api/v1/tariffs").json()}
    assert renews["1m-auto"] is True and renews["1m"] is False


def test_me_shows_auto_renewal_and_the_next_charge(api, subscribed):
    body = api.get("/api/v1/me").json()

    auto = body["auto_renewal"]
    assert (auto["status"], auto["renews"], auto["item_id"], auto["amount_stars"]) == ("active", True, "1m-auto", 100)
    assert auto["current_period_end"].startswith(subscribed.current_period_end.strftime("%Y-%m-%d"))


def test_me_without_a_star_subscription_says_null(api, tariff_1m):
    assert api.get("/api/v1/me").json()["auto_renewal"] is None


def test_cancel_and_resume(api, subscribed, stars_on):
    canceled = api.post("/api/v1/auto-renewal/cancel")
    assert canceled.status_code == 200, canceled.json()
    assert (canceled.json()["status"], canceled.json()["renews"]) == ("canceled", False)
    assert stars_on.subscription_edits[-1] == {
        "user_id": BUYER,
        "charge_id": subscribed.first_charge_id,
        "is_canceled": True,
    }

    again = api.post("/api/v1/auto-renewal/cancel")
    assert again.status_code == 200 and len(stars_on.subscription_edits) == 1  # nothing to change

    resumed = api.post("/api/v1/auto-renewal/resume")
    assert resumed.status_code == 200 and resumed.json()["renews"] is True
    assert StarSubscription.objects.get(pk=subscribed.pk).status == "active"


def test_cancel_without_a_subscription_is_a_clear_404(api, tariff_1m):
    response = api.post("/api/v1/auto-renewal/cancel")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_star_subscription"


def test_telegram_refusing_the_cancel_is_a_502_that_changes_nothing(api, subscribed, stars_on):
    stars_on.fail_next("editUserStarSubscription", status=400, description="Bad Request: CHARGE_ID_INVALID")

    response = api.post("/api/v1/auto-renewal/cancel")

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "telegram_refused"
    assert StarSubscription.objects.get(pk=subscribed.pk).status == "active"


def test_a_key_without_the_scope_cannot_cancel_a_users_subscription(subscribed, stars_on):
    raw_key = api_key_create(name="partner", scopes=[Scope.PURCHASES_READ, Scope.INVOICES_CREATE]).raw_key

    response = key_client(raw_key, BUYER).post("/api/v1/auto-renewal/cancel")

    assert response.status_code == 403
    assert stars_on.subscription_edits == []


def test_a_mock_subscription_is_canceled_without_telegram(api, renewing_tariff):
    # given mock payments (no Telegram): a subscription invoice completed with the mock
    created = api.post("/api/v1/purchase/invoice", {"item_id": "1m-auto"}, format="json").json()
    completed = api.post("/api/v1/purchase", {"purchase_id": created["purchase_id"]}, format="json")
    assert completed.status_code in (200, 201), completed.json()
    payment = Payment.objects.get(purchase_id=created["purchase_id"])
    assert payment.star_subscription.first_charge_id.startswith("mock_")

    # when it is canceled, then only the record changes
    assert api.post("/api/v1/auto-renewal/cancel").json()["status"] == "canceled"
