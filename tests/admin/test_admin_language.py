"""The admin in the owner's language: it follows the browser, falls back to the configured
default, names the shop in its header, and every shop label it shows is translated."""

import pytest
from django.urls import reverse

from tests.admin.conftest import paid_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_support(client, support_user):
    client.force_login(support_user)
    return client


def test_a_russian_browser_gets_the_shop_in_russian(as_support):
    page = as_support.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")

    content = page.content.decode()
    assert '<html lang="ru"' in content
    for label in ("Платежи", "Покупатели", "Сводка", "Управление магазином", "Тарифы", "Промокоды"):
        assert label in content, label
    assert "Django" not in content.split("<body", 1)[1]


def test_an_english_browser_gets_english(as_support):
    content = as_support.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()

    assert '<html lang="en"' in content and "Buyers" in content and "Dashboard" in content


@pytest.mark.parametrize(("default", "expected"), [("ru", "Платежи"), ("en", "Payments")])
def test_a_browser_asking_for_neither_gets_the_configured_default(as_support, settings, default, expected):
    settings.LANGUAGE_CODE = default

    content = as_support.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()

    assert expected in content


def test_the_header_and_title_name_the_shop(as_support):
    content = as_support.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()

    assert "<title>Управление магазином | Stars Shop</title>" in content
    assert '<a href="/admin/">Stars Shop</a>' in content


def test_the_payments_list_speaks_russian_filters_actions_and_columns(client, finance_user, tariff_1m):
    paid_payment()
    client.force_login(finance_user)

    content = client.get(reverse("admin:payments_payment_changelist"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()

    for label in (
        "Вернуть выбранные платежи…",  # an action
        "Закрыть проверку выбранных платежей…",
        "на проверке (не закрыта)",  # the review filter
        "проверка закрыта",
        "с промокодом",
        "Выгрузить CSV",
        "Покупка",  # a column
        "оплачен",  # a status
    ):
        assert label in content, label


def test_a_payments_page_speaks_russian(client, finance_user, tariff_1m):
    payment = paid_payment()
    client.force_login(finance_user)

    content = client.get(
        reverse("admin:payments_payment_change", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()

    for label in ("Деньги (скопированы при выставлении счёта)", "ID списания Telegram", "Вернуть…", "Хронология"):
        assert label.lower() in content.lower(), label
