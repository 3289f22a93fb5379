"""API keys in the admin: the key is shown once, stored hashed, and can be revoked."""

import re

import pytest

from api.models import DEFAULT_SCOPES, ApiKey, Scope
from tests.api.conftest import key_client
from tests.users.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # messages asserted in English (the admin is in Russian otherwise)
    client.force_login(StaffUserFactory(is_superuser=True))
    return client


def test_creating_a_key_shows_it_once_and_stores_it_hashed(admin_client):
    form = {"name": "billing backend", "scopes": DEFAULT_SCOPES}  # the boxes checked by default
    response = admin_client.post("/admin/api/apikey/add/", form, follow=True)

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


def test_the_add_form_offers_the_scopes_with_the_safe_ones_checked(admin_client):
    form = admin_client.get("/admin/api/apikey/add/").context["adminform"].form

    assert [value for value, _label in form.fields["scopes"].choices] == Scope.values
    assert form["scopes"].value() == DEFAULT_SCOPES


def test_scopes_are_chosen_at_creation_changed_later_and_listed(admin_client):
    admin_client.post("/admin/api/apikey/add/", {"name": "partner", "scopes": ["purchases:read"]})
    api_key = ApiKey.objects.get()

    admin_client.post(f"/admin/api/apikey/{api_key.pk}/change/", {"scopes": ["purchases:read", "balance:pay"]})

    assert ApiKey.objects.get().scopes == ["purchases:read", "balance:pay"]
    assert "purchases:read, balance:pay" in admin_client.get("/admin/api/apikey/").content.decode()


def test_create_api_key_command_grants_the_default_or_the_chosen_scopes(db, capsys):
    from django.core.management import call_command

    call_command("create_api_key", "plain")
    call_command("create_api_key", "payer", "--scope", "balance:pay")
    call_command("create_api_key", "demo", "--all-scopes")

    scopes = dict(ApiKey.objects.values_list("name", "scopes"))
    assert scopes == {"plain": DEFAULT_SCOPES, "payer": ["balance:pay"], "demo": Scope.values}
