"""Staff sign-in helpers: two-factor required as in production, TOTP codes, sign-in by the form."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.admin.conftest import staff_in
from tests.users.factories import StaffUserFactory

PASSWORD = "correct horse battery staple"  # StaffUserFactory's
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def two_factor_on(settings):
    """As in production: two-factor required (the suite's settings relax it for the other admin tests)."""
    settings.STAFF_2FA_REQUIRED = True
    return settings


def totp_code(device: TOTPDevice, *, at: float | None = None) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = at if at is not None else time.time()
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> TOTPDevice:
    """A confirmed authenticator for `user` (as if they had set it up)."""
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def sign_in(client: Client, username: str, *, password: str = PASSWORD, code: str = "", address: str = "198.51.100.1"):
    data = {"username": username, "password": password, "otp_token": code, "next": "/admin/"}
    return client.post(LOGIN, data, REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="en")


def verified_client(user, **defaults) -> Client:
    """A client signed in as `user` with their second factor (an authenticator is set up if needed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or enrolled(user)
    client = Client(HTTP_ACCEPT_LANGUAGE="en", **defaults)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def signed_in(response) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


@pytest.fixture
def finance(db):
    return staff_in("Finance")


@pytest.fixture
def support(db):
    return staff_in("Support")


@pytest.fixture
def owner(db):
    return StaffUserFactory(is_superuser=True)
