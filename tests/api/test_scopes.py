"""API keys act for users only within their scopes; every call made for a user is logged."""

import logging

import pytest

from api.keys import api_key_create
from api.models import DEFAULT_SCOPES, Scope
from payments.ledger import balance_adjust
from payments.models import Payment
from subscriptions.models import Subscription
from tests.api.conftest import key_client
from tests.subscriptions.factories import SubscriptionFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

VICTIM = 4400


@pytest.fixture
def victim(db):
    """A user with a VPN link and 500 Stars on the balance."""
    user = UserFactory(telegram_id=VICTIM)
    SubscriptionFactory(
        user=user,
        status=Subscription.Status.ACTIVE,
        expires_at="2099-01-01T00:00:00Z",
        subscription_url="https://panel.example/sub/secret-link",
    )
    balance_adjust(user=user, delta=500, reason="funding")
    return user


def client_with(*scopes):
    raw_key = api_key_create(name="partner", scopes=list(scopes)).raw_key
    return key_client(raw_key, VICTIM)


def default_client():
    return key_client(api_key_create(name="partner").raw_key, VICTIM)


def test_a_key_made_without_choosing_scopes_cannot_read_the_vpn_link(victim):
    response = default_client().get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["subscription"]["subscription_url"] is None
    assert response.json()["subscription"]["status"] == "active"


def test_a_key_made_without_choosing_scopes_cannot_spend_the_balance(victim, tariff_1m):
    response = default_client().post("/api/v1/purchase/pay-from-balance", {"item_id": "1m"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "scope_missing",
        "message": "This API key may not do this: it needs the balance:pay scope.",
        "details": {"required": "balance:pay"},
    }
    victim.refresh_from_db()
    assert victim.stars_balance == 500
    assert not Payment.objects.exists()


def test_the_default_scopes_read_purchases_and_create_invoices(victim, tariff_1m):
    client = default_client()

    assert DEFAULT_SCOPES == ["purchases:read", "invoices:create"]
    assert client.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").status_code == 201
    assert client.get("/api/v1/purchases").status_code == 200


def test_the_vpn_link_scope_reads_the_link(victim):
    response = client_with(Scope.PURCHASES_READ, Scope.VPN_LINK_READ).get("/api/v1/me")

    assert response.json()["subscription"]["subscription_url"] == "https://panel.example/sub/secret-link"


def test_the_balance_scope_spends_the_balance(victim, tariff_1m):
    response = client_with(Scope.BALANCE_PAY).post(
        "/api/v1/purchase/pay-from-balance", {"item_id": "1m"}, format="json"
    )

    assert response.status_code == 201
    victim.refresh_from_db()
    assert victim.stars_balance == 400


@pytest.mark.parametrize(
    ("method", "path", "body", "scope"),
    [
        ("get", "/api/v1/me", None, "purchases:read"),
        ("get", "/api/v1/purchases", None, "purchases:read"),
        ("post", "/api/v1/purchase/invoice", {"item_id": "1m"}, "invoices:create"),
        ("post", "/api/v1/promos/quote", {"item_id": "1m"}, "invoices:create"),
        ("post", "/api/v1/balance/topup", {"amount": 100}, "invoices:create"),
        ("post", "/api/v1/purchase/pay-from-balance", {"item_id": "1m"}, "balance:pay"),
        ("post", "/api/v1/purchase", {"purchase_id": "3f2b8c1e-5a7d-4c1b-9a51-0d4c2f7e9b10"}, "mock:complete"),
        ("post", "/api/v1/dev/add-stars", {"amount": 100}, "mock:complete"),
    ],
)
def test_each_endpoint_needs_its_scope(victim, tariff_1m, method, path, body, scope):
    without = client_with(*[s for s in Scope.values if s != scope])

    response = getattr(without, method)(path, body, format="json") if body else getattr(without, method)(path)

    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"required": scope}


def test_mini_apps_and_staff_are_not_scoped(victim, tma_client):
    assert tma_client.get("/api/v1/me").status_code == 200


def test_every_call_for_a_user_is_logged(victim, caplog):
    client = default_client()

    with caplog.at_level(logging.INFO, logger="api.audit"):
        client.get("/api/v1/me")
        client.post("/api/v1/purchase/pay-from-balance", {"item_id": "1m"}, format="json")

    lines = [r for r in caplog.records if r.name == "api.audit"]
    assert [(r.telegram_user_id, r.method, r.path, r.status) for r in lines] == [
        (VICTIM, "GET", "/api/v1/me", 200),
        (VICTIM, "POST", "/api/v1/purchase/pay-from-balance", 403),
    ]
    assert "partner" in lines[0].getMessage()
