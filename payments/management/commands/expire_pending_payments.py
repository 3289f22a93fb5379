from datetime import timedelta

from django.core.management.base import BaseCommand

from payments.services import payments_expire_stale


class Command(BaseCommand):
    help = "Expire pending invoices older than PAYMENT_PENDING_TTL_MINUTES (for cron; safe to overlap)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-minutes", type=int, default=None)

    def handle(self, *args, older_than_minutes: int | None, **options):
        older_than = timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None
        count = payments_expire_stale(older_than=older_than)
        self.stdout.write(f"expired {count} pending payment(s)")
