"""A shop with payments on known days, for the dashboard's hand-computed figures.

Days are counted back from today (T). The period looked at is T-13 … T-7 (7 days), so the
previous period is T-20 … T-14. Everything is made through the real services, then moved
to its day (payments, refunds, trial claims) and given the subscription expiry it would have.

Current period (T-13 … T-7)                          Previous period (T-20 … T-14)
  B renews 1 month (100, Stars)          T-12          C buys 3 months (250) – new       T-18
  E buys 1 month (100) – new             T-11          A renews 3 months (250)           T-16
  E tops up 50 Stars                     T-10          D: an invoice never paid          T-15
  F buys 3 months (250) – new            T-9           L's subscription runs out         T-15
  F refunded through Telegram (250)      T-8           M's subscription runs out         T-17
  G buys 1 month from the balance (100)  T-10
  I takes the free trial                 T-13
  I buys 1 month (100) – new             T-8
  J takes the free trial, never pays     T-12
  K's subscription runs out (paid T-38)  T-8   (F's too, after the refund)
  D: an invoice never paid               T-12
  H buys 1 month with a mock payment     T-9   (left out of everything)
Before both: A and B buy 1 month at T-40, G tops up 100 at T-30, K, L, M buy 1 month at T-38,
T-45, T-47. Daily subscriber counts (active / paid / MRR): T-21 8/6/500, T-14 10/8/700,
T-10 11/8/750, T-8 12/9/790, T-7 12/9/800. Now, E's subscription runs out in 3 days.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from payments.charges import Charge
from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.free import trial_start
from payments.models import Payment, SubscriberSnapshot, TrialClaim
from payments.refunds import refund_from_telegram
from payments.services import purchase_complete, topup_create_invoice
from subscriptions.models import Subscription, Tariff
from tests.admin.conftest import paid_payment
from tests.payments.factories import PaymentFactory
from tests.users.factories import UserFactory

_charges = itertools.count(1)

# The figures a person computes from the table above: (current period, previous period).
EXPECTED = {
    "net_revenue": (350, 500),  # (100+100+50+250+100) − 250 refunded; 250+250
    "paying_buyers": (5, 2),  # B E F G I; C A
    "new_buyers": (3, 1),  # E F I; C
    "returning_buyers": (2, 1),  # B G; A
    "active_subscribers": (12, 10),  # daily counts of T-7 and T-14
    "mrr": (800, 700),
    "renewal_rate": (33.3, 33.3),  # B renewed, K and F (refunded) lapsed: 1/3; A renewed, L M lapsed: 1/3
    "churn": (25.0, 33.3),  # K F / 8 paid at T-14; L M / 6 paid at T-21
    "arpu": (29.2, 50.0),  # 350 / 12; 500 / 10
    "arppu": (70.0, 250.0),  # 350 / 5; 500 / 2
    "conversion": (83.3, 66.7),  # 5 of 6 Stars invoices; 2 of 3
    "trials_started": (2, 0),
    "trials_converted": (50.0, None),  # I of I and J; no trial before
    "refunds": (1, 0),
    "expiring_soon": (1, None),  # E, from now
}
REVENUE_SEGMENTS = 5  # T-12 1 month, T-11 1 month, T-10 top-ups, T-9 3 months, T-8 1 month
SUBSCRIBER_DOTS = 6  # T-10, T-8, T-7 for active and for paid


def noon(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(12, 0)))


def _moved(payment: Payment, day: date) -> Payment:
    moment = noon(day)
    fields = {"created_at": moment - timedelta(minutes=5)}
    if payment.paid_at:
        fields["paid_at"] = moment
    Payment.objects.filter(pk=payment.pk).update(**fields)
    payment.refresh_from_db()
    return payment


def _paid(user, day: date, *, tariff: str = "1m") -> Payment:
    return _moved(paid_payment(user=user, tariff=tariff, charge_prefix="stxKNOWN"), day)


def _topup(user, day: date, *, amount: int) -> Payment:
    payment = topup_create_invoice(user=user, amount=amount).payment
    purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=f"stxTOPUP{next(_charges)}",
            amount=amount,
            currency="XTR",
            from_user_id=user.telegram_id,
        )
    )
    payment.refresh_from_db()
    return _moved(payment, day)


def _unpaid_invoice(user, tariff, day: date) -> Payment:
    payment = PaymentFactory(user=user, tariff=tariff, status=Payment.Status.EXPIRED)
    return _moved(payment, day)


def _expires(user, moment: datetime) -> None:
    status = Subscription.Status.ACTIVE if moment > timezone.now() else Subscription.Status.EXPIRED
    Subscription.objects.filter(user=user).update(expires_at=moment, status=status)


def build_known_shop(*, tariffs, today: date | None = None) -> dict:
    """Make the shop of the module's table; returns the period to look at and the buyers."""
    t = today or timezone.localdate()

    def day(n: int) -> date:
        return t - timedelta(days=n)

    # A shop that sells no auto-renewing plan (its cards have a test of their own).
    Tariff.objects.filter(renews_monthly=True).update(is_active=False)
    buyers = {name: UserFactory(telegram_username=f"known_{name.lower()}") for name in "ABCDEFGHIJKLM"}
    a, b, c, d, e, f, g, h, i, j, k, l, m = (buyers[name] for name in "ABCDEFGHIJKLM")  # noqa: E741

    # Before both periods.
    _paid(a, day(40))
    _paid(b, day(40))
    _topup(g, day(30), amount=100)
    _paid(k, day(38))
    _paid(l, day(45))
    _paid(m, day(47))

    # The previous period.
    _paid(c, day(18), tariff="3m")
    _paid(a, day(16), tariff="3m")
    _unpaid_invoice(d, tariffs["1m"], day(15))

    # The period looked at.
    trial_i = trial_start(user=i)
    _moved(trial_i, day(13))
    trial_j = trial_start(user=j)
    _moved(trial_j, day(12))
    TrialClaim.objects.filter(user=i).update(created_at=noon(day(13)))
    TrialClaim.objects.filter(user=j).update(created_at=noon(day(12)))
    _paid(b, day(12))
    _unpaid_invoice(d, tariffs["1m"], day(12))
    _paid(e, day(11))
    _topup(e, day(10), amount=50)
    _moved(purchase_pay_from_balance(user=g, tariff="1m"), day(10))
    refunded = _paid(f, day(9), tariff="3m")
    refund_from_telegram(user=f, charge_id=refunded.telegram_payment_charge_id, amount=refunded.amount)
    Payment.objects.filter(pk=refunded.pk).update(refunded_at=noon(day(8)))
    _moved(paid_payment(user=h), day(9))  # mock charge
    _paid(i, day(8))

    # Where each subscription stands.
    now = timezone.now()
    for buyer, moment in (
        (a, now + timedelta(days=20)),
        (b, now + timedelta(days=20)),
        (c, now + timedelta(days=60)),
        (e, now + timedelta(days=3)),
        (f, noon(day(8))),
        (g, now + timedelta(days=25)),
        (h, now + timedelta(days=22)),
        (i, now + timedelta(days=22)),
        (j, noon(day(9))),
        (k, noon(day(8))),
        (l, noon(day(15))),
        (m, noon(day(17))),
    ):
        _expires(buyer, moment)

    for n, active, paid, mrr in ((21, 8, 6, 500), (14, 10, 8, 700), (10, 11, 8, 750), (8, 12, 9, 790), (7, 12, 9, 800)):
        SubscriberSnapshot.objects.create(
            day=day(n), active=active, paid_active=paid, mrr=mrr, recorded_at=noon(day(n)) + timedelta(hours=11)
        )
    return {"first": day(13), "last": day(7), "buyers": buyers}
