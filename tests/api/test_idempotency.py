"""Idempotency-Key on POST: replay, reuse with another body, in progress, expiry."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from api import idempotency
from api import views as api_views
from api.idempotency import idempotency_keys_purge
from api.models import IdempotencyKey
from conftest import run_concurrently
from payments.ledger import balance_adjust, balance_of
from payments.models import Payment
from tests.api.conftest import key_client
from tests.users.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

INVOICE = "/api/v1/purchase/invoice"


def post(client, body, key="key-1", path=INVOICE):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_stored_response(tariff_1m, api):
    first = post(api, {"item_id": "1m"})
    second = post(api, {"item_id": "1m"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Payment.objects.count() == 1


def test_json_bodies_compare_by_content_not_bytes(tariff_1m, api):
    post(api, {"item_id": "1m", "promo_code": None})
    replay = api.post(
        INVOICE, '{ "promo_code":null,\n"item_id":"1m"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1"
    )

    assert replay["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_is_422(tariff_1m, tariffs, api):
    post(api, {"item_id": "1m"})

    response = post(api, {"item_id": "3m"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


def test_same_key_on_another_endpoint_is_422(tariff_1m, api):
    post(api, {"item_id": "1m"})

    response = post(api, {"item_id": "1m"}, path="/api/v1/promos/quote")

    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_same_key_while_the_first_still_runs_is_409(tariff_1m, api):
    # A claim committed by a request that is still running (the real race runs on PostgreSQL below).
    IdempotencyKey.objects.create(
        principal=f"api_key:{_key_id(api)}",
        key="busy",
        fingerprint=_fingerprint_of(api, {"item_id": "1m"}),
        expires_at=timezone.now() + timedelta(hours=1),
    )

    response = post(api, {"item_id": "1m"}, key="busy")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_progress"


def _key_id(client) -> int:
    from api.models import ApiKey

    return ApiKey.objects.get().pk


def _fingerprint_of(client, body) -> str:
    """The fingerprint a real request would have (taken from a claim it makes)."""
    post(client, body, key="probe")
    return IdempotencyKey.objects.get(key="probe").fingerprint


def test_keys_are_per_principal(tariff_1m, issued_key, db):
    from api.keys import api_key_create

    other = api_key_create(name="other")
    first = post(key_client(issued_key.raw_key, 1), {"item_id": "1m"})
    second = post(key_client(other.raw_key, 2), {"item_id": "1m"})

    assert "Idempotent-Replayed" not in second
    assert first.json()["purchase_id"] != second.json()["purchase_id"]


def test_one_api_key_reusing_a_key_for_another_user_is_422(tariff_1m, client_for):
    post(client_for(1), {"item_id": "1m"})

    response = post(client_for(2), {"item_id": "1m"})

    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_error_responses_are_replayed_too(db, api):
    first = post(api, {"item_id": "nope"})
    second = post(api, {"item_id": "nope"})

    assert (first.status_code, second.status_code) == (404, 404)
    assert second["Idempotent-Replayed"] == "true"


def test_a_server_error_releases_the_key(tariff_1m, api, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api_views, "invoice_create", explode)
    failed = post(api, {"item_id": "1m"})
    monkeypatch.undo()

    retried = post(api, {"item_id": "1m"})

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried


def test_an_expired_key_can_be_used_again(db, api):
    post(api, {"amount": 10}, path="/api/v1/dev/add-stars")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    second = post(api, {"amount": 10}, path="/api/v1/dev/add-stars")

    assert "Idempotent-Replayed" not in second
    assert second.json() == {"balance_stars": 20}


def test_an_abandoned_in_progress_claim_is_taken_over(tariff_1m, api, settings):
    fingerprint = _fingerprint_of(api, {"item_id": "1m"})
    IdempotencyKey.objects.create(
        principal=f"api_key:{_key_id(api)}",
        key="stuck",
        fingerprint=fingerprint,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    IdempotencyKey.objects.filter(key="stuck").update(
        created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_IN_PROGRESS_TIMEOUT_SECONDS + 1)
    )

    assert post(api, {"item_id": "1m"}, key="stuck").status_code in (200, 201)


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ", "a\tb"])
def test_an_invalid_key_is_400(tariff_1m, api, key):
    response = post(api, {"item_id": "1m"}, key=key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Payment.objects.exists()


def test_without_the_header_nothing_is_stored(tariff_1m, api):
    api.post(INVOICE, {"item_id": "1m"}, format="json")

    assert not IdempotencyKey.objects.exists()


def test_purge_deletes_only_expired_keys(tariff_1m, api):
    post(api, {"item_id": "1m"}, key="old")
    post(api, {"item_id": "1m"}, key="new")
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))

    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_purge_command(db, capsys):
    call_command("purge_idempotency_keys")

    assert "deleted 0" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_make_one_invoice(tariff_1m, issued_key):
    barrier = threading.Barrier(2)

    def request(_i):
        client = key_client(issued_key.raw_key, 700001)
        barrier.wait(5)
        return post(client, {"item_id": "1m"}, key="race")

    responses = run_concurrently(request, 2)

    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([201, 201], [201, 409]), statuses
    assert Payment.objects.count() == 1
    assert IdempotencyKey.objects.get(key="race").status == "done"
    if statuses == [201, 201]:
        assert responses[0].json() == responses[1].json()
        assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == 1
    else:
        assert [r for r in responses if r.status_code == 409][0].json()["error"]["code"] == (
            "idempotency_key_in_progress"
        )


class ProcessDied(BaseException):
    """The worker died: nothing after this point of the request ran."""


def crash_before_the_key_is_marked_done(monkeypatch):
    def die(**kwargs):
        raise ProcessDied

    monkeypatch.setattr(idempotency, "store_response", die)


def abandon_claims(settings) -> None:
    """The in-progress claim of the dead request is older than any request can run."""
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=1))


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/v1/purchase/pay-from-balance", {"item_id": "1m"}), ("/api/v1/dev/add-stars", {"amount": 100})],
)
def test_a_retry_after_a_crash_past_the_commit_does_not_run_the_effect_again(
    tariff_1m, api, monkeypatch, settings, path, body
):
    # given a buyer with 300 Stars, and a request whose process dies after its effect
    # committed but before its Idempotency-Key was marked done
    balance_adjust(user=user_of(api), delta=300, reason="funding")
    with monkeypatch.context() as patch:
        crash_before_the_key_is_marked_done(patch)
        with pytest.raises(ProcessDied):
            post(api, body, key="crash-1", path=path)
    after_first = balance_of(user=user_of(api))
    abandon_claims(settings)

    # when the client retries with the same key
    retry = post(api, body, key="crash-1", path=path)

    # then the effect is not repeated, and the key is done now
    assert retry.status_code in (200, 201)
    assert balance_of(user=user_of(api)) == after_first
    assert Payment.objects.filter(method=Payment.Method.BALANCE).count() == (1 if "pay" in path else 0)
    assert IdempotencyKey.objects.get(key="crash-1").status == IdempotencyKey.Status.DONE


def test_an_invoice_retried_after_a_crash_is_the_same_invoice(tariff_1m, api, monkeypatch, settings):
    with monkeypatch.context() as patch:
        crash_before_the_key_is_marked_done(patch)
        with pytest.raises(ProcessDied):
            post(api, {"item_id": "1m"}, key="crash-2")
    abandon_claims(settings)

    retry = post(api, {"item_id": "1m"}, key="crash-2")

    assert Payment.objects.count() == 1
    assert retry.json()["purchase_id"] == str(Payment.objects.get().purchase_id)


def test_a_retry_after_a_server_error_past_the_commit_does_not_pay_again(tariff_1m, api, monkeypatch):
    # given a purchase from the balance whose response failed to render after it committed
    balance_adjust(user=user_of(api), delta=300, reason="funding")
    with monkeypatch.context() as patch:
        patch.setattr(api_views.s.PayFromBalanceSerializer, "data", property(lambda self: 1 / 0))
        failed = post(api, {"item_id": "1m"}, key="render-1", path="/api/v1/purchase/pay-from-balance")

    # when the client retries
    retried = post(api, {"item_id": "1m"}, key="render-1", path="/api/v1/purchase/pay-from-balance")

    # then it gets the purchase that was made, paid once
    assert (failed.status_code, retried.status_code) == (500, 201)
    assert Payment.objects.filter(method=Payment.Method.BALANCE).count() == 1
    assert balance_of(user=user_of(api)) == 200


def user_of(client) -> User:
    """The Telegram user the `api` client acts for."""
    return User.objects.filter(telegram_id=555001).first() or UserFactory(telegram_id=555001)
