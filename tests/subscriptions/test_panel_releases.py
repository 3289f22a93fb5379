"""The shop against each Remnawave release line (the fake panel's profiles 2.0, 2.7, 2.8, 3.0):
the version read from the panel, the identifier each release wants, one meaning for the device
limit, usernames every release takes, and configuration problems reported once."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from integrations.remnawave import RemnawaveClient
from ops.health import run_checks
from subscriptions.backends import panel_username_for, reset_backend
from subscriptions.models import PanelProblem, ProvisioningTask, Tariff
from subscriptions.panel_health import panel_check_run
from subscriptions.provisioning import process_due
from tests.fakes.remnawave_fixtures import every_panel_release
from tests.subscriptions.helpers import buy, make_all_due, refund, subscription_of
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

DETECTED = {"2.0": ("<2.5", "2"), "2.7": ("2.7.4", "2"), "2.8": ("2.8.1", "2"), "3.0": ("3.3.2", "3")}
EVERYTHING_BUT_UPDATE = [
    "users:create",
    "users:by-username",
    "users:disable",
    "system:metadata",
    "hwid-user-devices:list-by-user",
    "hwid-user-devices:delete",
]


def client_for(panel, **kwargs) -> RemnawaveClient:
    return RemnawaveClient(base_url=panel.url, token=kwargs.pop("token", panel.token), retry_backoff=0, **kwargs)


def patches(panel) -> list[dict]:
    return [call.body for call in panel.calls_to("PATCH", "/api/users")]


def identifies_by_release(panel, body: dict, panel_user: dict) -> None:
    """2.x is addressed by uuid, 3.0 by the numeric id: never the other generation's key."""
    if panel.profile == "3.0":
        assert body["id"] == panel_user["id"] and "uuid" not in body
    else:
        assert body["uuid"] == panel_user["uuid"] and "id" not in body


# --- the version ---------------------------------------------------------------------


@every_panel_release
def test_auto_detection_reads_the_release_from_the_panel(fake_panel):
    client = client_for(fake_panel)

    assert (client.api_version, client.generation) == DETECTED[fake_panel.profile]
    assert fake_panel.calls_to("GET", "/api/users/stream") == []  # never inferred from a route answering


@pytest.mark.parametrize("fake_panel", ["2.8"], indirect=True)
def test_a_2_8_panel_is_not_taken_for_3x_although_its_stream_answers(fake_panel):
    assert fake_panel.calls == [] and client_for(fake_panel).find_by_telegram_id(1) == []
    client = client_for(fake_panel)

    assert client.generation == "2"
    assert client.api_version == "2.8.1"


