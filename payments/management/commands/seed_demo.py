import secrets
from datetime import timedelta

from axes.utils import reset as signin_failures_reset
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from promos.models import PromoCode
from subscriptions.models import Tariff
from users.models import User

DEMO_PROMOS = (
    # code, percent, bonus days, max uses
    ("PROMO10", 10, 0, 100),
    ("BONUS7", 0, 7, 50),
    ("SUPER2025", 20, 14, 200),
)


class Command(BaseCommand):
    help = "Load demo data: the demo promo codes and a demo admin (prints its password)."

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")

    @transaction.atomic
    def handle(self, *args, admin_username: str, **options):
        if not settings.DEBUG:
            # Public promo codes and a superuser whose password is reset: never in production.
            raise CommandError("seed_demo is for the demo only: it runs with DJANGO_DEBUG=true (make run)")
        if not Tariff.objects.exists():
            self.stderr.write("No tariffs: run `manage.py migrate` first (it creates the default tariffs).")
        expires = timezone.now() + timedelta(days=365)
        for code, percent, bonus, max_uses in DEMO_PROMOS:
            PromoCode.objects.get_or_create(
                code=code,
                defaults={
                    "discount_percent": percent,
                    "bonus_days": bonus,
                    "max_uses": max_uses,
                    "expires_at": expires if code == "PROMO10" else None,
                },
            )
        password = secrets.token_urlsafe(12)
        admin = User.objects.filter(username=admin_username).first() or User(username=admin_username)
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        signin_failures_reset(username=admin_username)  # tries that locked the demo admin out are forgotten
        tariffs = ", ".join(f"{t.code}={t.price_stars}" for t in Tariff.objects.order_by("sort_order"))
        self.stdout.write(f"Tariffs: {tariffs}")
        self.stdout.write(f"Promo codes: {', '.join(code for code, *_ in DEMO_PROMOS)}")
        self.stdout.write(self.style.SUCCESS(f"Demo admin: username={admin_username} password={password}"))
        self.stdout.write("Admin: http://127.0.0.1:8000/admin/  (a new password is printed on every run)")
        if settings.STAFF_2FA_REQUIRED:
            self.stdout.write(
                "Two-factor sign-in is on: the admin asks you to set up an authenticator app at the first sign-in "
                "(STAFF_2FA_REQUIRED=false turns it off, in debug only)."
            )
        else:
            self.stdout.write("Two-factor sign-in is off for this debug run (STAFF_2FA_REQUIRED=false).")
