"""Project-level checks: settings, demo data, commands."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from payments.ledger import balance_adjust
from promos.models import PromoCode
from subscriptions.models import Tariff
from tests.users.factories import UserFactory
from users.models import User

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_unknown_provisioning_backend_is_a_clear_error():
    result = manage("check", DJANGO_DEBUG="true", PROVISIONING_BACKEND="carrier-pigeon")
    assert result.returncode != 0 and "PROVISIONING_BACKEND" in result.stderr


@pytest.mark.django_db
def test_migrations_create_the_default_tariffs():
    prices = dict(Tariff.objects.values_list("code", "price_stars"))
    assert prices == {"1m": 100, "3m": 250, "6m": 450, "12m": 800, "1m-auto": 100}
    days = {"1m": 30, "3m": 90, "6m": 180, "12m": 360, "1m-auto": 30}
    assert dict(Tariff.objects.values_list("code", "days")) == days
    assert list(Tariff.objects.filter(renews_monthly=True).values_list("code", flat=True)) == ["1m-auto"]


@pytest.mark.django_db
def test_seed_demo_loads_promos_and_prints_admin_credentials(capsys, settings):
    settings.DEBUG = True  # the demo path (make run); pytest-django turns DEBUG off for tests
    call_command("seed_demo")
    call_command("seed_demo")  # twice is fine
    out = capsys.readouterr().out
    assert set(PromoCode.objects.values_list("code", flat=True)) == {"PROMO10", "BONUS7", "SUPER2025"}
    assert "username=admin password=" in out
    password = out.strip().split("password=")[-1].split()[0]
    assert User.objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_verify_balances_passes_when_cache_equals_ledger(capsys):
    balance_adjust(user=UserFactory(), delta=10, reason="r")
    call_command("verify_balances")
    assert "all balances equal the ledger" in capsys.readouterr().out


@pytest.mark.django_db
def test_verify_balances_fails_when_cache_drifts():
    from django.core.management.base import CommandError

    user = UserFactory()
    balance_adjust(user=user, delta=10, reason="r")
    User.objects.filter(pk=user.pk).update(stars_balance=11)
    with pytest.raises(CommandError):
        call_command("verify_balances")
    User.objects.filter(pk=user.pk).update(stars_balance=10)
