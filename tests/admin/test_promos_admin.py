"""Promo codes: validation in words, bulk generation, deactivation, CSV export."""

import csv
import io

import pytest
from django.urls import reverse

from promos.admin import PromoCodeForm
from promos.models import PromoCode
from promos.services import promo_bulk_generate
from tests.admin.conftest import in_another_connection, paid_payment
from tests.promos.factories import PromoCodeFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:promos_promocode_changelist")
ADD = reverse("admin:promos_promocode_add")


def promo_form(**overrides):
    data = {
        "code": "NEW10",
        "description": "",
        "discount_percent": "10",
        "bonus_days": "0",
        "max_uses": "",
        "valid_from_0": "",
        "valid_from_1": "",
        "expires_at_0": "",
        "expires_at_1": "",
        "is_active": "on",
        "once_per_user": "on",
        "redemptions-TOTAL_FORMS": "0",
        "redemptions-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_finance_creates_a_promo_code(admin_client_for, finance_user):
    response = admin_client_for(finance_user).post(ADD, promo_form())

    assert response.status_code == 302
    assert PromoCode.objects.get(code="NEW10").discount_percent == 10


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"discount_percent": "150"}, "from 0 to 100"),
        ({"discount_percent": "0", "bonus_days": "0"}, "this code would change nothing"),
        ({"max_uses": "0"}, "at least one use"),
        (
            {
                "valid_from_0": "2030-01-02",
                "valid_from_1": "00:00",
                "expires_at_0": "2030-01-01",
                "expires_at_1": "00:00",
            },
            "expire after it becomes valid",
        ),
        ({"code": "spring"}, "already exists"),
        ({"code": "two words"}, "without spaces"),
    ],
)
def test_invalid_promo_is_refused_with_a_clear_message(admin_client_for, superuser, overrides, message):
    PromoCodeFactory(code="SPRING")

    page = admin_client_for(superuser).post(ADD, promo_form(**overrides))

    assert page.status_code == 200
    assert message in page.content.decode()


def test_max_uses_cannot_drop_below_the_uses_so_far(admin_client_for, superuser, tariff_1m):
    promo = PromoCodeFactory(code="USED")
    paid_payment(promo_code="USED")
    paid_payment(promo_code="USED")

    page = admin_client_for(superuser).post(
        reverse("admin:promos_promocode_change", args=[promo.pk]), promo_form(code="USED", max_uses="1")
    )

    assert page.status_code == 200
    assert "already used 2 times" in page.content.decode()


def test_bulk_generation_makes_unique_codes_with_the_prefix():
    promos = promo_bulk_generate(prefix="summer", count=500, length=4, discount_percent=10, max_uses=1)

    codes = [p.code for p in promos]
    assert len(codes) == len({c.lower() for c in codes}) == 500
    assert all(code.startswith("SUMMER") for code in codes)
    assert PromoCode.objects.filter(code__startswith="SUMMER").count() == 500


def test_bulk_generation_skips_codes_that_already_exist(monkeypatch):
    PromoCodeFactory(code="XAAAA")
    draws = iter([["XAAAA", "XBBBB"], ["XCCCC", "XBBBB"]])
    monkeypatch.setattr("promos.services._random_promo_codes", lambda **kw: next(draws))

    promos = promo_bulk_generate(prefix="X", count=2, length=4, bonus_days=7)

    assert sorted(p.code for p in promos) == ["XBBBB", "XCCCC"]


def test_bulk_generation_page_creates_codes_for_chosen_tariffs(admin_client_for, finance_user, tariffs):
    response = admin_client_for(finance_user).post(
        reverse("admin:promos_promocode_bulk_generate"),
        {
            "prefix": "TG",
            "count": "20",
            "length": "6",
            "discount_percent": "15",
            "bonus_days": "0",
            "max_uses": "1",
            "once_per_user": "on",
            "tariffs": [tariffs["3m"].pk],
        },
    )

    created = PromoCode.objects.filter(code__startswith="TG")
    assert response.status_code == 302
    assert created.count() == 20
    assert {t.code for p in created for t in p.tariffs.all()} == {"3m"}


def test_bulk_generation_page_refuses_bad_input_without_a_500(admin_client_for, finance_user):
    page = admin_client_for(finance_user).post(
        reverse("admin:promos_promocode_bulk_generate"),
        {"prefix": "bad prefix!", "count": "0", "length": "99", "discount_percent": "101", "bonus_days": "x"},
    )

    assert page.status_code == 200
    assert not PromoCode.objects.exists()