@every_panel_release
def test_the_detected_release_is_stored_with_the_panel_identity(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    assert subscription_of(user).panel_api_version == DETECTED[fake_panel.profile][0]


# --- create, renew, refund, disable on every release ---------------------------------


@every_panel_release
def test_create_renew_refund_disable_land_on_each_release(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()
    name = panel_username_for(telegram_id=user.telegram_id, user_pk=user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        first = buy(user)
    assert len(fake_panel.creates()) == 1
    created = fake_panel.user(name)

    with django_capture_on_commit_callbacks(execute=True):
        second = buy(user)  # renewal: one PATCH with the new absolute expiry
    renewed = subscription_of(user)
    assert abs(fake_panel.expire_at(name) - renewed.expires_at) < timedelta(milliseconds=1)
    identifies_by_release(fake_panel, patches(fake_panel)[-1], created)

    with django_capture_on_commit_callbacks(execute=True):
        refund(second)  # refund sync: back to the first period's end
    after_refund = subscription_of(user)
    assert after_refund.expires_at < renewed.expires_at
    assert abs(fake_panel.expire_at(name) - after_refund.expires_at) < timedelta(milliseconds=1)

    with django_capture_on_commit_callbacks(execute=True):
        refund(first)  # nothing left: the panel user is disabled through the release's path
    ref = created["id"] if fake_panel.profile == "3.0" else created["uuid"]
    assert fake_panel.calls_to("POST", f"/api/users/{ref}/actions/disable")
    assert fake_panel.user(name)["status"] == "DISABLED"
    assert len(fake_panel.creates()) == 1
    failed = ProvisioningTask.objects.exclude(status=ProvisioningTask.Status.DONE)
    assert not failed.exists(), list(failed.values_list("last_error", flat=True))


@every_panel_release
def test_lookup_by_telegram_id_returns_only_that_buyer(fake_panel):
    fake_panel.add_user("tg_1000001", expire_at=timezone.now() + timedelta(days=3), telegram_id=1000001)
    fake_panel.add_user("tg_1000002", expire_at=timezone.now() + timedelta(days=3), telegram_id=1000002)
    client = client_for(fake_panel)

    found = client.find_by_telegram_id(1000002)

    assert [user.username for user in found] == ["tg_1000002"]
    assert client.find_by_telegram_id(1000003) == []


# --- one meaning for the device limit --------------------------------------------------


@every_panel_release
def test_a_panel_default_device_limit_stays_the_panel_default_after_renewals(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    tariff_1m.device_limit = None
    tariff_1m.save()
    user = UserFactory()
    name = panel_username_for(telegram_id=user.telegram_id, user_pk=user.pk)

    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            buy(user)

    assert "hwidDeviceLimit" not in fake_panel.creates()[0].body  # null is refused on create
    assert [body["hwidDeviceLimit"] for body in patches(fake_panel)] == [None, None]
    assert fake_panel.user(name)["hwidDeviceLimit"] is None
    default = fake_panel.default_device_limit
    assert fake_panel.device_allowed(name, default - 1)
    assert not fake_panel.device_allowed(name, default)


@every_panel_release
def test_an_explicitly_unlimited_tariff_sends_zero_on_create_and_update(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    tariff_1m.device_limit = 0
    tariff_1m.save()
    user = UserFactory()
    name = panel_username_for(telegram_id=user.telegram_id, user_pk=user.pk)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            buy(user)

    assert fake_panel.creates()[0].body["hwidDeviceLimit"] == 0
    assert [body["hwidDeviceLimit"] for body in patches(fake_panel)] == [0]
    assert fake_panel.device_allowed(name, 50)


@every_panel_release
def test_n_devices_stay_n_after_a_renewal(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    tariff_1m.device_limit = 3
    tariff_1m.save()
    user = UserFactory()
    name = panel_username_for(telegram_id=user.telegram_id, user_pk=user.pk)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            buy(user)

    assert [body["hwidDeviceLimit"] for body in patches(fake_panel)] == [3]
    assert fake_panel.user(name)["hwidDeviceLimit"] == 3
    assert fake_panel.device_allowed(name, 2) and not fake_panel.device_allowed(name, 3)


def test_the_migration_keeps_a_zero_limit_meaning_the_panel_default(tariff_1m):
    migration = importlib.import_module("subscriptions.migrations.0017_tariff_device_limit_panel_default")
    Tariff.objects.filter(pk=tariff_1m.pk).update(device_limit=0)
    three = Tariff.objects.create(code="3dev", title="3 devices", months=1, days=30, price_stars=10, device_limit=3)

    migration.device_limit_zero_was_the_panel_default(django_apps, None)

    assert Tariff.objects.get(pk=tariff_1m.pk).device_limit is None  # what 0 meant on create
    assert Tariff.objects.get(pk=three.pk).device_limit == 3


# --- usernames ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("telegram_id", "pk", "expected"),
    [(5, 1, "tg_005"), (123456789, 1, "tg_123456789"), (None, 5, "tg_u05"), (None, 123, "tg_u123")],
)
def test_derived_usernames_are_long_enough_for_every_release(telegram_id, pk, expected):
    assert panel_username_for(telegram_id=telegram_id, user_pk=pk) == expected


@pytest.mark.parametrize("fake_panel", ["2.0"], indirect=True)
def test_a_2_0_panel_takes_the_username_of_a_user_without_telegram_id(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory(telegram_id=None)

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    assert subscription_of(user).panel_username == panel_username_for(telegram_id=None, user_pk=user.pk)
    assert fake_panel.user(subscription_of(user).panel_username) is not None


def test_a_stored_panel_username_survives_a_new_prefix(
    fake_panel, tariff_1m, settings, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    first_name = subscription_of(user).panel_username

    settings.REMNAWAVE_USERNAME_PREFIX = "shop_"
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    assert subscription_of(user).panel_username == first_name
    assert len(fake_panel.creates()) == 1


# --- configuration problems: once per cause, no retry storm ------------------------------


@pytest.fixture
def scoped_token(fake_panel, settings):
    """The shop's token may do everything but update users."""
    token = "scoped-token"
    fake_panel.grant(token, scopes=EVERYTHING_BUT_UPDATE + ["internal-squads:list"])
    settings.REMNAWAVE_TOKEN = token
    reset_backend()
    return token


@pytest.mark.parametrize("fake_panel", ["2.8", "3.0"], indirect=True)
def test_a_token_without_update_permission_is_reported_once_without_a_retry_storm(
    fake_panel, scoped_token, tariff_1m, django_capture_on_commit_callbacks, caplog
):
    buyers = [UserFactory() for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        for user in buyers:
            buy(user)  # created: the token may create
    assert len(fake_panel.creates()) == 3

    for user in buyers:  # renewals: each PATCH is refused once, then the row waits
        with django_capture_on_commit_callbacks(execute=True):
            buy(user)
    for _ in range(3):
        make_all_due_before_the_wait()
        process_due()

    assert len(patches(fake_panel)) == 3  # no retries while the owner has not fixed the token
    problem = PanelProblem.objects.get()  # one report for the cause
    assert problem.cause == "permission:users:update"
    assert problem.occurrences == 3
    assert problem.resolved_at is None
    reports = [r for r in caplog.records if r.getMessage().startswith("panel configuration problem")]
    assert len(reports) == 1
    waiting = ProvisioningTask.objects.filter(status=ProvisioningTask.Status.RETRYING)
    assert waiting.count() == 3
    assert all(task.next_attempt_at > timezone.now() + timedelta(minutes=10) for task in waiting)
    assert all(task.attempts == 0 for task in waiting)  # the owner's fix costs no attempts


def make_all_due_before_the_wait() -> None:
    """A sweep pass finds nothing due: the waiting rows are not run again before their time."""
    ProvisioningTask.objects.filter(status="pending").update(next_attempt_at=timezone.now())


@pytest.mark.parametrize("fake_panel", ["2.8", "3.0"], indirect=True)
def test_readiness_says_what_the_token_may_not_do_and_the_fix_releases_the_waiting_syncs(
    fake_panel, scoped_token, tariff_1m, settings, django_capture_on_commit_callbacks
):
    user = UserFactory()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            buy(user)
    panel_check_run()

    ready, body = run_checks()
    entry = body["checks"]["panel"]
    assert ready and body["status"] == "degraded"
    assert entry["ok"] is False
    assert entry["missing_permissions"] == ["users:update"]
    assert entry["version"] == DETECTED[fake_panel.profile][0]
    assert [problem["cause"] for problem in entry["problems"]] == ["permission:users:update"]

    fake_panel.grant(scoped_token, scopes=["*"])  # the owner fixes the token
    panel_check_run()
    process_due()

    assert PanelProblem.objects.get().resolved_at is not None
    assert run_checks()[1]["checks"]["panel"]["ok"] is True
    name = subscription_of(user).panel_username
    assert abs(fake_panel.expire_at(name) - subscription_of(user).expires_at) < timedelta(milliseconds=1)


@pytest.mark.parametrize("fake_panel", ["2.8", "3.0"], indirect=True)
def test_a_token_that_may_not_read_the_version_is_a_clear_problem_in_auto_mode(
    fake_panel, tariff_1m, settings, django_capture_on_commit_callbacks
):
    fake_panel.grant("no-metadata", scopes=["users:*", "internal-squads:list", "hwid-user-devices:*"])
    settings.REMNAWAVE_TOKEN = "no-metadata"
    reset_backend()
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    problem = PanelProblem.objects.get()
    assert problem.cause == "permission:system:metadata"
    assert "REMNAWAVE_API_VERSION" in problem.message
    assert fake_panel.creates() == []

    settings.REMNAWAVE_API_VERSION = DETECTED[fake_panel.profile][0]  # pinning is the other fix
    reset_backend()
    make_all_due()
    process_due()
    assert len(fake_panel.creates()) == 1


def test_a_refused_token_is_one_problem_not_a_failed_task(fake_panel, tariff_1m, settings):
    settings.REMNAWAVE_TOKEN = "not-the-panels-token"
    reset_backend()
    user = UserFactory()
    buy(user)

    for _ in range(3):
        make_all_due()
        process_due()

    problem = PanelProblem.objects.get()
    assert problem.cause == "token_rejected"
    assert problem.occurrences == 3
    task = ProvisioningTask.objects.get(user=user)
    assert task.status == ProvisioningTask.Status.RETRYING


def test_an_unknown_squad_is_a_configuration_problem_not_an_outage(fake_panel, tariff_1m, settings):
    settings.REMNAWAVE_SQUADS = ["00000000-0000-4000-8000-000000000000"]
    reset_backend()
    user = UserFactory()
    buy(user)

    process_due()

    problem = PanelProblem.objects.get()
    assert problem.cause == "unknown_squads"
    assert "00000000-0000-4000-8000-000000000000" in problem.message
    assert ProvisioningTask.objects.get(user=user).attempts == 0


# --- manage.py panel_check ----------------------------------------------------------------


@every_panel_release
def test_panel_check_prints_the_version_and_the_squads(fake_panel, capsys):
    call_command("panel_check")

    out = capsys.readouterr().out
    assert DETECTED[fake_panel.profile][0] in out
    assert "Default" in out
    assert "may do everything the shop needs" in out


@pytest.mark.parametrize("fake_panel", ["3.0"], indirect=True)
def test_panel_check_names_each_missing_permission_and_unknown_squad(fake_panel, scoped_token, settings, capsys):
    settings.REMNAWAVE_SQUADS = [*settings.REMNAWAVE_SQUADS, "00000000-0000-4000-8000-000000000000"]
    reset_backend()

    with pytest.raises(CommandError):
        call_command("panel_check")

    out = capsys.readouterr().out
    assert "add the scope users:update" in out
    assert "00000000-0000-4000-8000-000000000000, which the panel does not have" in out
    assert fake_panel.users == {} and patches(fake_panel) == [{}]  # asked, changed nothing


# --- where the owner sees it ---------------------------------------------------------------


def test_the_dashboard_shows_the_panels_version_and_each_open_problem_once(fake_panel, scoped_token, client):
    panel_check_run()
    client.force_login(StaffUserFactory(is_superuser=True))

    page = client.get(reverse("admin:payments_payment_dashboard"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    card = page[page.index('id="card-panel"') :][:1500]
    assert "3.3.2" in card
    assert card.count("scope users:update") == 1
    assert "dash-alert" in page[page.index('id="card-panel"') - 40 : page.index('id="card-panel"')]


def test_readiness_before_the_first_panel_check_says_so_without_alarm(fake_panel):
    ready, body = run_checks()

    entry = body["checks"]["panel"]
    assert entry["ok"] is True and entry["configured"] is True
    assert entry["error"] == "not checked yet (manage.py panel_check)"


@pytest.mark.parametrize("fake_panel", ["2.8"], indirect=True)
def test_a_panel_upgraded_to_3x_while_the_shop_runs_is_addressed_by_id_afterwards(fake_panel, monkeypatch):
    client = client_for(fake_panel)
    assert client.generation == "2"

    fake_panel.version = "3.0"  # the owner upgrades the panel
    monkeypatch.setattr("integrations.remnawave.VERSION_TTL_SECONDS", 0.0)

    assert (client.api_version, client.generation) == ("3.3.2", "3")


@pytest.mark.parametrize("fake_panel", ["3.0"], indirect=True)
def test_a_pinned_release_needs_no_metadata_permission(fake_panel, settings):
    fake_panel.grant("pinned", scopes=["users:*", "internal-squads:list", "hwid-user-devices:*"])
    settings.REMNAWAVE_TOKEN = "pinned"
    settings.REMNAWAVE_API_VERSION = "3.3.2"
    reset_backend()

    report = panel_check_run()

    assert report.ok, report
    assert report.version == "3.3.2"


@pytest.mark.parametrize("fake_panel", ["2.8", "3.0"], indirect=True)
def test_panel_check_names_the_device_scopes_the_devices_screen_needs(fake_panel, settings):
    fake_panel.grant("no-devices", scopes=["users:*", "system:metadata", "internal-squads:list"])
    settings.REMNAWAVE_TOKEN = "no-devices"
    reset_backend()

    report = panel_check_run()

    assert report.missing_permissions == ["hwid-user-devices:list-by-user", "hwid-user-devices:delete"]
