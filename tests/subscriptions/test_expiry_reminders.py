"""send_expiry_reminders: 3 days, 1 day, expired; once per subscription period."""

import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import run_concurrently
from subscriptions import reminders
from subscriptions.models import ExpiryReminder, Subscription
from subscriptions.reminders import reminder_kind_for, send_expiry_reminders
from tests.subscriptions.factories import SubscriptionFactory
from tests.users.factories import UserFactory


def subscription_ending_in(delta: timedelta, **user_fields) -> Subscription:
    expires_at = timezone.now() + delta
    return SubscriptionFactory(
        user=UserFactory(**user_fields),
        expires_at=expires_at,
        status=Subscription.Status.ACTIVE if delta > timedelta(0) else Subscription.Status.EXPIRED,
    )


def markup_of(message: dict) -> dict:
    markup = message.get("reply_markup")
    return json.loads(markup) if isinstance(markup, str) else markup


@pytest.mark.parametrize(
    ("left", "kind"),
    [
        (timedelta(days=5), None),
        (timedelta(days=2, hours=23), ExpiryReminder.Kind.DAYS_3),
        (timedelta(hours=20), ExpiryReminder.Kind.DAYS_1),
        (timedelta(hours=-2), ExpiryReminder.Kind.EXPIRED),
        (timedelta(days=-30), None),
    ],
)
def test_reminder_kind_for_the_time_left(left, kind):
    now = timezone.now()

    assert reminder_kind_for(expires_at=now + left, now=now) == kind


@pytest.mark.django_db
def test_each_reminder_is_sent_with_a_renew_button(fake_telegram):
    soon = subscription_ending_in(timedelta(days=2, hours=12))
    tomorrow = subscription_ending_in(timedelta(hours=12))
    expired = subscription_ending_in(timedelta(hours=-3))
    subscription_ending_in(timedelta(days=20))  # nothing yet

    result = send_expiry_reminders()

    assert result.sent == 3
    for subscription, snippet in [(soon, "3 days"), (tomorrow, "tomorrow"), (expired, "has expired")]:
        (message,) = fake_telegram.sent_messages(subscription.user.telegram_id)
        assert snippet in message["text"]
        button = markup_of(message)["inline_keyboard"][0][0]
        assert button["callback_data"] == "buy"
    assert ExpiryReminder.objects.filter(status=ExpiryReminder.Status.SENT).count() == 3


@pytest.mark.django_db
def test_a_second_run_sends_nothing_again(fake_telegram):
    subscription = subscription_ending_in(timedelta(hours=12))
    send_expiry_reminders()

    result = send_expiry_reminders()

    assert result.sent == 0
    assert len(fake_telegram.sent_messages(subscription.user.telegram_id)) == 1


@pytest.mark.django_db
def test_the_1_day_reminder_follows_the_3_day_one(fake_telegram):
    subscription = subscription_ending_in(timedelta(days=2, hours=12))
    send_expiry_reminders()

    send_expiry_reminders(now=timezone.now() + timedelta(days=2))

    kinds = set(ExpiryReminder.objects.filter(user=subscription.user).values_list("kind", flat=True))
    assert kinds == {"3d", "1d"}
    assert len(fake_telegram.sent_messages(subscription.user.telegram_id)) == 2


@pytest.mark.django_db
def test_a_renewal_starts_a_new_period_with_new_reminders(fake_telegram):
    subscription = subscription_ending_in(timedelta(hours=12))
    send_expiry_reminders()
    Subscription.objects.filter(pk=subscription.pk).update(expires_at=subscription.expires_at + timedelta(days=30))

    send_expiry_reminders(now=timezone.now() + timedelta(days=30))

    assert ExpiryReminder.objects.filter(user=subscription.user, kind="1d").count() == 2
    assert len(fake_telegram.sent_messages(subscription.user.telegram_id)) == 2


@pytest.mark.django_db
def test_disabled_and_never_bought_get_no_reminder(fake_telegram):
    disabled = subscription_ending_in(timedelta(hours=12))
    Subscription.objects.filter(pk=disabled.pk).update(status=Subscription.Status.DISABLED)

    assert send_expiry_reminders().sent == 0


@pytest.mark.django_db
def test_a_failed_send_is_retried_by_the_next_run(fake_telegram):
    subscription = subscription_ending_in(timedelta(hours=12))
    fake_telegram.fail_next("sendMessage", 500, times=1)

    first = send_expiry_reminders()
    second = send_expiry_reminders()

    assert (first.failed, second.sent) == (1, 1)
    assert len(fake_telegram.sent_messages(subscription.user.telegram_id)) == 1
    assert ExpiryReminder.objects.get(user=subscription.user).status == ExpiryReminder.Status.SENT


