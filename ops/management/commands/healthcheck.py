"""`python manage.py healthcheck`: the readiness checks from the command line,
for processes without a web server (compose's bot healthcheck:
`--require bot_polling`). Prints the JSON and exits 1 when not ready."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from ops.health import run_checks


class Command(BaseCommand):
    help = "Run the readiness checks; exit 1 unless ready."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--require",
            action="append",
            default=[],
            metavar="CHECK",
            help="also require this check (cache, broker, outbox, panel_refunds, panel, bot_polling); repeatable",
        )

    def handle(self, *args, require: list[str], **options) -> None:
        ready, body = run_checks(required=frozenset(require))
        self.stdout.write(json.dumps(body))
        if not ready:
            sys.exit(1)
