"""/stats and /find in the bot: for staff whose account carries their Telegram id and the
permission the admin asks for the same pages; anyone else gets the unknown-command answer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.telegram_bot.support import message_text, said
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = {"id": 700_901, "is_bot": False, "first_name": "Ольга", "language_code": "ru"}
HELP = "Помощь"


def permissions(*names: str) -> list[Permission]:
    """The permissions by name, made if missing: a transactional test before this one may have
    left the database flushed without them (the content-type cache is cleared for the same reason)."""
    ContentType.objects.clear_cache()
    found = []
    for name in names:
        app_label, codename = name.split(".")
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=codename.split("_", 1)[1])
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": codename}
        )
        found.append(permission)
    return found


def staff(*perms: str, **fields):
    user = StaffUserFactory(telegram_id=OWNER["id"], **fields)
    user.user_permissions.set(permissions(*perms))
    return user


@pytest.fixture(autouse=True)
def links(settings):
    settings.SHOP_BASE_URL = "https://shop.example.com"


@pytest.mark.parametrize("command", ["stats", "find"])
def test_a_buyer_gets_the_unknown_command_answer(bot, command):
    assert HELP in said(bot("inject_command", OWNER, command, "123"))


@pytest.mark.parametrize("command", ["stats", "find"])
def test_staff_without_the_permission_get_the_unknown_command_answer(bot, command):
    staff("users.view_user")  # may see buyers, not payments

    assert HELP in said(bot("inject_command", OWNER, command, "123"))


def test_a_deactivated_staff_account_gets_no_stats(bot):
    staff("payments.view_payment", is_active=False)

    assert "Сегодня" not in said(bot("inject_command", OWNER, "stats"))


def test_stats_shows_the_dashboards_cards_for_today_and_7_days(bot, tariff_1m):
    staff("payments.view_payment")
    pay(PaymentFactory(tariff=tariff_1m))

    [message] = bot("inject_command", OWNER, "stats")

    text = message_text(message)
    assert text.startswith("📊 Сегодня · за 7 дней")
    assert "Чистая выручка: 100 звёзд · 100 звёзд (+100)" in text
    assert "Платящие покупатели: 1 покупатель · 1 покупатель (+1)" in text
    assert "Платежей на проверке: 0" in text


def test_a_superuser_may_use_them_without_named_permissions(bot):
    StaffUserFactory(telegram_id=OWNER["id"], is_superuser=True)

    assert "Сегодня" in said(bot("inject_command", OWNER, "stats"))


def test_find_shows_the_buyers_subscription_payments_balance_and_admin_link(bot, tariff_1m):
    staff("payments.view_payment", "users.view_user")
    buyer = UserFactory(telegram_username="alice", first_name="Alice")
    pay(PaymentFactory(user=buyer, tariff=tariff_1m))

    for term in (str(buyer.telegram_id), "@alice"):
        [message] = bot("inject_command", OWNER, "find", term)

        text = message_text(message)
        assert text.startswith(f"👤 @alice ({buyer.telegram_id}) — Alice")
        assert "Подписка: активна до" in text
        assert "Баланс: 0 ⭐" in text
        assert "Платежи (всего 1), последние:" in text and "1 month, 100 ⭐" in text
        assert f'href="https://shop.example.com/admin/users/user/{buyer.pk}/change/"' in message["text"]


def test_find_needs_the_permission_to_see_buyers_too(bot):
    staff("payments.view_payment")

    assert HELP in said(bot("inject_command", OWNER, "find", "@alice"))


def test_find_says_when_no_one_matches_or_nothing_was_given(bot):
    staff("payments.view_payment", "users.view_user")

    assert "Никого не нашёл по «@nobody»" in said(bot("inject_command", OWNER, "find", "@nobody"))
    assert "Напишите /find и Telegram id" in said(bot("inject_command", OWNER, "find"))
