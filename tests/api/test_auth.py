"""The three doors: Mini App init data, API keys, staff sessions. A refused
request writes nothing."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey, IdempotencyKey
from payments.ledger import balance_adjust
from payments.models import Payment, PurchaseEvent
from tests.api.conftest import key_client, make_init_data
from tests.users.factories import StaffUserFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def tma(init_data: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"tma {init_data}")
    return client


def written_rows() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Payment.objects.count(),
        PurchaseEvent.objects.count(),
        IdempotencyKey.objects.count(),
    )


def test_mini_app_init_data_creates_the_user_from_telegram(tariff_1m):
    response = tma(make_init_data(telegram_id=9001, username="neo", language_code="en")).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["user"] == {
        "telegram_id": 9001,
        "username": "neo",
        "first_name": "Mini",
        "last_name": "",
        "language_code": "en",
    }
    assert User.objects.get(telegram_id=9001).telegram_username == "neo"


def test_mini_app_init_data_updates_a_known_user():
    UserFactory(telegram_id=9002, telegram_username="old")

    tma(make_init_data(telegram_id=9002, username="new")).get("/api/v1/me")

    assert User.objects.get(telegram_id=9002).telegram_username == "new"


FORGED = {
    "bad hash": lambda: make_init_data(telegram_id=9003).replace("hash=", "hash=0"),
    "tampered user": lambda: make_init_data(telegram_id=9003).replace("9003", "9004"),
    "stale auth_date": lambda: make_init_data(telegram_id=9003, auth_date=int(time.time()) - 3601),
    "auth_date in the future": lambda: make_init_data(telegram_id=9003, auth_date=int(time.time()) + 3600),
    "other bot's token": lambda: make_init_data(telegram_id=9003, bot_token="999999:OTHER-BOT"),
    "not a query string": lambda: "garbage",
    "empty": lambda: "",
    "huge": lambda: "a=" + "x" * 20000,
}


@pytest.mark.parametrize("init_data", FORGED.values(), ids=FORGED.keys())
def test_forged_init_data_is_refused_and_writes_nothing(init_data, tariff_1m):
    before = written_rows()

    response = tma(init_data()).post(
        "/api/v1/purchase/invoice", {"item_id": "1m"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "tma"
    assert written_rows() == before


def test_init_data_is_refused_when_no_bot_token_is_configured(settings):
    init_data = make_init_data(telegram_id=9005)
    settings.TELEGRAM_BOT_TOKEN = ""

    response = tma(init_data).get("/api/v1/me")

    assert response.status_code == 401
    assert not User.objects.filter(telegram_id=9005).exists()


def test_init_data_max_age_comes_from_settings(settings):
    settings.TMA_AUTH_MAX_AGE_SECONDS = 10

    response = tma(make_init_data(auth_date=int(time.time()) - 60)).get("/api/v1/me")

    assert response.status_code == 401


def test_no_credentials_is_401_not_authenticated():
    response = APIClient().get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unknown_authorization_scheme_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer abc")

    assert client.get("/api/v1/me").status_code == 401


def test_api_key_acts_for_the_named_telegram_user(issued_key):
    response = key_client(issued_key.raw_key, 4242).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["user"]["telegram_id"] == 4242
    assert User.objects.filter(telegram_id=4242).exists()


def test_api_key_is_stored_hashed(issued_key):
    stored = ApiKey.objects.get(pk=issued_key.api_key.pk)

    assert issued_key.raw_key.split(".")[1] not in stored.secret_hash
    assert issued_key.raw_key.startswith(stored.prefix + ".")


@pytest.mark.parametrize(
    "raw_key",
    ["nope", "", "abc.def", "x" * 5000],
    ids=["no separator", "empty", "unknown prefix", "huge"],
)
def test_a_wrong_api_key_is_401_and_creates_no_user(raw_key):
    before = written_rows()

    response = key_client(raw_key, 4243).get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert written_rows() == before


def test_a_right_prefix_with_a_wrong_secret_is_401(issued_key):
    prefix = issued_key.raw_key.split(".")[0]

    assert key_client(f"{prefix}.wrong-secret", 4244).get("/api/v1/me").status_code == 401


def test_a_revoked_api_key_is_401(issued_key):
    api_key_revoke(api_key=issued_key.api_key)

    assert key_client(issued_key.raw_key, 4245).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("telegram_user", [None, "", "abc", "-5", "0", "1e3", str(2**63), "１２"])
def test_api_key_needs_a_valid_telegram_user_header(issued_key, telegram_user):
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {issued_key.raw_key}"}
    if telegram_user is not None:
        headers["HTTP_X_TELEGRAM_USER_ID"] = telegram_user
    client.credentials(**headers)
    before = written_rows()

    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert "X-Telegram-User-Id" in response.json()["error"]["message"]
    assert written_rows() == before


def test_api_key_last_used_is_written_at_most_once_a_minute(issued_key):
    recent = timezone.now() - timedelta(seconds=30)
    ApiKey.objects.filter(pk=issued_key.api_key.pk).update(last_used_at=recent)

    key_client(issued_key.raw_key, 4246).get("/api/v1/me")

    assert ApiKey.objects.get(pk=issued_key.api_key.pk).last_used_at == recent


def test_api_key_last_used_is_refreshed_after_a_minute(issued_key):
    old = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(pk=issued_key.api_key.pk).update(last_used_at=old)

    key_client(issued_key.raw_key, 4247).get("/api/v1/me")

    assert ApiKey.objects.get(pk=issued_key.api_key.pk).last_used_at > old


def test_staff_session_can_use_the_api():
    staff = StaffUserFactory()
    client = APIClient()
    client.force_login(staff)

    response = client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["user"]["telegram_id"] is None


def test_a_non_staff_session_is_not_authenticated():
    client = APIClient()
    client.force_login(UserFactory())

    assert client.get("/api/v1/me").status_code == 401


def test_staff_session_posts_need_the_csrf_token(tariff_1m):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(StaffUserFactory())

    response = client.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_each_api_key_gets_its_own_prefix():
    keys = {api_key_create(name=f"k{i}").api_key.prefix for i in range(5)}

    assert len(keys) == 5


def test_a_mini_app_buys_with_its_init_data(tariff_1m, tma_client):
    response = tma_client.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert response.status_code == 201
    assert Payment.objects.get().user.telegram_id == 777000


def test_a_staff_session_can_post(tariff_1m):
    client = APIClient()
    client.force_login(StaffUserFactory())

    response = client.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")

    assert response.status_code == 201


def test_the_browsable_api_renders_for_staff(tariff_1m):
    client = APIClient()
    client.force_login(StaffUserFactory())

    response = client.get("/api/v1/tariffs", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"<html" in response.content.lower()


# --- A buyer deactivated in the admin -------------------------------------------


@pytest.fixture
def deactivated(db):
    user = UserFactory(telegram_id=9301, is_active=False)
    balance_adjust(user=user, delta=500, reason="credited before deactivation")
    return user


def assert_deactivated(response):
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "account_deactivated"
    assert response.json()["error"]["message"].startswith("This account is deactivated")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/me", None),
        ("get", "/api/v1/purchases", None),
        ("post", "/api/v1/purchase/invoice", {"item_id": "1m"}),
        ("post", "/api/v1/purchase/pay-from-balance", {"item_id": "1m"}),
        ("post", "/api/v1/balance/topup", {"amount": 100}),
    ],
)
def test_mini_app_init_data_of_a_deactivated_buyer_is_refused(deactivated, tariff_1m, method, path, body):
    client = tma(make_init_data(telegram_id=deactivated.telegram_id))

    response = getattr(client, method)(path, body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert_deactivated(response)
    assert not Payment.objects.exists()
    assert User.objects.get(pk=deactivated.pk).stars_balance == 500


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/me", None),
        ("post", "/api/v1/purchase/invoice", {"item_id": "1m"}),
        ("post", "/api/v1/purchase/pay-from-balance", {"item_id": "1m"}),
    ],
)
def test_an_api_key_acting_for_a_deactivated_buyer_is_refused(issued_key, deactivated, tariff_1m, method, path, body):
    client = key_client(issued_key.raw_key, deactivated.telegram_id)

    response = getattr(client, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1", HTTP_ACCEPT_LANGUAGE="en")

    assert_deactivated(response)
    assert not Payment.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert User.objects.get(pk=deactivated.pk).stars_balance == 500


def test_a_deactivated_buyer_is_not_counted_as_a_failed_attempt(issued_key, deactivated, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_failures": "2/min"},
    }
    client = key_client(issued_key.raw_key, deactivated.telegram_id)
    for _ in range(3):
        assert_deactivated(client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="en"))

    assert key_client(issued_key.raw_key, 9302).get("/api/v1/me").status_code == 200


def test_the_same_key_still_serves_active_buyers(issued_key, deactivated):
    assert key_client(issued_key.raw_key, 9302).get("/api/v1/me").status_code == 200
