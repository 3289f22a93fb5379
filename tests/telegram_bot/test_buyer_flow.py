"""The buyer's screens, driven through the webhook view (the same handlers as runbot):
each POST returns after the handlers ran, so the test reads what the bot showed
(the messages it sent, and the one a button press edited in place)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import LedgerEntry, Payment, PendingRefund
from subscriptions.models import Subscription
from telegram_bot.models import TelegramUpdate
from tests.promos.factories import PromoCodeFactory
from tests.subscriptions.factories import SubscriptionFactory
from tests.telegram_bot.support import callbacks_of, message_text, said
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EN = {"id": 700_301, "is_bot": False, "first_name": "Dan", "language_code": "en"}
RU = {"id": 700_302, "is_bot": False, "first_name": "Иван", "language_code": "ru"}


# --- Language ------------------------------------------------------------------------


def test_start_speaks_english_to_an_english_user(bot):
    assert "Choose an action" in said(bot("inject_command", EN, "start"))


def test_start_speaks_russian_by_default(bot):
    assert "Выберите действие" in said(bot("inject_command", RU, "start"))


def test_unknown_language_gets_russian(bot):
    user = dict(EN, id=700_303, language_code="de")
    assert "Выберите действие" in said(bot("inject_command", user, "start"))


def test_main_menu_has_the_actions_and_no_trial_while_it_is_off(bot):
    [message] = bot("inject_command", EN, "start")
    assert callbacks_of(message) == ["buy", "sub", "bal", "promo", "ref", "lang", "help"]


# --- Promo codes --------------------------------------------------------------------


def test_deep_link_applies_the_promo(bot, tariffs):
    PromoCodeFactory(code="PROMO10", discount_percent=10)

    welcome = said(bot("inject_command", EN, "start", "promo_PROMO10"))

    assert "Promo code PROMO10 applied: −10 % off." in welcome  # it says what it gives
    assert "1 month — 100 ⭐ 90 ⭐" in said(bot("inject_callback", EN, "buy"))  # the old price struck through


def test_deep_link_with_an_unknown_promo_says_why(bot, tariffs):
    assert "This promo code does not exist." in said(bot("inject_command", EN, "start", "promo_NOPE"))


def test_refused_promo_gives_the_service_reason_and_keeps_asking(bot, tariffs):
    PromoCodeFactory(code="OLD10", discount_percent=10, is_active=False)
    PromoCodeFactory(code="OLD20", discount_percent=20)
    bot("inject_callback", EN, "pr:1m")

    reply = said(bot("inject_message", EN, "OLD10"))

    assert "This promo code is no longer active." in reply
    assert "Promo code OLD20 applied: −20 % off." in said(bot("inject_message", EN, "OLD20"))


def test_promo_for_a_tariff_it_does_not_cover_is_refused(bot, tariffs):
    PromoCodeFactory(code="ONLY3M", discount_percent=20, for_tariffs=[tariffs["3m"]])
    bot("inject_callback", EN, "pr:1m")

    assert "This promo code does not apply to this tariff." in said(bot("inject_message", EN, "ONLY3M"))


def test_promo_from_the_main_menu_shows_discounted_tariffs(bot, tariffs):
    PromoCodeFactory(code="BONUS", discount_percent=0, bonus_days=7)
    bot("inject_callback", EN, "promo")

    reply = said(bot("inject_message", EN, "bonus"))

    assert "Promo code BONUS applied: +7 bonus days." in reply
    assert "1 month — 100 ⭐ · +7 bonus days" in reply


def test_cancel_stops_waiting_for_a_promo(bot, tariffs):
    bot("inject_callback", EN, "promo")
    bot("inject_callback", EN, "cancel")

    assert "/paysupport" in said(bot("inject_message", EN, "PROMO10"))  # plain text again: the help


def test_summary_shows_price_discount_and_bonus_days(bot, tariffs):
    PromoCodeFactory(code="BIG", discount_percent=20, bonus_days=5)
    bot("inject_command", EN, "start", "promo_BIG")

    reply = said(bot("inject_callback", EN, "t:3m"))

    assert "Price: 250 ⭐\nDiscount: 50 ⭐\nBonus days: 5\nTotal: 200 ⭐ for 95 days" in reply


def test_a_100_percent_promo_completes_without_an_invoice(bot, fake_telegram, tariffs):
    PromoCodeFactory(code="FREE", discount_percent=100)
    bot("inject_command", EN, "start", "promo_FREE")

    reply = said(bot("inject_callback", EN, "pay:1m"))

    assert "Payment received" in reply
    assert fake_telegram.invoices(EN["id"]) == []
    assert Subscription.objects.get(user__telegram_id=EN["id"]).is_active


# --- Tariffs, subscription, balance ---------------------------------------------------


def test_tariff_list_shows_price_per_month_price_and_savings(bot, tariffs):
    [message] = bot("inject_callback", EN, "buy")

    assert "3 months — 250 ⭐ · 83 ⭐ per month · −17 %" in message_text(message)
    assert "1 month — 100 ⭐\n" in message_text(message)  # the reference saves nothing
    labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[:2] == ["1 month — 100 ⭐", "3 months — 250 ⭐ · −17 %"]


def test_disabled_tariff_cannot_be_bought(bot, tariffs):
    tariffs["1m"].is_active = False
    tariffs["1m"].save()

    assert "This tariff is not on sale." in said(bot("inject_callback", EN, "pay:1m"))


def test_my_subscription_shows_status_expiry_days_left_the_connect_screen_and_renew(bot, settings):
    settings.PROVISIONING_BACKEND = "remnawave"
    user = UserFactory(telegram_id=EN["id"], language_code="en")
    SubscriptionFactory(
        user=user,
        status=Subscription.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=10, hours=1),
        subscription_url="https://panel.example/sub/abc",
    )

    [message] = bot("inject_callback", EN, "sub")

    assert "Status: ✅ active" in message_text(message)
    assert "(10 days left)" in message_text(message)
    assert "<code>https://panel.example/sub/abc</code>" in message["text"]
    assert message["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "🔗 Connect",
        "url": "https://panel.example/sub/abc",
    }
    assert "buy" in callbacks_of(message)


def test_my_subscription_without_one_offers_buy_not_renew(bot):
    [message] = bot("inject_callback", EN, "sub")

    assert "You have no subscription yet." in message_text(message)
    assert [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row] == ["🛒 Buy", "« Back"]


def test_balance_offers_the_configured_top_ups(bot, settings):
    settings.BALANCE_TOPUP_AMOUNTS = [50, 500]

    [message] = bot("inject_callback", EN, "bal")

    assert "Your balance: 0 ⭐" in message_text(message)
    assert callbacks_of(message)[:2] == ["top:50", "top:500"]


def test_top_up_sends_an_xtr_invoice_and_its_payment_fills_the_balance(bot, fake_telegram):
    bot("inject_callback", EN, "top:250")
    [invoice] = fake_telegram.invoices(EN["id"])
    assert (invoice["currency"], invoice["amount"]) == ("XTR", 250)

    reply = said(bot("inject_successful_payment", EN, invoice["payload"], 250, charge_id="topup-1"))

    assert "Your balance has been topped up by 250 ⭐. Balance: 250 ⭐." in reply


def test_pay_from_balance(bot, fake_telegram, tariffs):
    UserFactory(telegram_id=EN["id"], language_code="en")
    bot("inject_callback", EN, "top:100")
    payload = Payment.objects.get(kind=Payment.Kind.TOPUP).invoice_payload
    bot("inject_successful_payment", EN, payload, 100, charge_id="topup-2")

    bot("inject_command", EN, "buy")
    [summary] = bot("inject_callback", EN, "t:1m")
    assert "bpay:1m" in callbacks_of(summary)
    [confirmation] = bot("inject_callback", EN, "bpay:1m", message_id=summary["message_id"])

    assert "Payment received" in message_text(confirmation)
    assert confirmation["message_id"] != summary["message_id"]  # a confirmation is a new message
    assert "reply_markup" not in fake_telegram.message(EN["id"], summary["message_id"])  # its Pay buttons are spent
    assert Payment.objects.get(method=Payment.Method.BALANCE).status == Payment.Status.SUCCEEDED


def test_pay_from_balance_without_enough_stars_says_so(bot, tariffs):
    assert "Not enough Stars on your balance." in said(bot("inject_callback", EN, "bpay:1m"))


# --- Help and legal -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("help", "/paysupport"),
        ("paysupport", "Payment problems?"),
        ("terms", "Terms of service"),
        ("privacy", "Privacy policy"),
        ("whatever", "/paysupport"),
    ],
)
def test_commands_answer(bot, command, expected, settings):
    settings.SUPPORT_CONTACT = "@shop_help"
    reply = said(bot("inject_command", EN, command))
    assert expected in reply
    if command != "terms":
        assert "@shop_help" in reply


def test_texts_come_from_settings_when_set(bot, settings):
    settings.TERMS_TEXT = "Our own terms <with brackets> & more."
    assert said(bot("inject_command", EN, "terms")) == "Our own terms <with brackets> & more."


def test_unknown_text_gets_the_help(bot):
    assert "/paysupport" in said(bot("inject_message", EN, "hello?"))


# --- Flood limit ----------------------------------------------------------------------


def test_a_flooding_user_is_told_once_and_then_ignored(bot, settings):
    settings.BOT_RATE_LIMIT_UPDATES = 3
    settings.BOT_RATE_LIMIT_SECONDS = 3600

    replies = [said(bot("inject_message", EN, f"hi {i}")) for i in range(6)]

    assert [("/paysupport" in r) for r in replies[:3]] == [True, True, True]
    assert replies[3] == "Too many messages. Please slow down and try again in a few seconds."
    assert replies[4:] == ["", ""]
    assert "/paysupport" in said(bot("inject_message", RU, "привет"))  # other users are not affected


def test_payments_are_never_rate_limited(bot, fake_telegram, settings, tariffs):
    settings.BOT_RATE_LIMIT_UPDATES = 1
    settings.BOT_RATE_LIMIT_SECONDS = 3600
    bot("inject_callback", EN, "pay:1m")
    payload = fake_telegram.invoices(EN["id"])[0]["payload"]

    bot("inject_pre_checkout", EN, payload, 100)
    assert fake_telegram.precheckout_answers  # answered although the user is over the limit

    assert "Payment received" in said(bot("inject_successful_payment", EN, payload, 100, charge_id="rl-1"))


# --- Refunds ----------------------------------------------------------------------------


def test_refunded_payment_books_the_refund_once(bot, fake_telegram, tariffs):
    bot("inject_callback", EN, "pay:1m")
    payload = fake_telegram.invoices(EN["id"])[0]["payload"]
    bot("inject_successful_payment", EN, payload, 100, charge_id="refund-1")

    first = said(bot("inject_refunded_payment", EN, payload, 100, "refund-1"))
    second = said(bot("inject_refunded_payment", EN, payload, 100, "refund-1"))

    assert "A refund of 100 ⭐ has been processed." in first
    assert second == ""
    payment = Payment.objects.get(invoice_payload=payload)
    assert payment.status == Payment.Status.REFUNDED
    assert list(LedgerEntry.objects.filter(payment=payment).order_by("pk").values_list("amount", flat=True)) == [
        100,
        -100,
    ]


def test_refund_of_a_charge_not_recorded_yet_is_kept_and_the_update_done(bot):
    assert "A refund of 10 ⭐ has been processed." in said(
        bot("inject_refunded_payment", EN, "unknown", 10, "nobody-knows")
    )
    assert TelegramUpdate.objects.get(kind="refunded_payment").status == TelegramUpdate.Status.DONE
    assert PendingRefund.objects.get(charge_id="nobody-knows").applied_at is None


def test_payment_handled_after_its_refund_grants_nothing(bot, fake_telegram, tariffs):
    # given an invoice whose refunded_payment is handled before its successful_payment (waiting for a retry)
    bot("inject_callback", EN, "pay:1m")
    payload = fake_telegram.invoices(EN["id"])[0]["payload"]
    bot("inject_refunded_payment", EN, payload, 100, "early-1")

    # when the successful_payment is handled
    reply = said(bot("inject_successful_payment", EN, payload, 100, charge_id="early-1"))

    # then nothing is granted and the buyer is not told it was
    assert "Payment received" not in reply
    payment = Payment.objects.get(invoice_payload=payload)
    assert payment.status == Payment.Status.REFUNDED
    assert not Subscription.objects.filter(user=payment.user).exists()


def test_refund_of_a_spent_topup_is_booked_flagged_and_done(bot, fake_telegram, tariffs):
    # given a buyer who topped up 100 Stars and spent them on a tariff
    bot("inject_callback", EN, "top:100")
    payload = fake_telegram.invoices(EN["id"])[0]["payload"]
    bot("inject_successful_payment", EN, payload, 100, charge_id="spent-1")
    bot("inject_callback", EN, "bpay:1m")
    assert Payment.objects.filter(method=Payment.Method.BALANCE, status=Payment.Status.SUCCEEDED).exists()

    # when Telegram refunds the top-up
    bot("inject_refunded_payment", EN, payload, 100, "spent-1")

    # then the refund is booked, the debt recorded and flagged, and the update is done
    topup = Payment.objects.get(invoice_payload=payload)
    assert topup.status == Payment.Status.REFUNDED
    assert (topup.refund_shortfall, topup.review_open) == (100, True)
    assert LedgerEntry.objects.filter(payment=topup, kind=LedgerEntry.Kind.REFUND).count() == 1
    update = TelegramUpdate.objects.filter(kind="refunded_payment").get()
    assert update.status == TelegramUpdate.Status.DONE


def test_names_and_texts_with_html_characters_are_escaped(bot):
    user = dict(EN, id=700_304, first_name="<Bob & Co>")

    [welcome] = bot("inject_command", user, "start")  # the fake refuses unescaped HTML like Telegram

    assert "Hello, <Bob & Co>!" in message_text(welcome)
