"""The referral program in the bot: the personal link and stats, /start ref_<code>,
and the referrer's bonus for the invited buyer's payment (taken back on refund)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from referrals.models import Referral, ReferralBonus
from referrals.services import referral_code_for
from subscriptions.models import Subscription
from tests.telegram_bot.support import buttons_of, message_text
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

REFERRER = {"id": 700_801, "is_bot": False, "first_name": "Ann", "language_code": "en"}
FRIEND = {"id": 700_802, "is_bot": False, "first_name": "Пётр", "language_code": "ru"}


@pytest.fixture(autouse=True)
def bonus_of_seven(settings):
    settings.REFERRAL_BONUS_DAYS = 7


@pytest.fixture
def referrer_code(db):
    user = UserFactory(telegram_id=REFERRER["id"], language_code="en", date_joined=timezone.now() - timedelta(days=9))
    return referral_code_for(user=user)


def test_the_invite_screen_has_the_personal_link_a_share_button_and_stats(bot, referrer_code):
    [screen] = bot("inject_callback", REFERRER, "ref")

    link = f"https://t.me/fake_stars_shop_bot?start=ref_{referrer_code}"
    assert f"<code>{link}</code>" in screen["text"]
    assert "you get +7 days of VPN" in message_text(screen)
    assert "Invited: 0\nMade a purchase: 0\nBonus earned: 0 days" in message_text(screen)
    share = buttons_of(screen)[0]
    assert share["text"] == "📤 Share the link"
    assert parse_qs(urlsplit(share["url"]).query)["url"] == [link]


def test_a_friend_following_the_link_is_welcomed_and_attached(bot, referrer_code):
    [welcome] = bot("inject_command", FRIEND, "start", f"ref_{referrer_code}")

    assert "Вы пришли по приглашению друга" in message_text(welcome)
    assert Referral.objects.get().invited.telegram_id == FRIEND["id"]


def test_your_own_link_attaches_nothing(bot, referrer_code):
    [welcome] = bot("inject_command", REFERRER, "start", f"ref_{referrer_code}")

    assert "This is your own invitation link" in message_text(welcome)
    assert not Referral.objects.exists()


def test_the_friends_payment_earns_the_referrer_days_and_a_note_and_a_refund_takes_them_back(
    bot, fake_telegram, referrer_code, tariff_1m
):
    # given a friend who came through the link and buys a month
    bot("inject_command", FRIEND, "start", f"ref_{referrer_code}")
    bot("inject_callback", FRIEND, "pay:1m")
    payload = fake_telegram.invoices(FRIEND["id"])[-1]["payload"]
    bot("inject_pre_checkout", FRIEND, payload, 100)

    # when the payment succeeds
    bot("inject_successful_payment", FRIEND, payload, 100, charge_id="friend-1")

    # then the referrer has 7 days and was told so (a notification from the worker)
    referrer_sub = Subscription.objects.get(user__telegram_id=REFERRER["id"])
    assert abs(referrer_sub.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    [note] = fake_telegram.sent_messages(REFERRER["id"])
    assert "🎁 +7 days for your friend's purchase!" in message_text(note)
    [stats] = bot("inject_callback", REFERRER, "ref")
    assert "Invited: 1\nMade a purchase: 1\nBonus earned: 7 days" in message_text(stats)

    # when Telegram reports the friend's refund, then the bonus is taken back
    bot("inject_refunded_payment", FRIEND, payload, 100, "friend-1")
    assert ReferralBonus.objects.get().revoked_at is not None
    assert not Subscription.objects.get(user__telegram_id=REFERRER["id"]).is_active
