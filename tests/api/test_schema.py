"""The served OpenAPI schema, Swagger UI without a CDN, and schemathesis against the live server."""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.utils.encoders import JSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

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


def test_top_up_amount_bounds_are_the_servers(openapi, settings):
    amount = openapi["components"]["schemas"]["StarsAmountRequestRequest"]["properties"]["amount"]

    assert (amount["minimum"], amount["maximum"]) == (1, settings.BALANCE_TOPUP_MAX)


def test_the_idempotency_key_rule_is_in_the_schema(openapi):
    [key] = [
        p for p in openapi["paths"]["/api/v1/balance/topup"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]

    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"}


def test_page_parameters_state_their_range(openapi):
    parameters = {p["name"]: p["schema"] for p in openapi["paths"]["/api/v1/purchases"]["get"]["parameters"]}

    assert parameters == {
        "page": {"type": "integer", "minimum": 1},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
    }
    assert "400" in openapi["paths"]["/api/v1/purchases"]["get"]["responses"]


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
# Valid requests the server may still refuse for what they ask, not for their shape: an unknown
# tariff (404), an open purchase of another buyer (409), a promo that does not apply, too few
# Stars or a reused Idempotency-Key (422). A 400 on valid data is a disagreement with the schema.
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2xx", "401", "403", "404", "409", "422", "429"]
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
    ignored_auth,
    unsupported_method,
    allow_header_conformance,
]
EXAMPLES_PER_OPERATION = 300  # each of ~12 operations; about 2 minutes over the whole schema


def test_served_schema_is_the_fuzzed_one(openapi):
    assert openapi == generated_schema()


def test_every_operation_is_fuzzed():
    operations = {(op.method.lower(), op.path) for op in (r.ok() for r in schema.get_all_operations())}

    assert operations >= set(ENDPOINTS)
    assert len(operations) == sum(len(methods) for methods in generated_schema()["paths"].values())


@pytest.mark.postgres  # minutes of live requests: CI's PostgreSQL pass runs it
@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis(case, live_api, live_server):
    case.call_and_validate(base_url=live_server.url, headers=live_api, checks=CHECKS)
