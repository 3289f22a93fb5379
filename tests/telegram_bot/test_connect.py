"""The connect screen after paying and in "My subscription": a 🔗 button to the
subscription page, the link to copy, client apps per platform and a QR code on
request; and the subscription URL in exactly one message per purchase. Through
the real bot (webhook view), the fake Bot API and the fake Remnawave panel."""

import pytest

from subscriptions.models import ClientApp, Subscription
from subscriptions.provisioning import process_due
from telegram_bot import qr
from tests.telegram_bot.support import buttons_of, callbacks_of, message_text, said

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("client_apps")]

RU = {"id": 700_501, "is_bot": False, "first_name": "Иван", "language_code": "ru"}
EN = {"id": 700_502, "is_bot": False, "first_name": "Dan", "language_code": "en"}


@pytest.fixture
def pay(bot, fake_telegram):
    """Buy a tariff through the bot up to the payment's confirmation; returns what it showed."""

    def run(user: dict, tariff: str = "1m", amount: int = 100, charge_id: str = "") -> list[dict]:
        bot("inject_callback", user, f"pay:{tariff}")
        payload = fake_telegram.invoices(user["id"])[-1]["payload"]
        bot("inject_pre_checkout", user, payload, amount)
        return bot("inject_successful_payment", user, payload, amount, charge_id=charge_id or None)

    return run


def messages_with(fake, chat_id: int, text: str) -> list[dict]:
    return [m for m in fake.sent_messages(chat_id) if text in m.get("text", "") or text in m.get("caption", "")]


def url_of(user: dict) -> str:
    return Subscription.objects.get(user__telegram_id=user["id"]).subscription_url


def test_first_purchase_sends_the_link_once_as_the_connect_screen(pay, fake_panel, fake_telegram, tariffs):
    # when a new buyer pays (the panel answers at once: the worker's message takes the link)
    [confirmation] = [m for m in pay(RU) if "Оплата получена" in message_text(m)]

    # then the confirmation does not repeat the URL, and exactly one message carries it
    url = url_of(RU)
    assert url not in confirmation["text"]
    [link_message] = messages_with(fake_telegram, RU["id"], url)
    assert "Ваша подписка на VPN готова" in message_text(link_message)
    assert f"<code>{url}</code>" in link_message["text"]  # copyable
    assert buttons_of(link_message)[0] == {"text": "🔗 Подключиться", "url": url}
    assert callbacks_of(link_message)[:5] == ["apps:ios", "apps:android", "apps:windows", "apps:macos", "apps:linux"]
    assert "qr" in callbacks_of(link_message)


def test_the_confirmation_carries_the_connect_screen_when_the_link_is_known(
    pay, fake_panel, fake_telegram, settings, tariffs
):
    # given a buyer whose link exists already (an earlier purchase), and a worker that is slower than the reply
    pay(EN, charge_id="first")
    settings.PROVISIONING_RUN_AFTER_COMMIT = False
    url = url_of(EN)
    before = len(messages_with(fake_telegram, EN["id"], url))

    # when they renew
    [confirmation] = pay(EN, charge_id="renewal")
    process_due()  # the worker catches up: it must not send the link again

    # then the confirmation is the connect screen, and it is the renewal's only message with the URL
    assert "Payment received" in message_text(confirmation)
    assert f"<code>{url}</code>" in confirmation["text"]
    assert buttons_of(confirmation)[0] == {"text": "🔗 Connect", "url": url}
    assert len(messages_with(fake_telegram, EN["id"], url)) == before + 1


def test_a_slow_panel_means_one_follow_up_with_the_link(pay, fake_panel, fake_telegram, settings, tariffs):
    # given a worker that runs after the confirmation
    settings.PROVISIONING_RUN_AFTER_COMMIT = False

    # when a new buyer pays, then the confirmation promises the link without a URL
    confirmation = said(pay(EN))
    assert "being prepared" in confirmation

    # and when the worker provisions, exactly one message brings it
    process_due()
    url = url_of(EN)
    assert url not in confirmation
    [link_message] = messages_with(fake_telegram, EN["id"], url)
    assert "Your VPN subscription is ready." in message_text(link_message)


def test_without_a_provisioning_backend_the_bot_says_so_plainly(pay, bot, settings, tariffs):
    settings.PROVISIONING_BACKEND = "none"
    settings.SUPPORT_CONTACT = "@shop_help"

    confirmation = said(pay(EN))
    status = said(bot("inject_callback", EN, "sub"))

    for text in (confirmation, status):
        assert "does not hand out connection links automatically" in text
        assert "@shop_help" in text
        assert "prepared" not in text and "shortly" not in text


def test_a_platform_button_shows_its_apps_as_https_buttons_in_the_same_message(
    pay, bot, fake_panel, fake_telegram, tariffs
):
    pay(EN)
    [status] = bot("inject_callback", EN, "sub")

    [apps] = bot("inject_callback", EN, "apps:ios", message_id=status["message_id"])

    assert apps["message_id"] == status["message_id"]  # edited in place
    app_buttons = [b for b in buttons_of(apps) if "url" in b and b["text"] != "🔗 Connect"]
    assert [b["text"] for b in app_buttons] == ["Happ", "v2RayTun", "Streisand"]
    assert all(b["url"].startswith("https://") for b in buttons_of(apps) if "url" in b)
    assert "iOS apps" in message_text(apps)
    assert "conn" in callbacks_of(apps)  # back to the connect screen


def test_the_client_app_list_is_the_admins(pay, bot, fake_panel, tariffs):
    ClientApp.objects.filter(platform="linux").update(is_active=False)
    ClientApp.objects.create(platform="ios", name="Our own app", url="https://apps.example/own", sort_order=0)
    pay(EN)

    [status] = bot("inject_callback", EN, "sub")
    [apps] = bot("inject_callback", EN, "apps:ios", message_id=status["message_id"])

    assert "apps:linux" not in callbacks_of(status)
    assert {"text": "Our own app", "url": "https://apps.example/own"} in buttons_of(apps)


def test_the_qr_code_is_an_extra_photo_of_the_link(pay, bot, fake_panel, fake_telegram, tariffs):
    pay(EN)
    url = url_of(EN)
    [status] = bot("inject_callback", EN, "sub")

    [photo_message] = bot("inject_callback", EN, "qr", message_id=status["message_id"])

    [photo] = fake_telegram.sent_photos(EN["id"])
    assert photo.data == qr.png(url)  # the link, drawn locally
    assert photo.data.startswith(b"\x89PNG")
    assert url not in (photo.caption or "")  # the URL's text stays in its one message
    assert photo_message["message_id"] != status["message_id"]
    assert fake_telegram.message(EN["id"], status["message_id"])["text"] == status["text"]


def test_connect_without_a_link_shows_the_subscription_screen(bot, tariffs):
    [message] = bot("inject_callback", EN, "qr")

    assert "You have no subscription yet." in message_text(message)
