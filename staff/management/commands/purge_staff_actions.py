from django.core.management.base import BaseCommand

from staff.tasks import purge_staff_actions


class Command(BaseCommand):
    help = "Delete staff actions and failed sign-ins older than STAFF_AUDIT_RETENTION_DAYS (also a daily task)."

    def handle(self, *args, **options):
        self.stdout.write(f"deleted {purge_staff_actions()} rows past the retention")
