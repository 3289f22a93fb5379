"""Fixtures for the admin tests: staff users in the migration's groups and paid payments."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Group

from conftest import run_concurrently
from payments.charges import Charge
from payments.models import Payment
from payments.services import purchase_complete, purchase_create_invoice
from tests.users.factories import StaffUserFactory, UserFactory

_charges = itertools.count(1)


def paid_payment(*, user=None, tariff="1m", promo_code=None, charge_prefix="mock_charge_") -> Payment:
    """A subscription paid through the real services with a mock charge id
    (refund_payment books those without calling Telegram; the dashboard leaves
    them out as mock payments). Another prefix makes a Telegram-like charge."""
    user = user or UserFactory()
    invoice = purchase_create_invoice(user=user, tariff=tariff, promo_code=promo_code)
    payment = invoice.payment
    purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=f"{charge_prefix}{next(_charges)}",
            amount=payment.amount,
            currency="XTR",
            from_user_id=user.telegram_id,
        )
    )
    payment.refresh_from_db()
    return payment


def in_another_connection(fn):
    """Run fn on another thread (its own database connection, committed) and wait:
    a concurrent request, while the calling request's transaction is open."""
    (result,) = run_concurrently(lambda _: fn(), 1)
    if isinstance(result, Exception):
        raise result
    return result


def staff_in(group_name: str):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def superuser(db):
    return StaffUserFactory(is_superuser=True)


@pytest.fixture
def finance_user(db):
    return staff_in("Finance")


@pytest.fixture
def support_user(db):
    return staff_in("Support")


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # messages asserted in English
        client.force_login(user)
        return client

    return login