@pytest.mark.django_db
def test_nothing_is_sent_without_telegram(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    subscription_ending_in(timedelta(hours=12))

    assert send_expiry_reminders().sent == 0
    assert not ExpiryReminder.objects.exists()


@pytest.mark.django_db
def test_english_users_get_english_text(fake_telegram):
    subscription = subscription_ending_in(timedelta(hours=12), language_code="en")

    send_expiry_reminders()

    (message,) = fake_telegram.sent_messages(subscription.user.telegram_id)
    assert message["text"].startswith("Your VPN subscription ends tomorrow")


@pytest.mark.django_db
def test_the_command_reports_what_it_sent(fake_telegram, capsys):
    subscription_ending_in(timedelta(hours=12))

    call_command("send_expiry_reminders")

    assert "reminders sent: 1" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_run_overlapping_another_sends_no_second_message(fake_telegram, monkeypatch):
    subscriptions = [subscription_ending_in(timedelta(hours=12)) for _ in range(3)]
    real_send = reminders.notify
    overlapping = []

    def send_while_another_run_starts(**kwargs):
        if not overlapping:
            overlapping.append(None)
            overlapping[0] = send_expiry_reminders()  # a second run starts mid-send
        real_send(**kwargs)

    monkeypatch.setattr(reminders, "notify", send_while_another_run_starts)

    first = send_expiry_reminders()

    assert first.sent + overlapping[0].sent == 3
    for subscription in subscriptions:
        assert len(fake_telegram.sent_messages(subscription.user.telegram_id)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_one_message_per_reminder(fake_telegram):
    subscriptions = [subscription_ending_in(timedelta(hours=12)) for _ in range(5)]
    start = threading.Barrier(3)

    def run(_: int):
        start.wait(timeout=10)
        return send_expiry_reminders()

    results = run_concurrently(run, 3)

    assert sum(r.sent for r in results) == 5, results
    for subscription in subscriptions:
        assert len(fake_telegram.sent_messages(subscription.user.telegram_id)) == 1
    assert ExpiryReminder.objects.count() == 5


@pytest.mark.django_db
def test_russian_is_the_default_language(fake_telegram):
    subscription = subscription_ending_in(timedelta(hours=12), language_code="")

    send_expiry_reminders()

    (message,) = fake_telegram.sent_messages(subscription.user.telegram_id)
    assert message["text"].startswith("Ваша подписка на VPN закончится завтра")
    assert markup_of(message)["inline_keyboard"][0][0]["text"] == "Продлить"


@pytest.mark.django_db
def test_a_subscription_telegram_renews_is_reminded_of_the_renewal_not_the_end(fake_telegram):
    # given a subscription a Telegram Star subscription renews, ending in 3 days
    renewing = subscription_ending_in(timedelta(days=2, hours=12), bot_language="en")
    Subscription.objects.filter(pk=renewing.pk).update(renews_automatically=True)

    send_expiry_reminders()

    # then the reminder says it renews by itself, and offers My subscription instead of Renew
    (message,) = fake_telegram.sent_messages(renewing.user.telegram_id)
    assert "renews automatically on" in message["text"] and "ends in" not in message["text"]
    assert markup_of(message)["inline_keyboard"][0][0]["callback_data"] == "sub"


@pytest.mark.django_db
def test_a_user_who_blocked_the_bot_gets_no_reminder(fake_telegram):
    blocked = subscription_ending_in(timedelta(hours=12), bot_blocked_at=timezone.now())
    reachable = subscription_ending_in(timedelta(hours=12))

    result = send_expiry_reminders()

    assert result.sent == 1
    assert fake_telegram.sent_messages(blocked.user.telegram_id) == []
    assert not ExpiryReminder.objects.filter(user=blocked.user).exists()
    assert len(fake_telegram.sent_messages(reachable.user.telegram_id)) == 1


@pytest.mark.django_db
def test_a_403_marks_the_user_as_blocking_the_bot_and_is_not_retried(fake_telegram):
    subscription = subscription_ending_in(timedelta(hours=12))
    fake_telegram.block(subscription.user.telegram_id)

    first = send_expiry_reminders()
    send_expiry_reminders()

    assert first.failed == 1
    subscription.user.refresh_from_db()
    assert subscription.user.bot_blocked_at is not None
    reminder = ExpiryReminder.objects.get(user=subscription.user)
    assert reminder.status == ExpiryReminder.Status.FAILED and "blocked" in reminder.last_error
    assert len(fake_telegram.calls("sendMessage")) == 1  # the next run did not try again
