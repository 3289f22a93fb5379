"""The served OpenAPI schema, Swagger UI without a CDN, and schemathesis against the live server."""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.utils.encoders import JSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from api.keys import api_key_create
from api.models import Scope
from tests.subscriptions.factories import TariffFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/v1/tariffs"),
    ("post", "/api/v1/promos/quote"),
    ("post", "/api/v1/purchase/invoice"),
    ("post", "/api/v1/purchase"),
    ("get", "/api/v1/purchases"),
    ("get", "/api/v1/purchases/{purchase_id}"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/balance/topup"),
    ("post", "/api/v1/purchase/pay-from-balance"),
    ("post", "/api/v1/dev/add-stars"),
]


@pytest.fixture
def openapi(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_endpoint_is_documented_with_errors_and_security(openapi):
    for method, path in ENDPOINTS:
        operation = openapi["paths"][path][method]
        assert operation["summary"], path
        assert {"401", "429"} <= set(operation["responses"]), path
        error = operation["responses"]["401"]["content"]["application/json"]
        assert error["schema"] == {"$ref": "#/components/schemas/Error"}
        assert error["examples"], path
        assert {"tma": []} in operation["security"], path
        assert {"apiKey": [], "telegramUser": []} in operation["security"], path
        if method == "post":
            assert {"400", "409", "422"} <= set(operation["responses"]), path
            assert "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])], path
            assert operation["requestBody"]["content"]["application/json"]["examples"], path


def test_security_schemes_are_published(openapi):
    schemes = openapi["components"]["securitySchemes"]

    assert schemes["tma"]["name"] == "Authorization"
    assert schemes["apiKey"]["name"] == "Authorization"
    assert schemes["telegramUser"]["name"] == "X-Telegram-User-Id"


def test_swagger_ui_is_served_from_local_static_files(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


# --- schemathesis ---------------------------------------------------------------


@pytest.fixture
def live_api(live_server, transactional_db):
    """The live server with tariffs and an API key acting for one Telegram user."""
    for code, days, price in [("1m", 30, 100), ("3m", 90, 250)]:
        TariffFactory(code=code, title=code, days=days, price_stars=price)
    issued = api_key_create(name="schemathesis", scopes=Scope.values)
    return {"Authorization": f"Api-Key {issued.raw_key}", "X-Telegram-User-Id": "880001"}


def generated_schema() -> dict:
    """The schema the server serves at /api/schema/ (test_served_schema_is_the_fuzzed_one proves it)."""
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=JSONEncoder))


# Loaded at collection: schemathesis' lazy fixture loader does not run on this pytest version.
schema = schemathesis.openapi.from_dict(generated_schema())


def test_served_schema_is_the_fuzzed_one(openapi):
    assert openapi == generated_schema()


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis(case, live_api, live_server):
    case.call_and_validate(
        base_url=live_server.url,
        headers=live_api,
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
    )
