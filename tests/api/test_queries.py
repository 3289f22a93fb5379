"""Queries per request are bounded and do not grow with the caller's purchases."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.payments.factories import PaymentFactory
from users.models import User

pytestmark = pytest.mark.django_db


def queries_for(callable_) -> int:
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured)


def with_purchases(api, tariff, count: int) -> None:
    api.get("/api/v1/me")
    PaymentFactory.create_batch(count, user=User.objects.get(telegram_id=555001), tariff=tariff, status="succeeded")


# Every API-key request: the key, then its Telegram user (two prebuilt SELECTs).
AUTH = 2


@pytest.mark.parametrize(
    ("name", "request_", "count"),
    [
        ("ping", lambda api, pid: api.get("/api/v1/ping"), AUTH),
        ("me", lambda api, pid: api.get("/api/v1/me"), AUTH + 2),  # + the auto-renewing Star subscription
        ("purchases", lambda api, pid: api.get("/api/v1/purchases"), AUTH + 2),
        ("purchase detail", lambda api, pid: api.get(f"/api/v1/purchases/{pid}"), AUTH + 1),
        ("tariffs", lambda api, pid: api.get("/api/v1/tariffs"), AUTH + 1),
        # the tariff, then its options (one query: a plan without any)
        ("quote", lambda api, pid: api.post("/api/v1/promos/quote", {"item_id": "1m"}, format="json"), AUTH + 2),
        # the open invoice again: claim, purchase-id probe, (savepoint) lock, tariff, the plan's options,
        # open invoice, event, store
        (
            "invoice reused",
            lambda api, pid: api.post(
                "/api/v1/purchase/invoice", {"item_id": "1m"}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
            ),
            AUTH + 10,
        ),
    ],
)
def test_queries_are_pinned_and_independent_of_history(
    tariff_1m, api, django_assert_num_queries, name, request_, count
):
    with_purchases(api, tariff_1m, 1)
    pid = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["purchase_id"]
    few = queries_for(lambda: request_(api, pid))
    with_purchases(api, tariff_1m, 30)

    with django_assert_num_queries(count):
        response = request_(api, pid)

    assert response.status_code in (200, 201)
    assert queries_for(lambda: request_(api, pid)) == few


def test_a_new_invoice_with_an_idempotency_key_runs_these_statements(tariff_1m, api):
    api.get("/api/v1/ping")  # the user exists, as it does for a buyer who comes from the bot

    with CaptureQueriesContext(connection) as captured:
        response = api.post(
            "/api/v1/purchase/invoice", {"item_id": "1m"}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )

    assert response.status_code == 201
    assert [statement(query["sql"]) for query in captured] == [
        "SELECT api_apikey",  # authentication: the key by its prefix
        "SELECT users_user",  # and the Telegram user it acts for
        "INSERT api_idempotencykey",  # the Idempotency-Key claimed (ON CONFLICT DO NOTHING: no savepoint)
        "SELECT payments_payment",  # its reference is no purchase yet
        "SAVEPOINT",  # the service's transaction (BEGIN outside the test's own)
        "SELECT users_user",  # the buyer locked: one invoice decision at a time
        "SELECT subscriptions_tariff",
        "SELECT subscriptions_tariff_device_tiers",  # the plan's options (one UNION; none: a fixed plan)
        "SELECT payments_payment",  # an open invoice to reuse?
        "INSERT payments_payment",
        "INSERT payments_purchaseevent",
        "RELEASE",  # COMMIT
        "UPDATE api_idempotencykey",  # the response stored for replays
    ]


TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?')


def statement(sql: str) -> str:
    """ "SELECT users_user" for a query: its verb and first table."""
    verb = sql.lstrip("(").split(None, 1)[0]  # PostgreSQL's UNION parts come in parentheses
    found = TABLE.search(sql)
    return f"{verb} {found.group(1)}" if found else verb
