"""Provisioning through the durable queue, against the fake Remnawave panel."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from integrations.remnawave import parse_panel_datetime
from subscriptions.backends import NoneBackend, RemnawaveBackend, get_backend, reset_backend
from subscriptions.models import ProvisioningTask, Subscription
from subscriptions.provisioning import (
    Busy,
    backoff_delay,
    claim_task,
    process_due,
    provisioning_retry_for_user,
    run_task,
    task_retry_now,
)
from subscriptions.services import provisioning_enqueue
from tests.fakes.remnawave_fixtures import TEST_SQUAD, both_panel_versions
from tests.subscriptions.factories import SubscriptionFactory
from tests.subscriptions.helpers import buy, make_all_due, panel_username, refund, subscription_of
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def same_instant(a, b) -> bool:
    """The panel keeps milliseconds."""
    return abs(a - b) < timedelta(milliseconds=1)


def sync_tasks(user):
    return ProvisioningTask.objects.filter(user=user, kind=ProvisioningTask.Kind.SYNC)


# --- first purchase, renewal, expired renewal ------------------------------------------


@both_panel_versions
def test_new_buyer_gets_a_panel_user_with_the_computed_expiry_and_squads(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    subscription = subscription_of(user)
    panel_user = fake_panel.user(panel_username(user))
    assert same_instant(panel_user["expireAt"], subscription.expires_at)
    assert panel_user["activeInternalSquads"] == [TEST_SQUAD]
    assert panel_user["telegramId"] == user.telegram_id
    assert panel_user["status"] == "ACTIVE"
    assert subscription.panel_username == panel_username(user)
    assert (
        subscription.panel_api_version
        == {"2.0": "<2.5", "2.7": "2.7.4", "2.8": "2.8.1", "3.0": "3.3.2"}[fake_panel.profile]
    )
    if fake_panel.profile != "3.0":
        assert subscription.panel_user_uuid == panel_user["uuid"]
    else:
        assert subscription.panel_user_id == panel_user["id"]
    assert subscription.panel_short_uuid == panel_user["shortUuid"]
    assert subscription.subscription_url.endswith(panel_user["shortUuid"])
    assert subscription.provisioned_at is not None
    assert sync_tasks(user).get().status == ProvisioningTask.Status.DONE


def test_tariff_limits_go_to_the_panel(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    tariff_1m.traffic_limit_bytes = 50 * 2**30
    tariff_1m.device_limit = 3
    tariff_1m.save()
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    panel_user = fake_panel.user(panel_username(user))
    assert panel_user["trafficLimitBytes"] == 50 * 2**30
    assert panel_user["hwidDeviceLimit"] == 3


@both_panel_versions
def test_renewal_moves_the_expiry_of_the_same_panel_user(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    first_expiry = subscription_of(user).expires_at

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    subscription = subscription_of(user)
    assert subscription.expires_at == first_expiry + timedelta(days=30)
    assert len(fake_panel.users) == 1
    assert len(fake_panel.creates()) == 1
    assert same_instant(fake_panel.expire_at(panel_username(user)), subscription.expires_at)


def test_expired_user_renewed_gets_an_expiry_counted_from_now(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()
    long_ago = timezone.now() - timedelta(days=10)
    SubscriptionFactory(user=user, expires_at=long_ago, status=Subscription.Status.EXPIRED)
    fake_panel.add_user(panel_username(user), expire_at=long_ago, telegram_id=user.telegram_id, status="EXPIRED")
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    subscription = subscription_of(user)
    assert before + timedelta(days=30) <= subscription.expires_at <= timezone.now() + timedelta(days=30)
    panel_user = fake_panel.user(panel_username(user))
    assert same_instant(panel_user["expireAt"], subscription.expires_at)
    assert panel_user["status"] == "ACTIVE"
    assert fake_panel.creates() == []


# --- outages and lost answers --------------------------------------------------------------


def test_panel_down_for_the_whole_purchase_provisions_once_after_recovery(
    fake_panel, fake_telegram, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()
    fake_panel.down = True

    with django_capture_on_commit_callbacks(execute=True):
        payment = buy(user)

    assert payment.status == "succeeded"
    task = sync_tasks(user).get()
    assert task.status == ProvisioningTask.Status.RETRYING
    assert task.attempts == 1
    assert "503" in task.last_error
    assert task.next_attempt_at > timezone.now()

    fake_panel.down = False
    make_all_due()
    process_due()
    make_all_due()
    process_due()

    assert sync_tasks(user).get().status == ProvisioningTask.Status.DONE
    assert len(fake_panel.users) == 1
    assert len(fake_panel.creates()) == 1
    subscription = subscription_of(user)
    assert subscription.link_sent_at is not None
    messages = fake_telegram.sent_texts(user.telegram_id)
    assert len(messages) == 1
    assert subscription.subscription_url in messages[0]


def test_create_that_times_out_after_the_panel_stored_it_makes_no_second_user(
    fake_panel, settings, tariff_1m, django_capture_on_commit_callbacks
):
    settings.REMNAWAVE_MAX_RETRIES = 0  # the queue's retry, not the client's, finds the user
    reset_backend()
    user = UserFactory()
    fake_panel.create_then_hang(1.0)  # the client timeout is 0.5 s

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    assert sync_tasks(user).get().status == ProvisioningTask.Status.RETRYING
    make_all_due()
    process_due()

    assert sync_tasks(user).get().status == ProvisioningTask.Status.DONE
    assert len(fake_panel.users) == 1
    assert len(fake_panel.creates()) == 1
    assert same_instant(fake_panel.expire_at(panel_username(user)), subscription_of(user).expires_at)


def test_a_retried_create_inside_one_worker_call_adopts_the_user_it_created(fake_panel, tariff_1m):
    user = UserFactory()
    buy(user)  # left to the worker
    fake_panel.create_then_hang(1.0)

    process_due()

    assert sync_tasks(user).get().status == ProvisioningTask.Status.DONE
    assert sync_tasks(user).get().attempts == 1
    assert len(fake_panel.creates()) == 2  # the second one was refused: username taken
    assert len(fake_panel.users) == 1


def test_a_panel_failing_past_the_client_retries_leaves_the_task_to_the_queue(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()
    fake_panel.fail_next(3, status=500)  # the first call and its two in-call retries

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    assert len(fake_panel.calls) == 3
    assert sync_tasks(user).get().status == ProvisioningTask.Status.RETRYING


def test_run_after_commit_can_be_switched_off(fake_panel, settings, tariff_1m, django_capture_on_commit_callbacks):
    settings.PROVISIONING_RUN_AFTER_COMMIT = False
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    assert sync_tasks(user).get().status == ProvisioningTask.Status.PENDING
    assert fake_panel.calls == []


# --- refunds -----------------------------------------------------------------------------------


@both_panel_versions
def test_refund_moves_the_panel_expiry_back(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
        second = buy(user)

    with django_capture_on_commit_callbacks(execute=True):
        refund(second)

    subscription = subscription_of(user)
    assert subscription.is_active
    assert same_instant(fake_panel.expire_at(panel_username(user)), subscription.expires_at)
    assert fake_panel.user(panel_username(user))["status"] == "ACTIVE"


@both_panel_versions
def test_refund_of_everything_disables_the_panel_user(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        payment = buy(user)
    patches_before = len(fake_panel.calls_to("PATCH"))

    with django_capture_on_commit_callbacks(execute=True):
        refund(payment)

    assert not subscription_of(user).is_active
    assert fake_panel.user(panel_username(user))["status"] == "DISABLED"
    assert len(fake_panel.calls_to("PATCH")) == patches_before  # no past expireAt sent
    assert sync_tasks(user).filter(status=ProvisioningTask.Status.DONE).count() == 2


def test_renewal_after_a_full_refund_enables_the_panel_user_again(
    fake_panel, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        refund(buy(user))

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    panel_user = fake_panel.user(panel_username(user))
    assert panel_user["status"] == "ACTIVE"
    assert same_instant(panel_user["expireAt"], subscription_of(user).expires_at)


# --- the queue ---------------------------------------------------------------------------------


def test_pending_tasks_of_one_user_are_coalesced_into_one_sync(fake_panel, tariff_1m):
    user = UserFactory()
    buy(user)  # after-commit callbacks are not run: three tasks wait
    buy(user)
    with transaction.atomic():
        provisioning_enqueue(user=user, reason=ProvisioningTask.Reason.ADMIN)

    assert process_due() == 2  # one sync, then the link message

    tasks = sync_tasks(user)
    assert set(tasks.values_list("status", flat=True)) == {ProvisioningTask.Status.DONE}
    assert tasks.filter(note__startswith="coalesced into").count() == 2
    assert len(fake_panel.creates()) == 1
    assert fake_panel.calls_to("PATCH") == []
    assert same_instant(fake_panel.expire_at(panel_username(user)), subscription_of(user).expires_at)


def test_a_running_task_blocks_other_tasks_of_the_same_user(fake_panel, tariff_1m):
    user = UserFactory()
    SubscriptionFactory(user=user, expires_at=timezone.now() + timedelta(days=5), status="active")
    ProvisioningTask.objects.create(
        user=user,
        reason="admin",
        status=ProvisioningTask.Status.RUNNING,
        locked_until=timezone.now() + timedelta(minutes=5),
    )
    waiting = ProvisioningTask.objects.create(user=user, reason="admin")

    claimed = claim_task(task_id=waiting.pk)

    assert claimed == Busy(task_id=waiting.pk)
    assert ProvisioningTask.objects.get(pk=waiting.pk).status == ProvisioningTask.Status.PENDING


def test_a_task_whose_worker_died_is_claimed_again_after_its_lease(fake_panel, tariff_1m):
    user = UserFactory()
    SubscriptionFactory(user=user, expires_at=timezone.now() + timedelta(days=5), status="active")
    stale = ProvisioningTask.objects.create(
        user=user,
        reason="admin",
        status=ProvisioningTask.Status.RUNNING,
        attempts=1,
        locked_until=timezone.now() - timedelta(seconds=1),
    )

    process_due()

    stale.refresh_from_db()
    assert stale.status == ProvisioningTask.Status.DONE
    assert stale.attempts == 2


def test_a_task_not_yet_due_is_not_run(fake_panel, tariff_1m):
    user = UserFactory()
    ProvisioningTask.objects.create(
        user=user, reason="admin", status="retrying", next_attempt_at=timezone.now() + timedelta(minutes=1)
    )

    assert process_due() == 0
    assert fake_panel.calls == []


def test_task_fails_for_good_after_max_attempts_with_the_panel_error(
    fake_panel, settings, tariff_1m, django_capture_on_commit_callbacks
):
    settings.PROVISIONING_MAX_ATTEMPTS = 2
    settings.REMNAWAVE_TRAFFIC_STRATEGY = "EVERY_FULL_MOON"  # the panel refuses it: 400
    reset_backend()
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    make_all_due()
    process_due()

    task = sync_tasks(user).get()
    assert task.status == ProvisioningTask.Status.FAILED
    assert task.attempts == 2
    assert "HTTP 400" in task.last_error
    assert "Validation failed (trafficLimitStrategy: Invalid traffic limit strategy)" in task.last_error
    assert fake_panel.users == {}


def test_backoff_grows_exponentially_up_to_a_cap(settings):
    settings.PROVISIONING_BACKOFF_SECONDS = 30
    settings.PROVISIONING_BACKOFF_MAX_SECONDS = 3600

    delays = [backoff_delay(attempts=n).total_seconds() for n in (1, 2, 3, 10)]

    assert delays == [30, 60, 120, 3600]


def test_task_retry_now_makes_a_failed_task_due_with_a_fresh_budget(fake_panel, tariff_1m):
    user = UserFactory()
    SubscriptionFactory(user=user, expires_at=timezone.now() + timedelta(days=5), status="active")
    failed = ProvisioningTask.objects.create(
        user=user,
        reason="admin",
        status=ProvisioningTask.Status.FAILED,
        attempts=12,
        last_error="HTTP 500",
        next_attempt_at=timezone.now() + timedelta(days=1),
    )

    assert task_retry_now(task_id=failed.pk) is True

    failed.refresh_from_db()
    assert failed.status == ProvisioningTask.Status.PENDING
    assert failed.attempts == 0
    assert failed.next_attempt_at <= timezone.now()


def test_task_retry_now_ignores_a_done_task(tariff_1m):
    user = UserFactory()
    done = ProvisioningTask.objects.create(user=user, reason="admin", status=ProvisioningTask.Status.DONE)

    assert task_retry_now(task_id=done.pk) is False


def test_provisioning_retry_for_user_syncs_the_panel_again(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    del fake_panel.users[panel_username(user)]  # someone deleted it in the panel

    with django_capture_on_commit_callbacks(execute=True):
        task = provisioning_retry_for_user(user=user)

    task.refresh_from_db()
    assert task.status == ProvisioningTask.Status.DONE
    assert fake_panel.user(panel_username(user)) is not None


def test_process_provisioning_once_runs_due_tasks(fake_panel, tariff_1m):
    user = UserFactory()
    buy(user)

    call_command("process_provisioning", "--once")

    assert sync_tasks(user).get().status == ProvisioningTask.Status.DONE
    assert fake_panel.user(panel_username(user)) is not None


def test_process_provisioning_loop_stops_gracefully_on_sigterm(fake_panel, tariff_1m, monkeypatch):
    import os
    import signal

    from subscriptions.management.commands import process_provisioning as command

    def process_then_get_terminated(**kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    monkeypatch.setattr(command, "process_due", process_then_get_terminated)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("process_provisioning", "--poll", "5")  # returns instead of waiting 5 s
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_run_task_is_a_no_op_for_a_finished_task(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    task = sync_tasks(user).get()
    calls = len(fake_panel.calls)

    assert run_task(task_id=task.pk) is False
    assert len(fake_panel.calls) == calls


# --- the subscription link in Telegram -----------------------------------------------------


def test_link_is_sent_once_across_renewals(fake_panel, fake_telegram, tariff_1m, django_capture_on_commit_callbacks):
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
        buy(user)

    assert len(fake_telegram.sent_texts(user.telegram_id)) == 1
    link_task = ProvisioningTask.objects.get(user=user, kind=ProvisioningTask.Kind.LINK)
    assert link_task.status == ProvisioningTask.Status.DONE


def test_telegram_outage_delays_the_link_but_loses_nothing(
    fake_panel, fake_telegram, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory()
    fake_telegram.fail_next("sendMessage", 500, times=1)

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    link_task = ProvisioningTask.objects.get(user=user, kind=ProvisioningTask.Kind.LINK)
    assert link_task.status == ProvisioningTask.Status.RETRYING
    assert subscription_of(user).link_sent_at is None

    make_all_due()
    process_due()

    link_task.refresh_from_db()
    assert link_task.status == ProvisioningTask.Status.DONE
    assert subscription_of(user).link_sent_at is not None
    assert len(fake_telegram.sent_texts(user.telegram_id)) == 1


def test_link_is_not_sent_without_telegram(fake_panel, settings, tariff_1m, django_capture_on_commit_callbacks):
    settings.TELEGRAM_BOT_TOKEN = ""
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    link_task = ProvisioningTask.objects.get(user=user, kind=ProvisioningTask.Kind.LINK)
    assert link_task.status == ProvisioningTask.Status.DONE
    assert "not configured" in link_task.note
    assert subscription_of(user).link_sent_at is None


def test_link_text_speaks_english_to_english_users(
    fake_panel, fake_telegram, tariff_1m, django_capture_on_commit_callbacks
):
    user = UserFactory(language_code="en-GB")

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    (text,) = fake_telegram.sent_texts(user.telegram_id)
    assert text.startswith("<b>🎉 Your VPN subscription is ready.</b>")


# --- the none backend ------------------------------------------------------------------------


def test_none_backend_finishes_tasks_without_a_panel(settings, tariff_1m, django_capture_on_commit_callbacks):
    settings.PROVISIONING_BACKEND = "none"
    reset_backend()
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    task = sync_tasks(user).get()
    assert task.status == ProvisioningTask.Status.DONE
    assert "none" in task.note
    assert subscription_of(user).is_active
    assert not ProvisioningTask.objects.filter(user=user, kind=ProvisioningTask.Kind.LINK).exists()
    reset_backend()


def test_the_backend_is_built_once_and_cached(fake_panel):
    first = get_backend()

    assert get_backend() is first
    assert isinstance(first, RemnawaveBackend)


def test_reset_backend_rereads_the_setting(fake_panel, settings):
    get_backend()
    settings.PROVISIONING_BACKEND = "none"

    reset_backend()

    assert isinstance(get_backend(), NoneBackend)
    reset_backend()


def test_panel_datetime_parsing_is_utc():
    parsed = parse_panel_datetime("2030-01-02T03:04:05.678Z")

    assert parsed.utcoffset() == timedelta(0)
    assert parse_panel_datetime("garbage") is None
