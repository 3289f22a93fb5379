"""Queries per request are bounded and do not grow with the caller's purchases."""

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


@pytest.mark.parametrize(
    ("name", "request_", "limit"),
    [
        ("me", lambda api, pid: api.get("/api/v1/me"), 4),  # + the auto-renewing Star subscription
        ("purchases", lambda api, pid: api.get("/api/v1/purchases"), 4),
        ("purchase detail", lambda api, pid: api.get(f"/api/v1/purchases/{pid}"), 3),
        ("tariffs", lambda api, pid: api.get("/api/v1/tariffs"), 3),
        ("quote", lambda api, pid: api.post("/api/v1/promos/quote", {"item_id": "1m"}, format="json"), 3),
        (
            "invoice",
            lambda api, pid: api.post(
                "/api/v1/purchase/invoice", {"item_id": "1m"}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
            ),
            13,
        ),
    ],
)
def test_queries_are_bounded_and_independent_of_history(
    tariff_1m, api, django_assert_max_num_queries, name, request_, limit
):
    with_purchases(api, tariff_1m, 1)
    pid = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").json()["purchase_id"]
    few = queries_for(lambda: request_(api, pid))
    with_purchases(api, tariff_1m, 30)

    with django_assert_max_num_queries(limit):
        response = request_(api, pid)

    assert response.status_code in (200, 201)
    assert queries_for(lambda: request_(api, pid)) == few
