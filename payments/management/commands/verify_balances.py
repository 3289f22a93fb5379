from django.core.management.base import BaseCommand, CommandError

from payments.ledger import balances_verify


class Command(BaseCommand):
    help = "Check that every user's cached Stars balance equals the sum of their ledger rows."

    def handle(self, *args, **options):
        mismatches = balances_verify()
        for m in mismatches:
            self.stderr.write(f"user {m.user_id}: cached {m.cached} != ledger {m.ledger}")
        if mismatches:
            raise CommandError(f"{len(mismatches)} balance(s) differ from the ledger")
        self.stdout.write("all balances equal the ledger")
