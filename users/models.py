from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import ServiceOwnedFieldsMixin

LANGUAGES = [("ru", "Русский"), ("en", "English")]
LANGUAGE_CODES = frozenset(code for code, _name in LANGUAGES)


class User(ServiceOwnedFieldsMixin, AbstractUser):
    """A shop user: a Telegram buyer, an admin (is_staff), or both.

    `stars_balance` caches the sum of the user's ledger balance rows; it only
    changes inside the ledger service, with F() and a non-negative check, and
    `manage.py verify_balances` proves it equals the ledger. `save()` never
    writes it (ServiceOwnedFieldsMixin), so a stale copy cannot undo a booking.
    """

    service_owned_fields = ("stars_balance",)

    telegram_id = models.BigIntegerField(unique=True, null=True, blank=True, verbose_name=_("Telegram id"))
    telegram_username = models.CharField(max_length=64, blank=True, db_index=True, verbose_name=_("Telegram username"))
    language_code = models.CharField(
        max_length=16, blank=True, help_text=_("As Telegram reports it."), verbose_name=_("Telegram language")
    )
    # The language the buyer chose in the bot (🌐); it wins over Telegram's language_code.
    bot_language = models.CharField(
        max_length=2, choices=LANGUAGES, blank=True, verbose_name=_("language chosen in the bot")
    )
    stars_balance = models.BigIntegerField(default=0, editable=False, verbose_name=_("balance (Stars)"))
    # When Telegram last refused a message because this user blocked the bot or deleted the account
    # (403 Forbidden). Broadcasts and reminders skip the user while it is set; any update from the
    # user (they came back) clears it.
    bot_blocked_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name=_("blocked the bot at"),
        help_text=_("Set when Telegram answered that the user blocked the bot."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [("adjust_balance", "Can adjust a user's Stars balance (admin)")]
        constraints = [
            models.CheckConstraint(condition=Q(stars_balance__gte=0), name="user_balance_non_negative"),
        ]

    def __str__(self) -> str:
        if self.telegram_id:
            handle = f"@{self.telegram_username}" if self.telegram_username else self.first_name
            return f"{handle or 'tg'} ({self.telegram_id})"
        return self.username

    @property
    def language(self) -> str:
        """The bot's language for this user: the one they chose, else English
        when Telegram says so, else Russian."""
        return language_of(bot_language=self.bot_language, language_code=self.language_code)


def language_of(*, bot_language: str = "", language_code: str | None = "") -> str:
    """The one rule for a buyer's language (also for callers holding only these two values)."""
    if bot_language in LANGUAGE_CODES:
        return bot_language
    return "en" if (language_code or "").lower().startswith("en") else "ru"


class Buyer(User):
    """The shop's customers: users who are not staff. The same rows as User, with an
    admin list of their own (subscription, balance, payments) apart from staff accounts."""

    class Meta:
        proxy = True
        verbose_name = _("buyer")
        verbose_name_plural = _("buyers")
