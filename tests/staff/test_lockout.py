"""Failed admin sign-ins lock the account and the client address (django-axes, counted in the database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import api_key_create
from api.models import Scope
from core.models import StaffAction
from staff.models import SignInCounter
from tests.api.conftest import BOT_TOKEN, make_init_data
from tests.staff.conftest import LOGIN, sign_in, signed_in, verified_client

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"


def hammer(username: str, *, tries: int = 50, addresses=None) -> list[int]:
    """`tries` wrong passwords, each from its own client (from ATTACKER, or from the given addresses)."""
    statuses = []
    for i in range(tries):
        address = addresses[i] if addresses else ATTACKER
        statuses.append(sign_in(Client(), username, password=f"wrong-{i}", address=address).status_code)
    return statuses


def test_fifty_wrong_passwords_from_one_address_lock_the_account_with_the_time_to_wait(finance, settings):
    # when 50 wrong passwords come from one address
    statuses = hammer(finance.username)

    # then the first few are ordinary failures and the rest are refused as locked
    limit = settings.STAFF_LOGIN_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)
    assert set(statuses[limit - 1 :]) == {429}

    # and the right password is refused too, with a message that says why and for how long
    refused = sign_in(Client(), finance.username, address=ATTACKER)
    assert refused.status_code == 429
    assert "locked for 30 minutes" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_lockout_message_is_in_russian_for_a_russian_browser(finance):
    hammer(finance.username, tries=5)
    refused = Client(HTTP_ACCEPT_LANGUAGE="ru").post(
        LOGIN, {"username": finance.username, "password": "x"}, REMOTE_ADDR=ATTACKER
    )
    assert refused.status_code == 429
    assert "вход заблокирован на 30 минут" in refused.content.decode()


def test_wrong_passwords_from_rotating_addresses_lock_the_account(finance):
    # given 50 wrong passwords for one account, each from another address
    addresses = [f"198.18.{i // 200}.{i % 200 + 1}" for i in range(50)]
    hammer(finance.username, addresses=addresses)

    # then the right password from yet another address is refused
    refused = sign_in(Client(), finance.username, address="192.0.2.200")
    assert refused.status_code == 429 and not signed_in(refused)


def test_one_address_trying_many_accounts_is_locked_for_every_account(finance, support):
    # given wrong passwords for made-up accounts from one address
    for i in range(5):
        sign_in(Client(), f"guess{i}", password="nope", address=ATTACKER)

    # then a real account's right password from that address is refused, and from another it is not
    assert sign_in(Client(), support.username, address=ATTACKER).status_code == 429
    assert signed_in(sign_in(Client(), support.username, address="192.0.2.10"))


def test_behind_the_proxy_the_address_the_proxy_saw_is_counted_not_a_forged_one(finance, settings):
    # given one trusted proxy, and an attacker forging a new X-Forwarded-For entry on every try
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(5):
        Client().post(
            LOGIN,
            {"username": f"guess{i}", "password": "nope"},
            REMOTE_ADDR="10.0.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, {ATTACKER}",
        )

    # then the attacker's real address is locked, another client behind the same proxy is not
    refused = Client().post(
        LOGIN, {"username": finance.username, "password": "x"}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=ATTACKER
    )
    assert refused.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_the_lockout_ends_when_its_time_is_over(finance):
    hammer(finance.username, tries=5)
    assert sign_in(Client(), finance.username, address=ATTACKER).status_code == 429

    # when the lockout's 30 minutes have passed since the last failure
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))

    assert signed_in(sign_in(Client(), finance.username, address=ATTACKER))


def test_a_lockout_is_recorded_once_in_the_staff_actions(finance):
    hammer(finance.username, tries=20)

    rows = StaffAction.objects.filter(action=StaffAction.Action.LOCKED_OUT)
    assert rows.count() == 1
    row = rows.get()
    assert (row.target_repr, row.address, row.target_id) == (finance.username, ATTACKER, str(finance.pk))
    assert row.after == {"failures": 5, "locked_minutes": 30}


def test_a_superuser_unlocks_the_account_and_address_from_the_admin(finance, owner):
    hammer(finance.username, tries=8)
    page = verified_client(owner)
    listed = page.get("/admin/staff/signincounter/?locked=yes")
    assert listed.status_code == 200 and finance.username in listed.content.decode()
    failures = page.get("/admin/staff/failedsignin/?locked_out__exact=1")
    assert failures.status_code == 200 and ATTACKER in failures.content.decode()

    # when the owner unlocks the locked row
    counter = SignInCounter.objects.get(username=finance.username)
    done = page.post("/admin/staff/signincounter/", {"action": "unlock", "_selected_action": [counter.pk]}, follow=True)

    # then the right password works again at once, from that address, and the unlock is recorded
    assert "Unlocked" in done.content.decode()
    assert signed_in(sign_in(Client(), finance.username, address=ATTACKER))
    unlock = StaffAction.objects.get(action=StaffAction.Action.UNLOCKED)
    assert (unlock.actor, unlock.before, unlock.after) == (owner, {"failures": 8}, {"failures": 0})


def test_only_superusers_see_the_lockouts_and_can_unlock(finance):
    assert verified_client(finance).get("/admin/staff/signincounter/").status_code == 403


def test_the_api_and_mini_app_are_untouched_by_the_admin_lockout_of_their_address(finance, settings, tariffs):
    # given an address locked out of the admin
    hammer(finance.username, tries=10)
    assert sign_in(Client(), finance.username, address=ATTACKER).status_code == 429
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TMA_AUTH_MAX_AGE_SECONDS = 3600

    # when a partner backend (API key) and a Mini App (init data) call the API from that address
    key = api_key_create(name="backend", scopes=Scope.values).raw_key
    by_key = APIClient(REMOTE_ADDR=ATTACKER)
    by_key.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_X_TELEGRAM_USER_ID="555001")
    mini_app = APIClient(REMOTE_ADDR=ATTACKER)
    mini_app.credentials(HTTP_AUTHORIZATION=f"tma {make_init_data()}")

    # then both work as before
    assert by_key.get("/api/v1/me").status_code == 200
    assert mini_app.get("/api/v1/me").status_code == 200
    assert by_key.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json").status_code in (201, 503)
