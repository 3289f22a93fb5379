"""API keys in the admin: the key is shown once, stored hashed, and can be revoked."""

import re

import pytest

from api.models import ApiKey
from tests.api.conftest import key_client
from tests.users.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(StaffUserFactory(is_superuser=True))
    return client


def test_creating_a_key_shows_it_once_and_stores_it_hashed(admin_client):
    response = admin_client.post("/admin/api/apikey/add/", {"name": "billing backend"}, follow=True)

    [message] = [str(m) for m in response.context["messages"] if "copy it now" in str(m)]
    raw_key = re.search(r"([0-9a-f]{12}\.[A-Za-z0-9_-]+)", message).group(1)
    api_key = ApiKey.objects.get()
    assert api_key.name == "billing backend"
    assert raw_key not in api_key.secret_hash and api_key.prefix == raw_key.split(".")[0]
    assert key_client(raw_key, 1234).get("/api/v1/me").status_code == 200
    assert raw_key not in admin_client.get(f"/admin/api/apikey/{api_key.pk}/change/").content.decode()


def test_the_revoke_action_revokes_keys(admin_client, issued_key):
    admin_client.post(
        "/admin/api/apikey/",
        {"action": "revoke", "_selected_action": [issued_key.api_key.pk]},
        follow=True,
    )

    assert ApiKey.objects.get().revoked_at is not None
    assert key_client(issued_key.raw_key, 1234).get("/api/v1/me").status_code == 401


def test_the_changelist_shows_last_use(admin_client, issued_key):
    key_client(issued_key.raw_key, 1234).get("/api/v1/me")

    response = admin_client.get("/admin/api/apikey/")

    assert response.status_code == 200
    assert ApiKey.objects.get().last_used_at is not None


def test_create_api_key_command_prints_a_working_key(db, capsys):
    from django.core.management import call_command

    call_command("create_api_key", "demo")

    raw_key = capsys.readouterr().out.strip()
    assert ApiKey.objects.get().name == "demo"
    assert key_client(raw_key, 1234).get("/api/v1/me").status_code == 200
