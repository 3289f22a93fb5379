"""pre_checkout_query answers: ok for a valid invoice, otherwise ok=false with the
service's reason, which Telegram shows to the buyer."""

import pytest

from payments.models import Payment
from promos.models import PromoCode
from telegram_bot import screens
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BUYER_ID = 700_401


@pytest.fixture
def buyer(db):
    return UserFactory(telegram_id=BUYER_ID, language_code="en")


@pytest.fixture
def ask(fake_telegram, webhook):
    """Send a pre-checkout query for `payload` through the webhook; return Telegram's answer."""

    def run(payload: str, amount: int, currency: str = "XTR", language_code: str = "en"):
        user = {"id": BUYER_ID, "is_bot": False, "first_name": "Eve", "language_code": language_code}
        query = fake_telegram.inject_pre_checkout(user, payload, amount, currency, deliver=False)
        assert webhook(query).status_code == 200
        return fake_telegram.wait_for_precheckout_answer(query)

    return run


def test_valid_invoice_is_answered_ok(ask, buyer, tariff_1m):
    payment = PaymentFactory(user=buyer, tariff=tariff_1m)

    answer = ask(payment.invoice_payload, 100)

    assert answer.ok


def test_wrong_amount_is_refused(ask, buyer, tariff_1m):
    payment = PaymentFactory(user=buyer, tariff=tariff_1m)
    answer = ask(payment.invoice_payload, 99)
    assert (answer.ok, answer.error_message) == (
        False,
        "The amount does not match the invoice. Please start a new purchase.",
    )


def test_wrong_currency_is_refused(ask, buyer, tariff_1m):
    payment = PaymentFactory(user=buyer, tariff=tariff_1m)
    answer = ask(payment.invoice_payload, 100, currency="USD")
    assert (answer.ok, answer.error_message) == (False, "Wrong currency: this invoice is paid in Telegram Stars.")


def test_unknown_payload_is_refused(ask, buyer):
    answer = ask("no-such-invoice", 100)
    assert (answer.ok, answer.error_message) == (False, "This invoice is unknown. Please start a new purchase.")


def test_payload_of_another_user_is_refused(ask, buyer, tariff_1m):
    payment = PaymentFactory(user=UserFactory(telegram_id=700_499), tariff=tariff_1m)
    answer = ask(payment.invoice_payload, 100)
    assert (answer.ok, answer.error_message) == (False, "This invoice was issued to another user.")


def test_already_paid_invoice_is_refused(ask, buyer, tariff_1m):
    payment = PaymentFactory(user=buyer, tariff=tariff_1m, status=Payment.Status.SUCCEEDED)
    answer = ask(payment.invoice_payload, 100)
    assert (answer.ok, answer.error_message) == (False, "This invoice has already been paid.")


def test_disabled_tariff_is_refused(ask, buyer, tariff_1m):
    payment = PaymentFactory(user=buyer, tariff=tariff_1m)
    tariff_1m.is_active = False
    tariff_1m.save()
    answer = ask(payment.invoice_payload, 100)
    assert (answer.ok, answer.error_message) == (False, "This tariff is no longer on sale.")


def test_promo_used_up_meanwhile_is_refused(ask, buyer, tariff_1m):
    promo = PromoCodeFactory(code="LAST1", discount_percent=10, max_uses=1)
    payment = PaymentFactory(user=buyer, tariff=tariff_1m, promo=promo, discount=10)
    PromoCode.objects.filter(pk=promo.pk).update(used_count=1)  # the last use went to someone else
    answer = ask(payment.invoice_payload, 90)
    assert (answer.ok, answer.error_message) == (False, "This promo code has been used up.")


def test_refusal_is_in_the_buyers_language(ask, buyer):
    answer = ask("no-such-invoice", 100, language_code="ru")
    assert answer.error_message == "Этот счёт неизвестен. Начните покупку заново."


def test_a_refusal_follows_the_language_chosen_in_the_bot(ask, buyer, tariff_1m):
    # given a buyer whose Telegram speaks English but who chose Russian in the bot
    buyer.bot_language = "ru"
    buyer.save(update_fields=["bot_language"])
    payment = PaymentFactory(user=buyer, tariff=tariff_1m)

    answer = ask(payment.invoice_payload, 99, language_code="en")

    assert (answer.ok, answer.error_message) == (
        False,
        "Сумма не совпадает со счётом. Начните покупку заново.",
    )


def test_an_accepted_query_costs_one_query_a_refusal_three(buyer, tariff_1m, django_assert_num_queries):
    payment = PaymentFactory(user=buyer, tariff=tariff_1m)
    query = {"payload": payment.invoice_payload, "from_user_id": BUYER_ID, "currency": "XTR", "language_code": "en"}

    # an accepted query needs no language: the payment with its user, tariff and promo, in one SELECT
    with django_assert_num_queries(1):
        assert screens.precheckout(total_amount=100, **query).ok
    # a refusal also reads the buyer's language, then validates again in it
    with django_assert_num_queries(3):
        assert not screens.precheckout(total_amount=99, **query).ok
