"""The channel gate: people join the shop's channel (REQUIRED_CHANNEL) before the free trial, or
before anything (REQUIRED_CHANNEL_SCOPE=all).

Membership is asked with getChatMember (creator, administrator, member, and restricted with
is_member count as joined; left and kicked do not) and cached briefly in the Django cache: a member
for 10 minutes, anyone else for 30 seconds (they are about to join), so a busy bot asks Telegram
about each person at most that often; "✅ I've joined" asks again at once.

The gate fails open. When the bot cannot check (it is not an administrator of the channel, the
channel name is wrong, Telegram does not answer) the person goes through and the owner gets a log
line: the gate is a growth tool, and a mistake in the shop's own setup must never lock its buyers
out of what they came for. Paying is never gated (the payment screens are open, and so is every
screen of someone who has an active subscription or has paid before, whatever the scope).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from telegram.error import BadRequest, Forbidden, TelegramError

from integrations.telegram import membership_of
from telegram_bot import screens

logger = logging.getLogger(__name__)

MEMBER_SECONDS = 600
OTHER_SECONDS = 30
# Fail-open answers are remembered too, so a misconfigured shop does not ask Telegram per update.
UNCHECKABLE_SECONDS = 30
# The owner's log line about a gate that cannot check, at most this often per process and channel.
REPORT_SECONDS = 600
INVITE_LINK_SECONDS = 24 * 3600

JOINED, NOT_JOINED, OPEN = "1", "0", "open"

# What the gate never stands before, whatever the scope: booking money Telegram moved, the legal
# and help texts, the language, and the gate's own re-check.
ALWAYS_OPEN: frozenset[Callable] = frozenset(
    {
        screens.payment_received,
        screens.payment_refunded,
        screens.paysupport,
        screens.terms,
        screens.privacy,
        screens.help_screen,
        screens.language_choice,
        screens.language_set,
        screens.channel_checked,
    }
)


def channel() -> int | str:
    """REQUIRED_CHANNEL as getChatMember takes it: "@name", or the numeric id."""
    value = settings.REQUIRED_CHANNEL
    return value if value.startswith("@") else int(value)


def stands_before(screen: Callable) -> bool:
    """Whether the gate applies to this screen (the settings alone; who the person is comes later)."""
    if not settings.REQUIRED_CHANNEL or screen in ALWAYS_OPEN:
        return False
    return settings.REQUIRED_CHANNEL_SCOPE == "all" or screen is screens.trial


def _key(telegram_id: int) -> str:
    return f"channel_gate:{settings.REQUIRED_CHANNEL}:{telegram_id}"


async def _report_uncheckable(reason: str) -> None:
    if await cache.aadd(f"channel_gate:reported:{settings.REQUIRED_CHANNEL}", 1, REPORT_SECONDS):
        logger.error(
            "channel gate: the bot cannot check who joined %s (%s); the gate is OPEN until it can. "
            "Make the bot an administrator of the channel and run `manage.py bot_check`.",
            settings.REQUIRED_CHANNEL,
            reason,
        )


async def channel_joined(bot, telegram_id: int, *, fresh: bool = False) -> bool:
    """True when the person is in the channel, or when the bot cannot tell (the gate fails open)."""
    key = _key(telegram_id)
    if not fresh:
        cached = await cache.aget(key)
        if cached is not None:
            return cached != NOT_JOINED
    try:
        member = await bot.get_chat_member(chat_id=channel(), user_id=telegram_id)
    except (BadRequest, Forbidden) as exc:
        # "member list is inaccessible" (not an administrator), "chat not found" (a wrong name, or
        # a private channel without the bot): the shop's setup, never the buyer's fault.
        await _report_uncheckable(str(exc))
        await cache.aset(key, OPEN, UNCHECKABLE_SECONDS)
        return True
    except TelegramError as exc:  # timeouts, 5xx, flood waits: let them through, ask again soon
        logger.warning("channel gate: getChatMember for %s failed (%s); letting them through", telegram_id, exc)
        await cache.aset(key, OPEN, UNCHECKABLE_SECONDS)
        return True
    joined = membership_of(member).is_member
    await cache.aset(key, JOINED if joined else NOT_JOINED, MEMBER_SECONDS if joined else OTHER_SECONDS)
    return joined


async def join_url(bot) -> str:
    """The join button's link: REQUIRED_CHANNEL_LINK, t.me/<name> for a public channel, else the
    invite link Telegram gives an administrator bot (cached a day); "" when there is none."""
    if settings.REQUIRED_CHANNEL_LINK:
        return settings.REQUIRED_CHANNEL_LINK
    target = channel()
    if isinstance(target, str):
        return f"https://t.me/{target[1:]}"
    key = f"channel_gate:invite_link:{target}"
    link = await cache.aget(key)
    if link is None:
        try:
            link = (await bot.get_chat(chat_id=target)).invite_link or ""
        except TelegramError as exc:
            logger.warning("channel gate: no invite link for %s (%s); set REQUIRED_CHANNEL_LINK", target, exc)
            link = ""
        await cache.aset(key, link, INVITE_LINK_SECONDS if link else UNCHECKABLE_SECONDS)
    return link
