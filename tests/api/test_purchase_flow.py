"""The purchase lifecycle: invoice → reuse → complete → complete again → another user's id."""

import uuid

import pytest

from api.models import InvoiceLink
from payments.models import Payment, PurchaseEvent
from subscriptions.models import Subscription
from tests.promos.factories import PromoCodeFactory

pytestmark = pytest.mark.django_db


def events(name: str) -> int:
    return PurchaseEvent.objects.filter(name=name).count()


def test_purchase_lifecycle_scenario(tariff_1m, client_for):
    buyer, intruder = client_for(600001), client_for(600002)
    purchase_id = str(uuid.uuid4())

    created = buyer.post("/api/v1/purchase/invoice", {"item_id": "1m", "purchase_id": purchase_id}, format="json")
    assert created.status_code == 201
    assert created.json()["purchase_id"] == purchase_id
    assert created.json()["status"] == "pending"
    assert events("purchase_invoice_created") == 1

    reused = buyer.post("/api/v1/purchase/invoice", {"item_id": "1m", "purchase_id": purchase_id}, format="json")
    assert reused.status_code == 200
    assert reused.json()["reused"] is True
    assert events("purchase_invoice_reused") == 1

    completed = buyer.post("/api/v1/purchase", {"purchase_id": purchase_id}, format="json")
    assert completed.status_code == 200
    assert completed.json()["status"] == "succeeded"
    assert events("purchase_succeeded") == 1

    again = buyer.post("/api/v1/purchase", {"purchase_id": purchase_id}, format="json")
    assert again.status_code == 200
    assert again.json() == completed.json()
    assert events("purchase_succeeded_idempotent") == 1
    assert Subscription.objects.get(user__telegram_id=600001).is_active

    stolen = intruder.post("/api/v1/purchase", {"purchase_id": purchase_id}, format="json")
    assert stolen.status_code == 409
    assert stolen.json()["error"]["code"] == "purchase_conflict"
    assert events("purchase_user_mismatch") == 1


def test_invoice_answers_the_documented_fields(tariff_1m, api):
    body = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()

    assert {"purchase_id", "status", "pay_url", "price_stars", "discount_stars", "amount_stars", "days"} <= set(body)
    assert (body["price_stars"], body["discount_stars"], body["amount_stars"], body["days"]) == (100, 0, 100, 30)
    assert body["source"] == "api"


