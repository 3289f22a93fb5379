"""Tariffs: editable from the list; a change never alters past payments."""

import pytest
from django.urls import reverse

from subscriptions.models import Tariff
from tests.admin.conftest import paid_payment

pytestmark = pytest.mark.django_db


def tariff_form(tariff, **overrides):
    data = {
        "code": tariff.code,
        "title": tariff.title,
        "months": tariff.months,
        "days": tariff.days,
        "price_stars": tariff.price_stars,
        "is_active": "on",
        "sort_order": tariff.sort_order,
        "traffic_limit_bytes": 0,
        "device_limit": 0,
        "period_discount_percent": 0,
        # the inline of combination prices (none)
        "plan_prices-TOTAL_FORMS": 0,
        "plan_prices-INITIAL_FORMS": 0,
    }
    data.update(overrides)
    return data


def test_changing_a_tariff_price_and_days_leaves_past_payments_alone(admin_client_for, finance_user, tariff_1m):
    payment = paid_payment(tariff="1m")

    response = admin_client_for(finance_user).post(
        reverse("admin:subscriptions_tariff_change", args=[tariff_1m.pk]),
        tariff_form(tariff_1m, price_stars=500, days=45),
    )

    payment.refresh_from_db()
    tariff_1m.refresh_from_db()
    assert response.status_code == 302
    assert (tariff_1m.price_stars, tariff_1m.days) == (500, 45)
    assert (payment.base_price, payment.amount, payment.days) == (100, 100, 30)


def test_active_toggle_and_order_are_editable_in_the_list(admin_client_for, superuser, tariffs):
    ordered = list(Tariff.objects.order_by("sort_order", "days"))
    data = {"form-TOTAL_FORMS": len(ordered), "form-INITIAL_FORMS": len(ordered), "_save": "Save"}
    for index, tariff in enumerate(ordered):
        data[f"form-{index}-id"] = tariff.pk
        data[f"form-{index}-sort_order"] = 10 - index
        if tariff.code != "1m":
            data[f"form-{index}-is_active"] = "on"

    response = admin_client_for(superuser).post(reverse("admin:subscriptions_tariff_changelist"), data)

    assert response.status_code == 302
    assert Tariff.objects.get(code="1m").is_active is False
    assert Tariff.objects.get(code="12m").sort_order == 10 - ordered.index(Tariff.objects.get(code="12m"))


def test_support_cannot_edit_tariffs(admin_client_for, support_user, tariff_1m):
    response = admin_client_for(support_user).post(
        reverse("admin:subscriptions_tariff_change", args=[tariff_1m.pk]), tariff_form(tariff_1m, price_stars=1)
    )

    tariff_1m.refresh_from_db()
    assert response.status_code == 403
    assert tariff_1m.price_stars == 100