def test_deactivate_action_switches_codes_off(admin_client_for, finance_user):
    promo = PromoCodeFactory(code="OFF")

    admin_client_for(finance_user).post(CHANGELIST, {"action": "deactivate", "_selected_action": [promo.pk]})

    promo.refresh_from_db()
    assert promo.is_active is False


def test_list_shows_usage_and_revenue_through_the_code(admin_client_for, superuser, tariff_1m):
    PromoCodeFactory(code="HALF", discount_percent=50, max_uses=10)
    paid_payment(promo_code="HALF")

    content = admin_client_for(superuser).get(CHANGELIST).content.decode()

    assert "1 / 10" in content
    assert '<td class="field-revenue">50</td>' in content


def test_csv_export_of_the_selected_codes_holds_their_settings_use_and_revenue(admin_client_for, superuser, tariff_1m):
    PromoCodeFactory(code="HALF", description="spring", discount_percent=50, max_uses=10)
    PromoCodeFactory(code="OTHER")  # not selected
    paid_payment(promo_code="HALF")
    promo = PromoCode.objects.get(code="HALF")

    response = admin_client_for(superuser).post(CHANGELIST, {"action": "export_csv", "_selected_action": [promo.pk]})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="promo-codes.csv"'
    assert rows[0] == [
        "code",
        "description",
        "discount (%)",
        "bonus days",
        "used",
        "max uses",
        "revenue (Stars)",
        "active",
        "once per buyer",
        "valid from",
        "expires",
        "created",
    ]
    assert len(rows) == 2
    assert rows[1][:9] == ["HALF", "spring", "50", "0", "1", "10", "50", "1", "1"]


def test_the_promo_list_links_its_export_with_its_filters(admin_client_for, superuser):
    PromoCodeFactory(code="ON")
    PromoCodeFactory(code="OFF", is_active=False)
    client = admin_client_for(superuser)

    page = client.get(CHANGELIST, {"is_active__exact": "0"})
    rows = list(
        csv.reader(
            io.StringIO(b"".join(client.get(page.context["csv_export_url"]).streaming_content).decode("utf-8-sig"))
        )
    )

    assert 'id="csv-export"' in page.content.decode()
    assert [row[0] for row in rows[1:]] == ["OFF"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_generation_never_duplicates_a_code(monkeypatch):
    import threading

    from conftest import run_concurrently
    from promos import services

    real = services._random_promo_codes
    first_draw = threading.local()

    def same_first_draw(**kwargs):
        # Every thread's first draw is the same two codes: all but one must draw again.
        if not getattr(first_draw, "done", False):
            first_draw.done = True
            return ["RACEAAAA", "RACEBBBB"]
        return real(**kwargs)

    monkeypatch.setattr(services, "_random_promo_codes", same_first_draw)

    results = run_concurrently(lambda i: promo_bulk_generate(prefix="RACE", count=2, length=4, bonus_days=1), 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    codes = [p.code.lower() for batch in results for p in batch]
    assert len(codes) == len(set(codes)) == 8
    assert PromoCode.objects.filter(code__istartswith="RACE").count() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_saving_a_promo_keeps_the_uses_counted_while_it_was_being_saved(
    admin_client_for, superuser, tariff_1m, monkeypatch
):
    # given a promo whose edit page an admin submits, and a buyer who uses the code
    # after the admin's request read the row but before it saved it
    promo = PromoCodeFactory(code="BUSY", max_uses=10)
    clean = PromoCodeForm.clean

    def clean_while_a_buyer_uses_the_code(form):
        in_another_connection(lambda: paid_payment(promo_code="BUSY"))
        return clean(form)

    monkeypatch.setattr(PromoCodeForm, "clean", clean_while_a_buyer_uses_the_code)

    # when the edit is saved
    response = admin_client_for(superuser).post(
        reverse("admin:promos_promocode_change", args=[promo.pk]),
        promo_form(code="BUSY", description="edited", max_uses="10"),
    )

    # then the edit is kept and so is the use counted meanwhile
    assert response.status_code == 302
    promo.refresh_from_db()
    assert (promo.description, promo.used_count) == ("edited", 1)


def test_a_stale_copy_of_a_promo_never_writes_its_counter_back(tariff_1m):
    promo = PromoCodeFactory(code="STALE", max_uses=5)
    stale = PromoCode.objects.get(pk=promo.pk)
    paid_payment(promo_code="STALE")

    stale.description = "renamed"
    stale.save()

    promo.refresh_from_db()
    assert (promo.description, promo.used_count) == ("renamed", 1)
