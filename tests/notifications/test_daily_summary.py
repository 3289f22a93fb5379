"""The daily summary: the dashboard's own figures for yesterday and the same weekday a week before,
once a day from OWNER_SUMMARY_HOUR in the shop's time zone."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from notifications.models import OwnerAlert
from notifications.owner import owner_alerts_deliver
from payments.dashboard import Period, dashboard_build
from payments.models import Payment
from payments.owner_reports import owner_daily_summary_record
from payments.refunds import refund_payment
from tests.notifications.helpers import owner_texts
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


def paid(fake, user, tariff, *, at: datetime, charge_id: str) -> Payment:
    """Paid in Telegram (the fake knows the charge, so it can be refunded), at `at`."""
    payment = PaymentFactory(user=user, tariff=tariff)
    fake.add_star_transaction(user, payment.invoice_payload, payment.amount, charge_id)
    pay(payment, charge_id=charge_id)
    Payment.objects.filter(pk=payment.pk).update(paid_at=at, created_at=at - timedelta(minutes=1))
    return Payment.objects.get(pk=payment.pk)


def summaries(fake, chat_id: int) -> list[str]:
    return [text for text in owner_texts(fake, chat_id) if text.startswith("📊")]


@pytest.fixture
def summary_settings(owner_chat, settings):
    settings.SHOP_TIME_ZONE = "Europe/Moscow"
    settings.OWNER_SUMMARY_HOUR = 9
    return settings


@pytest.fixture
def two_days(tariff_1m, fake_telegram):
    """Sales yesterday and on the same weekday a week before (a returning buyer, a new one, a refund)."""
    now = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time(7, 30)))  # 10:30 MSK
    day = timezone.localdate(now) - timedelta(days=1)
    noon = timezone.make_aware(datetime.combine(day, time(12)))
    week_before = noon - timedelta(days=7)
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    paid(fake_telegram, alice, tariff_1m, at=week_before, charge_id="a-1")
    paid(fake_telegram, carol, tariff_1m, at=week_before + timedelta(hours=1), charge_id="c-1")
    paid(fake_telegram, alice, tariff_1m, at=noon, charge_id="a-2")
    refunded = paid(fake_telegram, bob, tariff_1m, at=noon + timedelta(hours=1), charge_id="b-1")
    refund_payment(payment=refunded, reason="changed his mind")
    Payment.objects.filter(pk=refunded.pk).update(refunded_at=noon + timedelta(hours=2))
    return now, day


def test_the_summary_figures_equal_the_dashboards_for_that_day(summary_settings, two_days):
    now, day = two_days

    assert owner_daily_summary_record(now=now)

    details = OwnerAlert.objects.get(kind="summary").details
    for period, figures in (
        (Period(first=day, last=day), details["figures"]),
        (Period(first=day - timedelta(days=7), last=day - timedelta(days=7)), details["previous"]),
    ):
        page = dashboard_build(period=period, now=now)
        assert figures["net_revenue"] == page.card("net_revenue").current
        assert figures["new_buyers"] == page.card("new_buyers").current
        assert figures["returning_buyers"] == page.card("returning_buyers").current
        assert figures["refunds"] == page.card("refunds").current
        assert figures["refunded_stars"] == page.facts.refunds.current.stars
        assert figures["renewed"] == page.facts.buyers.current.renewed
        assert figures["lapsed"] == page.facts.lapsed.current
        assert figures["trials_started"] == page.facts.trials.current.started
        assert figures["auto_renewals"] == page.facts.auto_renewal.current.renewals
    assert (details["figures"]["net_revenue"], details["previous"]["net_revenue"]) == (100, 200)
    assert (details["figures"]["new_buyers"], details["figures"]["returning_buyers"]) == (1, 1)


def test_the_summary_text_compares_with_the_same_weekday_a_week_before(fake_telegram, summary_settings, two_days):
    now, day = two_days

    owner_daily_summary_record(now=now)
    owner_alerts_deliver(now=now)

    [text] = summaries(fake_telegram, summary_settings.OWNER_CHAT_ID)
    lines = text.split("\n")
    assert lines[0].startswith("📊 Итоги за ")
    assert "Выручка: 100 ⭐ (200, −100)" in lines
    assert "Новые покупатели: 1 (2, −1)" in lines
    assert "Вернувшиеся покупатели: 1 (0, +1)" in lines
    assert "Возвраты: 1 (0, +1)" in lines
    assert "Платежей на проверке сейчас: 0" in lines
    assert lines[-1] == "сводка за этот день"
    link = f"/admin/payments/payment/dashboard/?from={day.isoformat()}&amp;to={day.isoformat()}"
    assert any(link in message["text"] for message in fake_telegram.sent_messages(summary_settings.OWNER_CHAT_ID))


def test_the_summary_is_sent_once_a_day_whatever_the_runs(fake_telegram, summary_settings, two_days):
    now, _day = two_days

    runs = [owner_daily_summary_record(now=now + timedelta(minutes=10 * n)) for n in range(6)]
    owner_alerts_deliver(now=now + timedelta(hours=2))

    assert runs == [True, False, False, False, False, False]
    assert len(summaries(fake_telegram, summary_settings.OWNER_CHAT_ID)) == 1


def test_no_summary_before_the_hour_in_the_shops_time_zone(summary_settings, two_days):
    now, _day = two_days
    early = now.astimezone(MOSCOW).replace(hour=8, minute=59)

    assert not owner_daily_summary_record(now=early)
    assert owner_daily_summary_record(now=early + timedelta(minutes=1))


def test_no_summary_when_switched_off(summary_settings, two_days):
    summary_settings.OWNER_SUMMARY_HOUR = None

    assert not owner_daily_summary_record(now=two_days[0])
