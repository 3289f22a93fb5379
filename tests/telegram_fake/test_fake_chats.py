"""The fake's getChat / getChatMember / getChatAdministrators read by python-telegram-bot itself
(its ChatMember classes require the fields the Bot API documents for each status)."""

import asyncio

import pytest
import telegram

from tests.fakes.telegram_server import FakeTelegramServer

CHANNEL_ID = -1001234567890


@pytest.fixture
def fake():
    with FakeTelegramServer() as server:
        server.add_chat(CHANNEL_ID, username="shopnews", invite_link="https://t.me/+abc")
        yield server


def ask(fake, method: str, **kwargs):
    async def run():
        async with telegram.Bot(fake.token, base_url=fake.ptb_base_url) as bot:
            return await getattr(bot, method)(**kwargs)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("status", "is_member", "expected"),
    [
        ("creator", True, telegram.ChatMemberOwner),
        ("administrator", True, telegram.ChatMemberAdministrator),
        ("member", True, telegram.ChatMemberMember),
        ("restricted", True, telegram.ChatMemberRestricted),
        ("left", False, telegram.ChatMemberLeft),
        ("kicked", False, telegram.ChatMemberBanned),
    ],
)
def test_every_status_parses_as_its_chat_member_class(fake, status, is_member, expected):
    fake.set_member("@shopnews", 42, status, is_member=is_member)

    member = ask(fake, "get_chat_member", chat_id="@shopnews", user_id=42)

    assert type(member) is expected and member.user.id == 42


def test_anyone_not_set_has_left(fake):
    assert ask(fake, "get_chat_member", chat_id=CHANNEL_ID, user_id=7).status == "left"


def test_a_bot_that_is_not_an_administrator_cannot_see_members_but_sees_itself(fake):
    fake.set_bot_status(CHANNEL_ID, "member")

    with pytest.raises(telegram.error.BadRequest, match="(?i)member list is inaccessible"):
        ask(fake, "get_chat_member", chat_id=CHANNEL_ID, user_id=7)
    assert ask(fake, "get_chat_member", chat_id=CHANNEL_ID, user_id=fake.bot_id).status == "member"


def test_an_unknown_chat_is_not_found(fake):
    with pytest.raises(telegram.error.BadRequest, match="(?i)chat not found"):
        ask(fake, "get_chat", chat_id="@nowhere")


def test_get_chat_gives_the_invite_link_to_an_administrator_only(fake):
    assert ask(fake, "get_chat", chat_id="@shopnews").invite_link == "https://t.me/+abc"
    fake.set_bot_status("@shopnews", "member")
    assert ask(fake, "get_chat", chat_id="@shopnews").invite_link is None


def test_administrators_include_the_bot(fake):
    fake.set_member(CHANNEL_ID, 1, "creator")

    admins = ask(fake, "get_chat_administrators", chat_id=CHANNEL_ID)

    assert [a.user.id for a in admins] == [1, fake.bot_id]
