from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from subscriptions.panel_health import PERMISSIONS, panel_check_run


class Command(BaseCommand):
    help = (
        "Ask the Remnawave panel about the shop's configuration: its version, the internal squads the token "
        "can see, whether REMNAWAVE_SQUADS exist, and each permission the token lacks. Changes nothing on the "
        "panel; exits with 1 when something needs fixing."
    )

    def handle(self, *args, **options):
        if settings.PROVISIONING_BACKEND != "remnawave":
            self.stdout.write("PROVISIONING_BACKEND=none: subscriptions live in the database, no panel to check.")
            return
        report = panel_check_run()
        write = self.stdout.write
        write(f"Panel:    {settings.REMNAWAVE_URL}")
        if not report.reachable:
            raise CommandError(f"the panel did not answer: {report.error}")
        pinned = settings.REMNAWAVE_API_VERSION
        source = "from the panel" if pinned == "auto" else f"pinned by REMNAWAVE_API_VERSION={pinned}"
        write(f"Version:  {report.version or 'unknown'} ({source})")
        if report.squads:
            write("Internal squads the token can see:")
            for squad in report.squads:
                mark = "*" if squad.uuid in settings.REMNAWAVE_SQUADS else " "
                write(f"  {mark} {squad.uuid}  {squad.name}")
            write("  (* = in REMNAWAVE_SQUADS)")
        if not settings.REMNAWAVE_SQUADS:
            write(self.style.WARNING("REMNAWAVE_SQUADS is empty: new panel users get no servers."))
        for squad in report.unknown_squads:
            write(self.style.ERROR(f"REMNAWAVE_SQUADS names {squad}, which the panel does not have."))
        for scope in report.missing_permissions:
            write(self.style.ERROR(f"The token may not {PERMISSIONS.get(scope, scope)}: add the scope {scope}."))
        if report.error:
            write(self.style.ERROR(report.error))
        if not report.ok:
            raise CommandError("the panel refuses part of what the shop needs (see above)")
        write(self.style.SUCCESS("The token may do everything the shop needs."))
