from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create
from api.models import DEFAULT_SCOPES, Scope
from core.audit import staff_context
from core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Create an API key for a trusted backend and print it once (it is stored hashed). "
        f"Scopes: {', '.join(Scope.values)}; without --scope: {', '.join(DEFAULT_SCOPES)}."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. 'billing backend'.")
        parser.add_argument(
            "--scope", action="append", dest="scopes", metavar="SCOPE", help="grant this scope (repeatable)"
        )
        parser.add_argument("--all-scopes", action="store_true", help="grant every scope (demo and test servers)")

    def handle(self, *args, name: str, scopes: list[str] | None, all_scopes: bool, **options):
        if all_scopes:
            scopes = list(Scope.values)
        try:
            with staff_context(label="manage.py create_api_key"):
                issued = api_key_create(name=name, scopes=scopes)
        except ApplicationError as exc:
            raise CommandError(str(exc.message))
        self.stderr.write(f"scopes: {', '.join(issued.api_key.scopes) or 'none'}")
        self.stdout.write(issued.raw_key)
