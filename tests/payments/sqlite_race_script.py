"""Run by test_sqlite_concurrency: many threads pay on a real SQLite file.

Not a test module itself (no test_ prefix); it sets up Django on the
DATABASE_URL it is given, migrates, and prints a JSON summary.
"""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from payments.charges import Charge  # noqa: E402
from payments.gateways.balance import purchase_pay_from_balance  # noqa: E402
from payments.ledger import balance_adjust  # noqa: E402
from payments.models import LedgerEntry  # noqa: E402
from payments.services import purchase_complete, purchase_create_invoice  # noqa: E402
from users.services import user_get_or_create_from_telegram  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    payer = user_get_or_create_from_telegram(telegram_id=1)
    payment = purchase_create_invoice(user=payer, tariff="1m").payment
    spender = user_get_or_create_from_telegram(telegram_id=2)
    balance_adjust(user=spender, delta=500, reason="funding")

    def deliver(_):
        try:
            return purchase_complete(
                Charge(payload=payment.invoice_payload, charge_id="same", amount=payment.amount, currency="XTR")
            ).created
        finally:
            connections.close_all()

    def spend(_):
        try:
            purchase_pay_from_balance(user=spender, tariff="1m")
            return "ok"
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__
        finally:
            connections.close_all()

    with ThreadPoolExecutor(10) as pool:
        grants = list(pool.map(deliver, range(20)))
        spends = list(pool.map(spend, range(20)))
    spender.refresh_from_db()
    print(
        json.dumps(
            {
                "grants": sum(grants),
                "ledger_rows": LedgerEntry.objects.filter(payment=payment).count(),
                "spends_ok": spends.count("ok"),
                "spends_refused": sorted(set(s for s in spends if s != "ok")),
                "balance": spender.stars_balance,
            }
        )
    )


main()
