from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from payments.reconciliation import MAX_PAGE_SIZE, reconcile_star_transactions


class Command(BaseCommand):
    help = (
        "Compare the bot's Telegram Star transactions with the local payments: complete payments whose "
        "update was lost, book refunds made outside the bot, report what does not match."
    )

    def add_arguments(self, parser):
        parser.add_argument("--page-size", type=int, default=MAX_PAGE_SIZE, help="getStarTransactions page (1-100)")
        parser.add_argument(
            "--fail-on-mismatch", action="store_true", help="exit non-zero when something does not match (for cron)"
        )

    def handle(self, *args, **options):
        try:
            report = reconcile_star_transactions(page_size=options["page_size"])
        except ApplicationError as exc:
            raise CommandError(str(exc.message))
        for item in report.completed:
            self.stdout.write(f"completed {item['purchase_id']} (charge {item['charge_id']}, {item['amount']} XTR)")
        for item in report.refunds_booked:
            self.stdout.write(f"refund booked {item['purchase_id']} (charge {item['charge_id']}, {item['amount']} XTR)")
        for item in report.holds_released:
            self.stdout.write(f"refund hold released {item['purchase_id']} (Telegram made no refund)")
        for item in report.mismatches:
            self.stderr.write(f"mismatch {item['kind']}: charge {item['charge_id']}: {item['detail']}")
        self.stdout.write(
            f"{report.transactions_seen} transactions seen, {report.fixed_count} fixed, "
            f"{report.mismatch_count} mismatches (run {report.run.pk})"
        )
        if report.error:
            raise CommandError(report.error)
        if options["fail_on_mismatch"] and report.mismatch_count:
            raise CommandError(f"{report.mismatch_count} mismatches")
