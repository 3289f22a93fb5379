from django.core.management.base import BaseCommand

from api.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = "Delete expired Idempotency-Key records (they are also replaced lazily when reused)."

    def handle(self, *args, **options):
        self.stdout.write(f"deleted {idempotency_keys_purge()} expired idempotency keys")
