"""One error shape for everything, and never a 500 for bad input."""

import pytest
from rest_framework.test import APIClient

from api import views as api_views

pytestmark = pytest.mark.django_db

POSTS = [
    "/api/v1/promos/quote",
    "/api/v1/purchase/invoice",
    "/api/v1/purchase",
    "/api/v1/balance/topup",
    "/api/v1/purchase/pay-from-balance",
    "/api/v1/dev/add-stars",
]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def test_an_unknown_url_under_api_is_a_json_404(api):
    assert_error(api.get("/api/v2/nothing/here"), 404, "not_found")


def test_a_bad_uuid_in_the_path_is_a_json_404(api):
    assert_error(api.get("/api/v1/purchases/not-a-uuid"), 404, "not_found")


def test_a_wrong_method_is_405(api):
    assert_error(api.delete("/api/v1/purchase/invoice"), 405, "method_not_allowed")


def test_a_non_json_body_is_415(api):
    assert_error(
        api.post("/api/v1/purchase/invoice", "item_id=1m", content_type="text/plain"), 415, "unsupported_media_type"
    )


@pytest.mark.parametrize("path", POSTS)
def test_a_broken_json_body_is_400_parse_error(api, path):
    assert_error(api.post(path, "{not json", content_type="application/json"), 400, "parse_error")


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null", "[1, 2]"])
@pytest.mark.parametrize("path", POSTS)
def test_a_json_body_that_is_not_an_object_is_400(api, path, body):
    assert_error(api.post(path, body, content_type="application/json"), 400, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"item_id": 123, "promo_code": ["x"]},
        {"item_id": "x" * 10_000},
        {"item_id": "1m", "purchase_id": "not-a-uuid"},
        {"item_id": "1m", "purchase_id": 12},
        {"item_id": "1m", "source": "martian"},
        {"item_id": None},
        {"item_id": {"nested": True}},
        {"item_id": "1m", "purchase_type": "t" * 1000},
        {"item_id": "\x00"},
    ],
)
def test_wrong_types_and_huge_strings_are_400_validation_error(tariff_1m, api, body):
    response = api.post("/api/v1/purchase/invoice", body, format="json")

    assert_error(response, 400, "validation_error")
    assert response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("raw", ['{"item_id": "\\ud800"}', '{"\\udfff": 1}', '{"item_id": "1m", "source": "\\ud800"}'])
def test_a_lone_surrogate_in_json_is_400_parse_error(tariff_1m, api, raw):
    assert_error(api.post("/api/v1/purchase/invoice", raw, content_type="application/json"), 400, "parse_error")


NESTED = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize("raw", [NESTED, '{"item_id": ' + NESTED + "}", '{"a":' * 10_000 + "1" + "}" * 10_000])
@pytest.mark.parametrize("headers", [{}, {"HTTP_IDEMPOTENCY_KEY": "nested-1"}], ids=["plain", "idempotency key"])
@pytest.mark.parametrize("path", POSTS)
def test_a_deeply_nested_body_is_400_parse_error(tariff_1m, api, path, raw, headers):
    response = api.post(path, raw, content_type="application/json", **headers)

    assert_error(response, 400, "parse_error")
    assert response.json()["error"]["details"] == {"max_depth": 32}
    assert "nested deeper than 32 levels" in response.json()["error"]["message"]


def test_brackets_inside_strings_are_not_nesting(tariff_1m, api):
    raw = '{"item_id": "' + "[" * 1000 + '", "promo_code": "\\"]]]]"}'

    response = api.post("/api/v1/purchase/invoice", raw, content_type="application/json")

    assert_error(response, 400, "validation_error")  # parsed: item_id too long


def test_a_body_nested_within_the_bound_is_parsed(tariff_1m, api):
    raw = '{"item_id": "1m", "promo_code": ' + "[" * 30 + "]" * 30 + "}"

    response = api.post("/api/v1/purchase/invoice", raw, content_type="application/json")

    assert_error(response, 400, "validation_error")
    assert list(response.json()["error"]["details"]["fields"]) == ["promo_code"]


@pytest.mark.parametrize("headers", [{}, {"HTTP_IDEMPOTENCY_KEY": "large-1"}], ids=["plain", "idempotency key"])
@pytest.mark.parametrize("path", POSTS)
def test_a_body_past_64_kib_is_400_parse_error(tariff_1m, api, path, headers):
    raw = '{"item_id": "' + "x" * 70_000 + '"}'

    response = api.post(path, raw, content_type="application/json", **headers)

    assert_error(response, 400, "parse_error")
    assert response.json()["error"]["details"] == {"max_bytes": 65536}


def test_validation_details_name_the_fields(api):
    response = api.post("/api/v1/purchase", {"purchase_id": "nope"}, format="json")

    assert response.json()["error"]["details"]["fields"] == {"purchase_id": ["Must be a valid UUID."]}


def test_a_huge_body_is_400_not_500(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api.post("/api/v1/purchase/invoice", {"item_id": "x" * 5000}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"bad_request", "parse_error", "validation_error"}


def test_an_unexpected_error_is_a_json_500_without_a_traceback(tariff_1m, api, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api_views, "invoice_create", explode)

    response = api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert_error(response, 500, "server_error")
    assert b"secret internals" not in response.content


def test_throttled_requests_are_429_with_retry_after(tariff_1m, api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "2/min", "api_key": None, "anon": None},
    }

    codes = [api.get("/api/v1/me").status_code for _ in range(3)]
    response = api.get("/api/v1/me")

    assert codes == [200, 200, 429]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["details"]["retry_after"] > 0


def test_throttling_is_per_user(tariff_1m, client_for, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1/min", "api_key": None, "anon": None},
    }

    first, second = client_for(1), client_for(2)

    assert [first.get("/api/v1/me").status_code, second.get("/api/v1/me").status_code] == [200, 200]
    assert first.get("/api/v1/me").status_code == 429


def test_throttling_is_per_api_key_across_its_users(tariff_1m, client_for, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "api_key": "2/min", "anon": None},
    }

    codes = [client_for(telegram_id).get("/api/v1/me").status_code for telegram_id in (1, 2, 3)]

    assert codes == [200, 200, 429]


def test_anonymous_requests_are_throttled_too(tariffs, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "api_key": None, "anon": "1/min"},
    }

    assert [APIClient().get("/api/v1/tariffs").status_code for _ in range(2)] == [200, 429]


def test_root_handlers_answer_json_under_api_and_html_elsewhere(rf):
    from api.errors import handler404, handler500

    api_404, api_500 = handler404(rf.get("/api/v1/x"), Exception()), handler500(rf.get("/api/v1/x"))
    site_404 = handler404(rf.get("/somewhere"), Exception())

    assert (api_404.status_code, api_404["Content-Type"]) == (404, "application/json")
    assert (api_500.status_code, api_500["Content-Type"]) == (500, "application/json")
    assert site_404["Content-Type"].startswith("text/html")
