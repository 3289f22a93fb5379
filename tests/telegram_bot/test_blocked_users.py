"""A user marked as having blocked the bot (a 403 from Telegram) is reachable again as soon as they
write to the bot: any update from them clears the mark."""

import pytest
from django.utils import timezone

from tests.users.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_any_update_from_a_user_marked_blocked_clears_the_mark(bot):
    user = UserFactory(telegram_id=700_950, bot_blocked_at=timezone.now())
    sender = {"id": user.telegram_id, "is_bot": False, "first_name": "Back", "language_code": "en"}

    shown = bot("inject_command", sender, "start")

    assert shown  # the bot answered
    assert User.objects.get(pk=user.pk).bot_blocked_at is None


def test_a_button_press_clears_it_too(bot):
    user = UserFactory(telegram_id=700_951)
    sender = {"id": user.telegram_id, "is_bot": False, "first_name": "Back", "language_code": "en"}
    [menu] = bot("inject_command", sender, "start")
    User.objects.filter(pk=user.pk).update(bot_blocked_at=timezone.now())

    bot("inject_callback", sender, "help", message_id=menu["message_id"])

    assert User.objects.get(pk=user.pk).bot_blocked_at is None
