"""`manage.py bot_check`: the bot's identity, and whether it can check the required channel."""

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

CHANNEL_ID = -1001234567890


def bot_check() -> str:
    out = io.StringIO()
    call_command("bot_check", stdout=out)
    return out.getvalue()


def test_it_prints_the_bots_identity(fake_telegram, settings):
    settings.REQUIRED_CHANNEL = ""

    out = bot_check()

    assert "@fake_stars_shop_bot (Fake Stars Shop, id 123456)" in out
    assert "Channel gate: off" in out


@pytest.mark.parametrize("channel", ["@shopnews", str(CHANNEL_ID)])
def test_an_administrator_bot_can_check_the_channel(fake_telegram, settings, channel):
    settings.REQUIRED_CHANNEL = channel
    fake_telegram.add_chat(CHANNEL_ID, username="shopnews", title="Shop news")

    out = bot_check()

    assert "Channel:  Shop news (channel, id -1001234567890)" in out
    assert "it can check who joined" in out


def test_a_bot_that_is_not_an_administrator_is_named_as_the_problem(fake_telegram, settings):
    settings.REQUIRED_CHANNEL = "@shopnews"
    fake_telegram.add_chat(CHANNEL_ID, username="shopnews", bot_status="member")

    with pytest.raises(CommandError, match="not an administrator"):
        bot_check()


def test_an_unknown_channel_is_named_as_the_problem(fake_telegram, settings):
    settings.REQUIRED_CHANNEL = "@nowhere"

    with pytest.raises(CommandError, match="(?i)chat not found"):
        bot_check()
