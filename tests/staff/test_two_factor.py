"""Two-factor sign-in (TOTP, django-otp) for the staff who move money or reach every buyer."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import StaffAction
from tests.admin.conftest import paid_payment, staff_in
from tests.production.support import load_settings
from tests.staff.conftest import (
    enrolled,
    sign_in,
    signed_in,
    totp_code,
    verified_client,
)
from users.two_factor import two_factor_required

pytestmark = pytest.mark.django_db

PAYMENTS = "/admin/payments/payment/"
SETUP = "/admin/two-factor/"


def password_only(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert signed_in(sign_in(client, user.username))
    return client


def enrol(client: Client) -> list[str]:
    """Set up the authenticator shown on the enrolment page; returns the recovery codes."""
    page = client.get(SETUP)
    assert page.status_code == 200
    device = TOTPDevice.objects.get(confirmed=False)
    done = client.post(SETUP, {"token": totp_code(device)})
    assert done.status_code == 200, done.content
    return re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())


def test_who_must_use_a_second_factor(finance, support, owner):
    marketing = staff_in("Marketing")
    assert [two_factor_required(u) for u in (owner, finance, marketing, support)] == [True, True, True, False]


def test_a_refund_permission_user_without_totp_sees_only_the_enrolment_page(finance, tariff_1m):
    payment = paid_payment()
    client = password_only(finance)

    # every admin page, the refund action's page included, leads to the enrolment page
    for url in ("/admin/", PAYMENTS, f"{PAYMENTS}{payment.pk}/change/", f"{PAYMENTS}{payment.pk}/refund/"):
        response = client.get(url)
        assert (response.status_code, response.url) == (302, SETUP), url
    refused = client.post(PAYMENTS, {"action": "refund_selected", "_selected_action": [payment.pk], "apply": "yes"})
    assert (refused.status_code, refused.url) == (302, SETUP)
    payment.refresh_from_db()
    assert payment.status == "succeeded"

    # and the enrolment page asks for it, with a QR code and the key
    page = client.get(SETUP).content.decode()
    assert 'id="two-factor-required"' in page and "<svg" in page and 'id="totp-secret"' in page


def test_the_enrolment_page_speaks_russian(finance):
    client = password_only(finance)
    page = client.get(SETUP, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Отсканируйте им этот QR-код" in page and "Включить двухфакторный вход" in page


def test_after_enrolling_the_same_session_reaches_the_admin_and_gets_ten_recovery_codes(finance):
    client = password_only(finance)

    codes = enrol(client)

    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get(PAYMENTS).status_code == 200
    assert StaffAction.objects.filter(actor=finance, action=StaffAction.Action.TWO_FACTOR_ENROLLED).count() == 1


def test_a_wrong_code_does_not_enrol(finance):
    client = password_only(finance)
    client.get(SETUP)
    device = TOTPDevice.objects.get(confirmed=False)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"

    page = client.post(SETUP, {"token": wrong})

    assert "This code is not right" in page.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    assert client.get(PAYMENTS).url == SETUP


def test_once_enrolled_signing_in_asks_for_the_code(finance):
    device = enrolled(finance)

    without = sign_in(Client(), finance.username)
    assert without.status_code == 200 and "Enter the code from your authenticator app" in without.content.decode()

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert signed_in(sign_in(client, finance.username, code=totp_code(device)))
    assert client.get(PAYMENTS).status_code == 200
    sign_in_row = StaffAction.objects.filter(actor=finance, action=StaffAction.Action.SIGN_IN).latest("pk")
    assert sign_in_row.after == {"second_factor": "TOTPDevice"}
    assert sign_in_row.address == "198.51.100.1"


def test_a_code_is_accepted_once(finance):
    device = enrolled(finance)
    code = totp_code(device)
    assert signed_in(sign_in(Client(), finance.username, code=code))

    replayed = sign_in(Client(), finance.username, code=code)

    assert replayed.status_code == 200 and "wrong or was used already" in replayed.content.decode()


def test_a_recovery_code_signs_in_once(finance):
    client = password_only(finance)
    code = enrol(client)[0]

    first = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert signed_in(sign_in(first, finance.username, code=code.upper()))
    assert first.get(PAYMENTS).status_code == 200
    again = sign_in(Client(), finance.username, code=code)

    assert again.status_code == 200 and "wrong or was used already" in again.content.decode()
    used = StaffAction.objects.get(action=StaffAction.Action.RECOVERY_CODE_USED)
    assert (used.actor, used.after) == (finance, {"recovery_codes_left": 9})
    assert StaticToken.objects.filter(device__user=finance).count() == 9


def test_wrong_codes_count_towards_the_lockout(finance, settings):
    enrolled(finance)
    for _ in range(settings.STAFF_LOGIN_FAILURE_LIMIT):
        sign_in(Client(), finance.username, code="000000")

    device = TOTPDevice.objects.get(user=finance)
    device.throttle_reset()
    assert sign_in(Client(), finance.username, code=totp_code(device)).status_code == 429


def test_a_session_that_never_gave_a_code_signs_in_again(finance):
    # given a session from before the authenticator was set up (elsewhere)
    client = password_only(finance)
    enrolled(finance)

    response = client.get(PAYMENTS)

    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


def test_replacing_the_authenticator_needs_the_current_one(finance):
    stale = password_only(finance)
    enrolled(finance)
    assert stale.get(f"{SETUP}?replace=1").status_code in (302, 403)

    current = verified_client(finance)
    page = current.get(f"{SETUP}?replace=1")
    assert page.status_code == 200 and 'id="totp-secret"' in page.content.decode()


def test_a_support_account_is_not_asked_for_a_second_factor(support):
    assert password_only(support).get(PAYMENTS).status_code == 200


def test_a_superuser_resets_a_lost_phone_and_the_staff_member_enrols_again(finance, owner):
    enrolled(finance)
    page = verified_client(owner)

    page.post("/admin/users/user/", {"action": "reset_two_factor", "_selected_action": [finance.pk]})

    assert not TOTPDevice.objects.filter(user=finance).exists()
    reset = StaffAction.objects.get(action=StaffAction.Action.TWO_FACTOR_RESET)
    assert (reset.actor, reset.target_id, reset.before, reset.after) == (
        owner,
        str(finance.pk),
        {"enrolled": True},
        {"enrolled": False},
    )
    assert password_only(finance).get(PAYMENTS).url == SETUP


def test_reset_two_factor_command_is_recorded_as_the_command(finance, capsys):
    enrolled(finance)
    call_command("reset_two_factor", finance.username)
    row = StaffAction.objects.get(action=StaffAction.Action.TWO_FACTOR_RESET)
    assert (row.actor, row.actor_name) == (None, "manage.py reset_two_factor")


def test_outside_debug_two_factor_cannot_be_switched_off(monkeypatch):
    env = {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "shop.example.com", "STAFF_2FA_REQUIRED": "false"}
    with pytest.raises(ImproperlyConfigured, match="STAFF_2FA_REQUIRED"):
        load_settings(monkeypatch, env)
    monkeypatch.undo()


def test_production_requires_two_factor_by_default(monkeypatch):
    production = load_settings(monkeypatch, {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "shop.example.com"})
    monkeypatch.undo()
    assert production["STAFF_2FA_REQUIRED"] is True
    assert production["SESSION_COOKIE_SECURE"] is True


def test_a_session_without_the_required_second_factor_is_not_staff_in_the_browsable_api(finance):
    assert password_only(finance).get("/api/v1/me").status_code == 401
    assert verified_client(finance).get("/api/v1/me").status_code == 200
