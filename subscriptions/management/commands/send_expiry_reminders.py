from django.core.management.base import BaseCommand

from subscriptions.reminders import send_expiry_reminders


class Command(BaseCommand):
    help = "Send expiry reminders (3 days, 1 day, expired) once per subscription period; cron-safe."

    def handle(self, *args, **options):
        result = send_expiry_reminders()
        self.stdout.write(f"reminders sent: {result.sent}, failed: {result.failed}, already sent: {result.skipped}")
