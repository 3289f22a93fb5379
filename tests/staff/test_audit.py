"""Staff actions: every money- or reach-changing action once, with who, from where and before → after,
written in the transaction of the change; read-only, filterable, exported as CSV, purged after retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from api.keys import api_key_create
from api.models import ApiKey
from broadcasts.services import broadcast_cancel, broadcast_start
from core.audit import staff_context
from core.models import StaffAction
from payments.errors import RefundNotAllowed
from payments.ledger import balance_adjust
from payments.models import Payment
from payments.refunds import refund_book, refund_payment
from payments.reviews import review_flag, review_resolve
from payments.star_subscriptions import star_subscription_record_edit
from promos.models import PromoCode
from promos.services import promo_bulk_generate, promo_deactivate
from staff.tasks import purge_staff_actions
from subscriptions.models import Tariff
from subscriptions.services import subscription_adjust
from tests.admin.conftest import paid_payment
from tests.admin.test_promos_admin import promo_form
from tests.admin.test_tariffs_admin import tariff_form
from tests.broadcasts.factories import BroadcastFactory
from tests.payments.star_subscription_helpers import subscribe
from tests.staff.conftest import verified_client
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

OFFICE = "192.0.2.44"
A = StaffAction.Action


def only(action: str) -> StaffAction:
    rows = list(StaffAction.objects.filter(action=action))
    assert len(rows) == 1, rows
    return rows[0]


def test_a_refund_in_the_admin_is_recorded_once_with_who_where_and_the_status(finance, tariff_1m):
    payment = paid_payment()
    client = verified_client(finance, REMOTE_ADDR=OFFICE)

    data = {"action": "refund_selected", "_selected_action": [payment.pk], "confirm": "yes", "reason": "asked"}
    client.post("/admin/payments/payment/", data)
    client.post("/admin/payments/payment/", data)  # a second refund of the same payment changes nothing

    row = only(A.REFUND)
    assert (row.actor, row.actor_name, row.address) == (finance, finance.username, OFFICE)
    assert (row.target_type, row.target_id) == ("payments.payment", str(payment.pk))
    assert (row.before, row.after, row.note) == (
        {"status": "succeeded"},
        {"status": "refunded", "amount": 100, "shortfall": 0},
        "asked",
    )


def test_a_refund_telegram_made_on_its_own_is_not_a_staff_action(tariff_1m):
    refund_book(payment=paid_payment(), source="telegram")
    assert not StaffAction.objects.filter(action=A.REFUND).exists()


def test_a_refused_refund_leaves_no_audit_row(finance, tariff_1m):
    payment = paid_payment()
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.PENDING)
    with pytest.raises(RefundNotAllowed):
        refund_payment(payment=payment, actor=finance)
    assert not StaffAction.objects.filter(action=A.REFUND).exists()


def test_a_balance_adjustment_records_the_balance_before_and_after(finance):
    buyer = UserFactory()
    balance_adjust(user=buyer, delta=50, reason="goodwill", actor=finance)
    balance_adjust(user=buyer, delta=-20, reason="correction", actor=finance)

    rows = StaffAction.objects.filter(action=A.BALANCE_ADJUST).order_by("pk")
    assert [(r.before, r.after, r.note) for r in rows] == [
        ({"balance": 0}, {"balance": 50}, "goodwill"),
        ({"balance": 50}, {"balance": 30}, "correction"),
    ]


def test_a_review_resolution_is_recorded(finance, tariff_1m):
    payment = paid_payment()
    review_flag(payment, reason="amount mismatch")
    payment.save()
    review_resolve(payment=payment, actor=finance, note="checked with Telegram")
    review_resolve(payment=payment, actor=finance, note="again")  # nothing open any more

    row = only(A.REVIEW_RESOLVE)
    assert (row.before, row.after, row.note) == (
        {"review": "open", "reason": "amount mismatch"},
        {"review": "resolved"},
        "checked with Telegram",
    )


def test_auto_renewal_cancel_and_resume_are_recorded(finance, fake_telegram):
    subscription = subscribe(fake_telegram, UserFactory())
    star_subscription_record_edit(subscription=subscription, canceled=True, by="admin", actor=finance)
    star_subscription_record_edit(subscription=subscription, canceled=True, by="admin", actor=finance)
    star_subscription_record_edit(subscription=subscription, canceled=False, by="admin", actor=finance)

    assert (only(A.AUTO_RENEWAL_CANCEL).before, only(A.AUTO_RENEWAL_CANCEL).after) == (
        {"auto_renewal": True},
        {"auto_renewal": False},
    )
    assert only(A.AUTO_RENEWAL_RESUME).after == {"auto_renewal": True}


def test_a_buyer_cancelling_their_own_auto_renewal_is_not_a_staff_action(fake_telegram):
    subscription = subscribe(fake_telegram, UserFactory())
    star_subscription_record_edit(subscription=subscription, canceled=True, by="buyer")
    assert not StaffAction.objects.exists()


def test_broadcast_send_and_cancel_are_recorded(finance, fake_telegram):
    UserFactory()
    UserFactory()
    draft = BroadcastFactory()
    broadcast_start(broadcast_id=draft.pk, by=finance)
    broadcast_cancel(broadcast_id=draft.pk, by=finance, reason="typo")

    sent = only(A.BROADCAST_SEND)
    assert (sent.actor, sent.before, sent.after) == (
        finance,
        {"status": "draft"},
        {"status": "sending", "recipients": 2},
    )
    cancelled = only(A.BROADCAST_CANCEL)
    assert (cancelled.after["status"], cancelled.note) == ("cancelled", "typo")


def test_a_tariff_price_change_in_the_admin_is_recorded_with_the_old_and_new_price(owner, tariff_1m):
    client = verified_client(owner, REMOTE_ADDR=OFFICE)
    form = tariff_form(tariff_1m, price_stars=120)
    response = client.post(f"/admin/subscriptions/tariff/{tariff_1m.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    client.post(f"/admin/subscriptions/tariff/{tariff_1m.pk}/change/", form)  # saved again unchanged

    row = only(A.TARIFF_CHANGE)
    assert (row.actor, row.address, row.before, row.after) == (
        owner,
        OFFICE,
        {"price_stars": 100},
        {"price_stars": 120},
    )
    assert Tariff.objects.get(pk=tariff_1m.pk).price_stars == 120


def test_promo_changes_generation_and_deactivation_are_recorded(owner):
    client = verified_client(owner)
    client.post("/admin/promos/promocode/add/", promo_form(code="SPRING", discount_percent="20"))
    created = only(A.PROMO_CHANGE)
    assert created.after["discount_percent"] == 20 and created.before == {}

    with_staff_request(owner, lambda: promo_bulk_generate(prefix="VIP", count=3, discount_percent=50))
    assert only(A.PROMO_BULK_CREATE).after == {"count": 3, "prefix": "VIP", "discount_percent": 50}

    spring = PromoCode.objects.get(code="SPRING")
    with_staff_request(owner, lambda: promo_deactivate(promo_ids=[spring.pk]))
    row = only(A.PROMO_DEACTIVATE)
    assert (row.actor, row.target_repr, row.after) == (owner, "SPRING", {"is_active": False, "count": 1})


def with_staff_request(user, action):
    """Run a service as the admin runs it: inside a request of this member of staff."""
    request = RequestFactory().post("/admin/", REMOTE_ADDR=OFFICE)
    request.user = user
    with staff_context(request=request):
        return action()


def test_api_keys_made_and_revoked_in_the_admin_are_recorded(owner):
    client = verified_client(owner)
    client.post("/admin/api/apikey/add/", {"name": "billing", "scopes": ["purchases:read"]})
    key = ApiKey.objects.get(name="billing")
    client.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    made = only(A.API_KEY_CREATE)
    assert (made.actor, made.target_id, made.after) == (
        owner,
        str(key.pk),
        {"name": "billing", "scopes": ["purchases:read"]},
    )
    assert (only(A.API_KEY_REVOKE).before, only(A.API_KEY_REVOKE).after) == ({"revoked": False}, {"revoked": True})


def test_a_key_made_by_code_outside_any_request_is_not_recorded():
    api_key_create(name="tests")
    assert not StaffAction.objects.exists()


def test_a_subscription_adjustment_records_the_expiry_before_and_after(owner):
    buyer = UserFactory()
    with_staff_request(owner, lambda: subscription_adjust(user=buyer, days=30))
    row = only(A.SUBSCRIPTION_ADJUST)
    assert row.before == {"expires_at": None} and row.after["expires_at"] and row.note == "+30"


def test_the_list_is_read_only_filterable_and_exports_csv(owner, finance):
    balance_adjust(user=UserFactory(), delta=5, reason="=cmd|' /C calc'!A0", actor=finance)
    client = verified_client(owner)

    listed = client.get("/admin/core/staffaction/?action=balance_adjust")
    page = listed.content.decode()
    assert listed.status_code == 200 and "balance: 0 → 5" in page
    assert "Staff actions" in page and 'href="/admin/core/staffaction/add/"' not in page
    row = StaffAction.objects.get(action=A.BALANCE_ADJUST)
    assert client.post(f"/admin/core/staffaction/{row.pk}/delete/").status_code == 403

    export = client.get("/admin/core/staffaction/export.csv?action=balance_adjust")
    text = b"".join(export.streaming_content).decode()
    assert "balance: 0 → 5" in text and finance.username in text
    assert "'=cmd" in text  # a formula is neutralised


def test_the_list_is_titled_in_russian(owner):
    client = verified_client(owner)
    page = client.get("/admin/core/staffaction/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Действия сотрудников" in page


def test_finance_cannot_read_the_staff_actions(finance):
    assert verified_client(finance).get("/admin/core/staffaction/").status_code == 403


def test_rows_past_the_retention_are_purged(finance, settings):
    settings.STAFF_AUDIT_RETENTION_DAYS = 30
    balance_adjust(user=UserFactory(), delta=5, reason="old", actor=finance)
    balance_adjust(user=UserFactory(), delta=6, reason="new", actor=finance)
    StaffAction.objects.filter(note="old").update(at=timezone.now() - timedelta(days=31))

    purge_staff_actions()

    assert list(StaffAction.objects.values_list("note", flat=True)) == ["new"]


def test_the_purge_is_a_periodic_task(settings):
    assert "staff.purge_staff_actions" in {entry["task"] for entry in settings.PERIODIC_TASKS.values()}
