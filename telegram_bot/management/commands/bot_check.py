from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.telegram import TelegramError, client, telegram_configured


class Command(BaseCommand):
    help = (
        "Ask Telegram who the bot is (getMe) and, with REQUIRED_CHANNEL set, whether it can check who "
        "joined the channel (it must be an administrator there: getChatMember on the bot itself). "
        "Changes nothing; exits with 1 when something needs fixing."
    )

    def handle(self, *args, **options):
        if not telegram_configured():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: there is no bot to check.")
        write = self.stdout.write
        telegram = client()
        try:
            me = telegram.get_me()
        except TelegramError as exc:
            raise CommandError(f"Telegram did not answer getMe: {exc}") from exc
        write(f"Bot:      @{me.username} ({me.first_name}, id {me.id})")
        channel = settings.REQUIRED_CHANNEL
        if not channel:
            write("Channel gate: off (REQUIRED_CHANNEL is empty).")
            return
        target = channel if channel.startswith("@") else int(channel)
        write(
            f"Channel gate: {channel}, before {'anything' if settings.REQUIRED_CHANNEL_SCOPE == 'all' else 'the trial'}"
        )
        try:
            chat = telegram.get_chat(chat_id=target)
            membership = telegram.get_chat_member(chat_id=target, user_id=me.id)
        except TelegramError as exc:
            raise CommandError(
                f"Telegram refuses to show the channel to the bot ({exc}): check the name, and add the bot "
                "to the channel as an administrator. Until then the gate stays open."
            ) from exc
        write(f"Channel:  {chat.title} ({chat.type}, id {chat.id})")
        if membership.status not in ("administrator", "creator"):
            raise CommandError(
                f"The bot is {membership.status!r} in the channel, not an administrator: it cannot see who "
                "joined, so the gate stays open. Make the bot an administrator of the channel."
            )
        write(self.style.SUCCESS("The bot is an administrator of the channel: it can check who joined."))