def test_invoice_of_another_user_is_409_with_an_event(tariff_1m, client_for):
    purchase_id = (
        client_for(600003).post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["purchase_id"]
    )

    response = client_for(600004).post(
        "/api/v1/purchase/invoice", {"item_id": "1m", "purchase_id": purchase_id}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "purchase_conflict"
    assert events("purchase_user_mismatch") == 1


def test_invoice_with_a_promo_code(tariff_1m, api):
    PromoCodeFactory(code="SPRING10", discount_percent=10, bonus_days=3)

    body = api.post("/api/v1/purchase/invoice", {"item_id": "1m", "promo_code": "spring10"}, format="json").json()

    assert (body["discount_stars"], body["amount_stars"], body["bonus_days"]) == (10, 90, 3)


def test_invoice_with_an_unknown_promo_is_422_promo_invalid(tariff_1m, api):
    response = api.post("/api/v1/purchase/invoice", {"item_id": "1m", "promo_code": "NOPE"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "promo_invalid"
    assert response.json()["error"]["details"]["reason"] == "unknown"
    assert not Payment.objects.exists()


def test_invoice_for_an_unknown_tariff_is_404(db, api):
    response = api.post("/api/v1/purchase/invoice", {"item_id": "99y"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_invoice_for_a_tariff_off_sale_is_422(tariff_1m, api):
    tariff_1m.is_active = False
    tariff_1m.save()

    response = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "tariff_unavailable"


def test_invoice_with_a_free_promo_is_paid_at_once(tariff_1m, api):
    PromoCodeFactory(code="FREE", discount_percent=100)

    body = api.post("/api/v1/purchase/invoice", {"item_id": "1m", "promo_code": "FREE"}, format="json").json()

    assert (body["status"], body["method"], body["pay_url"]) == ("succeeded", "free", None)


def test_mock_pay_url_points_at_the_mock_page(tariff_1m, api):
    body = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()

    assert body["pay_url"] == f"http://testserver/api/v1/mock-pay/{body['purchase_id']}"


def test_the_mock_page_shows_a_pay_button_and_pays(tariff_1m, api, client):
    pay_url = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["pay_url"]

    page = client.get(pay_url)
    paid = client.post(pay_url)

    assert page.status_code == 200 and b"<form" in page.content
    assert paid.status_code == 200
    assert paid.json()["status"] == "succeeded"


def test_the_mock_page_of_an_unknown_purchase_is_404(db, client):
    assert client.post(f"/api/v1/mock-pay/{uuid.uuid4()}").json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/mock-pay/{uuid.uuid4()}").status_code == 404


def test_the_mock_page_refuses_when_mock_payments_are_off(tariff_1m, api, client, settings):
    pay_url = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["pay_url"]
    settings.MOCK_PAYMENTS = False

    response = client.post(pay_url)

    assert response.status_code == 403
    assert Payment.objects.get().status == "pending"


def test_completion_needs_mock_payments(tariff_1m, api, settings):
    purchase_id = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["purchase_id"]
    settings.MOCK_PAYMENTS = False

    response = api.post("/api/v1/purchase", {"purchase_id": purchase_id}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mock_payments_disabled"


def test_completion_of_an_unknown_purchase_is_404(db, api):
    response = api.post("/api/v1/purchase", {"purchase_id": str(uuid.uuid4())}, format="json")

    assert response.status_code == 404


def test_completion_with_an_item_creates_the_purchase_succeeded(tariff_1m, api):
    purchase_id = str(uuid.uuid4())

    response = api.post("/api/v1/purchase", {"purchase_id": purchase_id, "item_id": "1m"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert Payment.objects.get(purchase_id=purchase_id).source == "mock"


def test_an_invoice_a_client_calls_mock_is_refused(api, fake_telegram, tariff_1m):
    # Refused, not ignored: the client learns at once that it cannot choose a mock payment
    # (with mock payments off it would pay real Stars).
    response = api.post("/api/v1/purchase/invoice", {"item_id": "1m", "source": "mock"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["details"]["fields"]) == ["source"]
    assert not Payment.objects.exists()


def test_completion_with_an_item_creates_nothing_when_mock_is_off(tariff_1m, api, settings):
    settings.MOCK_PAYMENTS = False

    response = api.post("/api/v1/purchase", {"purchase_id": str(uuid.uuid4()), "item_id": "1m"}, format="json")

    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_no_payment_method_at_all_is_503(tariff_1m, api, settings):
    settings.MOCK_PAYMENTS = False
    settings.TELEGRAM_STARS_ENABLED = False

    response = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_unavailable"
    assert not Payment.objects.exists()


# --- Telegram invoice links (fake Bot API server) ---------------------------------


@pytest.fixture
def telegram_api(fake_telegram, issued_key):
    from tests.api.conftest import key_client

    return key_client(issued_key.raw_key, 600010)


def test_pay_url_is_a_telegram_invoice_link_when_stars_are_enabled(tariff_1m, telegram_api, fake_telegram):
    body = telegram_api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()

    [call] = fake_telegram.calls("createInvoiceLink")
    payment = Payment.objects.get()
    assert body["pay_url"] == InvoiceLink.objects.get(payment=payment).url
    assert call.params["payload"] == payment.invoice_payload
    assert call.params["currency"] == "XTR"


def test_a_reused_invoice_reuses_its_telegram_link(tariff_1m, telegram_api, fake_telegram):
    first = telegram_api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()
    second = telegram_api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()

    assert second["pay_url"] == first["pay_url"]
    assert len(fake_telegram.calls("createInvoiceLink")) == 1


def test_telegram_failure_is_503_and_a_retry_gets_the_link(tariff_1m, telegram_api, fake_telegram):
    fake_telegram.fail_next("createInvoiceLink", status=500)

    failed = telegram_api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")
    retried = telegram_api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "telegram_unavailable"
    assert retried.status_code == 200
    assert retried.json()["pay_url"]
    assert Payment.objects.count() == 1


def test_topup_pay_url_is_a_telegram_invoice_link(db, telegram_api, fake_telegram):
    body = telegram_api.post("/api/v1/balance/topup", {"amount": 250}, format="json").json()

    [call] = fake_telegram.calls("createInvoiceLink")
    assert body["pay_url"] and body["amount_stars"] == 250
    assert call.params["payload"] == Payment.objects.get().invoice_payload
