"""Staff sessions in the admin: an idle timeout, and a password change signs the account out elsewhere."""

from __future__ import annotations

import time

import pytest

from staff.middleware import SEEN_KEY
from tests.staff.conftest import PASSWORD, verified_client

pytestmark = pytest.mark.django_db

PAYMENTS = "/admin/payments/payment/"


def test_a_staff_session_unused_past_the_idle_timeout_signs_in_again(finance, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    client = verified_client(finance)
    assert client.get(PAYMENTS).status_code == 200

    # when the last request was 31 minutes ago
    session = client.session
    session[SEEN_KEY] = int(time.time()) - 31 * 60
    session.save()
    response = client.get(PAYMENTS)

    # then the session is over and the admin asks to sign in
    assert response.status_code == 302 and response.url.startswith("/admin/login/?next=")
    assert "_auth_user_id" not in client.session


def test_a_staff_session_in_use_stays_signed_in(finance):
    client = verified_client(finance)
    session = client.session
    session[SEEN_KEY] = int(time.time()) - 29 * 60
    session.save()
    assert client.get(PAYMENTS).status_code == 200


def test_changing_ones_password_signs_out_every_other_session(finance):
    here, elsewhere = verified_client(finance), verified_client(finance)

    changed = here.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new long passphrase 42",
            "new_password2": "a new long passphrase 42",
        },
    )

    assert changed.status_code == 302
    assert here.get(PAYMENTS).status_code == 200
    assert elsewhere.get(PAYMENTS).url.startswith("/admin/login/")


def test_a_superuser_setting_a_password_signs_that_account_out(finance, owner):
    victim_session = verified_client(finance)
    verified_client(owner).post(
        f"/admin/users/user/{finance.pk}/password/",
        {"password1": "another long passphrase 7", "password2": "another long passphrase 7", "usable_password": "true"},
    )
    assert victim_session.get(PAYMENTS).url.startswith("/admin/login/")
