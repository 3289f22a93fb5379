from django.core.management.base import BaseCommand, CommandError

from core.audit import staff_context
from users.models import User
from users.two_factor import two_factor_reset


class Command(BaseCommand):
    help = (
        "Remove a staff member's authenticator and recovery codes (a lost phone): they set up a new one "
        "at their next sign-in. Recorded in the staff actions."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = User.objects.filter(username=username, is_staff=True).first()
        if user is None:
            raise CommandError(f"no staff account named {username!r}")
        with staff_context(label="manage.py reset_two_factor"):
            removed = two_factor_reset(user=user)
        self.stdout.write(f"two-factor reset for {username} ({removed} devices removed)")
