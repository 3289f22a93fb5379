import uuid

import pytest

from core.errors import ApplicationError
from payments.errors import PurchaseConflict, TariffUnavailable
from payments.gateways.registry import invoice_params
from payments.models import Payment, PurchaseEvent
from payments.services import purchase_create_invoice, topup_create_invoice
from promos.services import PromoInvalid
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def event_names(payment) -> list[str]:
    return list(PurchaseEvent.objects.filter(payment=payment).values_list("name", flat=True))


def test_new_invoice_is_pending_with_opaque_unique_payload(tariff_1m):
    user = UserFactory()
    result = purchase_create_invoice(user=user, tariff="1m")
    payment = result.payment
    assert result.created and payment.status == Payment.Status.PENDING
    assert (payment.base_price, payment.discount, payment.amount, payment.days) == (100, 0, 100, 30)
    assert payment.currency == "XTR" and len(payment.invoice_payload.encode()) <= 128
    assert str(user.telegram_id) not in payment.invoice_payload and "1m" not in payment.invoice_payload
    assert event_names(payment) == ["purchase_invoice_created"]
    assert event_names(payment) and PurchaseEvent.objects.get(payment=payment).payload == {
        "purchase_id": str(payment.purchase_id),
        "item_id": "1m",
        "price_stars": 100,
        "purchase_type": "subscription",
        "previous_status": None,
        "metadata": {"source": "bot"},
    }


def test_same_user_same_tariff_reuses_open_invoice(tariff_1m):
    user = UserFactory()
    first = purchase_create_invoice(user=user, tariff="1m").payment
    second = purchase_create_invoice(user=user, tariff="1m")
    assert not second.created and second.payment.pk == first.pk
    assert event_names(first) == ["purchase_invoice_created", "purchase_invoice_reused"]


def test_other_promo_gets_a_new_invoice(tariff_1m):
    user = UserFactory()
    PromoCodeFactory(code="PROMO10")
    plain = purchase_create_invoice(user=user, tariff="1m").payment
    promo = purchase_create_invoice(user=user, tariff="1m", promo_code="PROMO10").payment
    assert plain.pk != promo.pk and promo.amount == 90


def test_changed_price_gets_a_new_invoice(tariff_1m):
    user = UserFactory()
    old = purchase_create_invoice(user=user, tariff="1m").payment
    tariff_1m.price_stars = 120
    tariff_1m.save()
    new = purchase_create_invoice(user=user, tariff="1m").payment
    assert new.pk != old.pk and new.amount == 120
    old.refresh_from_db()
    assert old.amount == 100  # a tariff change never alters an existing payment


def test_other_users_do_not_share_invoices(tariff_1m):
    a = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    b = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    assert a.pk != b.pk


def test_client_chosen_purchase_id_is_used_and_reused(tariff_1m):
    user = UserFactory()
    purchase_id = uuid.uuid4()
    created = purchase_create_invoice(user=user, tariff="1m", purchase_id=purchase_id)
    again = purchase_create_invoice(user=user, tariff="1m", purchase_id=purchase_id)
    assert created.payment.purchase_id == purchase_id and not again.created


def test_purchase_id_of_another_user_is_a_conflict_and_an_event(tariff_1m):
    owner, intruder = UserFactory(), UserFactory()
    payment = purchase_create_invoice(user=owner, tariff="1m").payment
    with pytest.raises(PurchaseConflict) as exc:
        purchase_create_invoice(user=intruder, tariff="1m", purchase_id=payment.purchase_id)
    assert exc.value.code == "purchase_conflict" and exc.value.status == 409
    assert PurchaseEvent.objects.filter(name="purchase_user_mismatch", payment=payment, user=intruder).exists()
    assert Payment.objects.count() == 1


def test_inactive_tariff_is_not_sold(tariff_1m):
    tariff_1m.is_active = False
    tariff_1m.save()
    with pytest.raises(TariffUnavailable):
        purchase_create_invoice(user=UserFactory(), tariff="1m")
    assert Payment.objects.count() == 0


def test_unknown_tariff_is_not_found(db):
    with pytest.raises(ApplicationError) as exc:
        purchase_create_invoice(user=UserFactory(), tariff="7y")
    assert exc.value.status == 404


def test_refused_promo_creates_nothing(tariff_1m):
    with pytest.raises(PromoInvalid):
        purchase_create_invoice(user=UserFactory(), tariff="1m", promo_code="NOPE")
    assert Payment.objects.count() == 0


def test_full_discount_completes_without_invoice(tariff_1m):
    user = UserFactory()
    promo = PromoCodeFactory(code="GIFT", discount_percent=100, bonus_days=5)
    result = purchase_create_invoice(user=user, tariff="1m", promo_code="gift")
    payment = result.payment
    assert payment.status == Payment.Status.SUCCEEDED and payment.method == Payment.Method.FREE
    assert payment.amount == 0 and payment.days_granted == 35 and payment.ledger_entries.count() == 0
    promo.refresh_from_db()
    assert promo.used_count == 1
    user.subscription.refresh_from_db()
    assert user.subscription.days_left in (34, 35)


def test_invoice_params_respect_telegram_limits(tariff_1m):
    tariff_1m.title = "A very long tariff title that goes on and on"
    tariff_1m.save()
    payment = purchase_create_invoice(user=UserFactory(language_code="en"), tariff="1m").payment
    params = invoice_params(payment=payment)
    assert 1 <= len(params.title) <= 32 and 1 <= len(params.description) <= 255
    assert params.currency == "XTR" and params.amount == 100 and params.payload == payment.invoice_payload


@pytest.mark.parametrize("amount", [0, -5, 10**9])
def test_topup_amount_out_of_range_is_refused(db, amount):
    with pytest.raises(ApplicationError) as exc:
        topup_create_invoice(user=UserFactory(), amount=amount)
    assert exc.value.code == "validation_error"


def test_topup_invoice_is_reused_for_the_same_amount(db):
    user = UserFactory()
    first = topup_create_invoice(user=user, amount=250)
    second = topup_create_invoice(user=user, amount=250)
    assert first.created and not second.created and first.payment.pk == second.payment.pk
    assert first.payment.kind == Payment.Kind.TOPUP and first.payment.tariff is None
