"""`python manage.py release`: the release step, run once per deploy before the
new processes start (the Procfile's `release`, compose's `release` service).

The deploy checks, then the migrations, then the static files (hashed and
compressed for whitenoise). Idempotent; a failure exits non-zero so that the
deploy stops before new code meets an old schema. Never creates demo data.
"""

from __future__ import annotations

import io
import logging

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("ops.release")


class Command(BaseCommand):
    help = "Release step: deploy checks, migrations, collectstatic (no demo data)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--skip-static", action="store_true", help="static files are already collected")

    def handle(self, *args, skip_static: bool, **options) -> None:
        report = io.StringIO()
        try:
            call_command("check", deploy=True, fail_level="ERROR", stdout=report, stderr=report)
        except Exception as exc:  # noqa: BLE001 - SystemCheckError: say what failed, stop the deploy
            raise CommandError(f"deploy checks failed:\n{report.getvalue()}{exc}")
        for line in filter(None, report.getvalue().splitlines()):
            logger.info("check: %s", line)
        call_command("migrate", interactive=False, verbosity=0)
        logger.info("release: migrations applied")
        if not skip_static:
            call_command("collectstatic", interactive=False, verbosity=0)
            logger.info("release: static files collected")
        logger.info("release: done")
