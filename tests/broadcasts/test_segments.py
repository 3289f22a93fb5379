"""Who each segment reaches: reachable buyers (a Telegram id, an active account, not blocking the
bot), narrowed by subscription state, payments and language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast
from broadcasts.selectors import recipient_count, segment_recipients
from payments.models import Payment
from subscriptions.models import Subscription
from tests.broadcasts.factories import BroadcastFactory
from tests.payments.factories import PaymentFactory
from tests.subscriptions.factories import SubscriptionFactory
from tests.users.factories import StaffUserFactory, UserFactory
from users.models import User, language_of
from users.selectors import language_q

pytestmark = pytest.mark.django_db

S = Broadcast.Segment


def ending_in(delta: timedelta, *, status=Subscription.Status.ACTIVE, **user_fields) -> User:
    user = UserFactory(**user_fields)
    SubscriptionFactory(user=user, expires_at=timezone.now() + delta, status=status)
    return user


def paid(user: User, *, amount: int = 100, status=Payment.Status.SUCCEEDED, method=Payment.Method.STARS) -> None:
    PaymentFactory(user=user, status=status, method=method, base_price=amount, amount=amount)


@pytest.fixture
def shop():
    """One buyer of each kind; the test names pick them."""
    people = {
        "active": ending_in(timedelta(days=20)),
        "ending_tomorrow": ending_in(timedelta(hours=20)),
        "ending_in_5_days": ending_in(timedelta(days=5)),
        "expired": ending_in(timedelta(days=-3), status=Subscription.Status.EXPIRED),
        "disabled": ending_in(timedelta(days=20), status=Subscription.Status.DISABLED),
        "newcomer": UserFactory(),
        "trial_only": ending_in(timedelta(days=2)),
        "blocked": ending_in(timedelta(days=20), bot_blocked_at=timezone.now()),
        "deactivated": ending_in(timedelta(days=20), is_active=False),
    }
    for name in ("active", "ending_tomorrow", "ending_in_5_days", "expired", "disabled", "blocked", "deactivated"):
        paid(people[name])
    paid(people["trial_only"], amount=0, method=Payment.Method.FREE)  # a free trial is not paying
    StaffUserFactory()  # no Telegram id: never a recipient
    return people


def names(shop, users) -> set[str]:
    ids = set(users.values_list("pk", flat=True))
    return {name for name, user in shop.items() if user.pk in ids}


def test_all_buyers_is_everyone_the_bot_can_write_to(shop):
    assert names(shop, segment_recipients(segment=S.ALL)) == {
        "active",
        "ending_tomorrow",
        "ending_in_5_days",
        "expired",
        "disabled",
        "newcomer",
        "trial_only",
    }


def test_active_subscribers_have_a_subscription_that_has_not_ended(shop):
    assert names(shop, segment_recipients(segment=S.ACTIVE)) == {
        "active",
        "ending_tomorrow",
        "ending_in_5_days",
        "trial_only",
    }


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (1, {"ending_tomorrow"}),
        (3, {"ending_tomorrow", "trial_only"}),
        (7, {"ending_tomorrow", "trial_only", "ending_in_5_days"}),
    ],
)
def test_expiring_within_n_days_is_active_and_ending_by_then(shop, days, expected):
    assert names(shop, segment_recipients(segment=S.EXPIRING, expiring_days=days)) == expected


def test_expiring_needs_a_number_of_days(shop):
    with pytest.raises(ValueError, match="number of days"):
        segment_recipients(segment=S.EXPIRING)


def test_expired_had_a_subscription_that_ended(shop):
    assert names(shop, segment_recipients(segment=S.EXPIRED)) == {"expired"}


def test_never_paid_counts_neither_trials_nor_free_promos_as_paying(shop):
    assert names(shop, segment_recipients(segment=S.NEVER_PAID)) == {"newcomer", "trial_only"}


def test_a_refunded_payment_still_counts_as_having_paid():
    buyer = UserFactory()
    paid(buyer, status=Payment.Status.REFUNDED)
    PaymentFactory(user=UserFactory(), status=Payment.Status.PENDING)  # an unpaid invoice is not paying

    never_paid = segment_recipients(segment=S.NEVER_PAID)

    assert buyer not in never_paid and never_paid.count() == 1


def test_a_language_narrows_any_segment_by_the_bots_language_rule():
    chose_en = UserFactory(bot_language="en", language_code="ru")
    chose_ru = UserFactory(bot_language="ru", language_code="en-US")
    telegram_en = UserFactory(language_code="en-GB")
    telegram_de = UserFactory(language_code="de")  # neither: the bot speaks Russian to them

    english = set(segment_recipients(segment=S.ALL, language="en"))
    russian = set(segment_recipients(segment=S.ALL, language="ru"))

    assert english == {chose_en, telegram_en}
    assert russian == {chose_ru, telegram_de}


@pytest.mark.parametrize(
    ("bot_language", "language_code"),
    [("", ""), ("", "en"), ("", "EN-us"), ("", "ru"), ("", "uk"), ("en", "ru"), ("ru", "en"), ("en", "")],
)
def test_language_filter_agrees_with_the_users_language(bot_language, language_code):
    user = UserFactory(bot_language=bot_language, language_code=language_code)

    assert User.objects.filter(language_q(user.language), pk=user.pk).exists()
    assert user.language == language_of(bot_language=bot_language, language_code=language_code)


def test_recipient_count_of_a_draft_follows_its_segment(shop):
    draft = BroadcastFactory(segment=S.EXPIRING, expiring_days=3)

    assert recipient_count(draft) == 2
