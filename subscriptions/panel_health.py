"""The panel as the shop's configuration meets it: its release, the token's permissions,
the squads; and the problems only the owner can fix, recorded once per cause.

A provisioning call refused for configuration (a 401, a 403, an unknown squad) opens a
PanelProblem and the outbox waits PROVISIONING_CONFIG_RETRY_SECONDS instead of retrying
with backoff until it gives up. The panel check (periodic, and `manage.py panel_check`)
asks the panel what the token may do without changing anything, stores the answer for
the readiness endpoint, and closes the problems it no longer finds: the waiting rows
are then due at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from integrations.remnawave import (
    PanelConfigError,
    PanelError,
    PanelPermissionDenied,
    PanelSquad,
    PanelTokenRejected,
    RemnawaveClient,
)
from notifications.models import AlertKind
from notifications.owner import owner_alert, owner_condition
from subscriptions.backends import RemnawaveBackend, get_backend
from subscriptions.models import Location, PanelCheck, PanelProblem, ProvisioningTask

logger = logging.getLogger(__name__)

# What the shop asks of the panel, by the scope names of its API tokens (2.8.0+).
PERMISSIONS = {
    "system:metadata": "read the panel's version (or set REMNAWAVE_API_VERSION)",
    "users:by-username": "find a user by username",
    "users:create": "create users",
    "users:update": "update users (expiry, status, limits)",
    "users:disable": "disable users",
    "internal-squads:list": "list internal squads (to check REMNAWAVE_SQUADS)",
    "hwid-user-devices:list-by-user": "list a buyer's devices (the buyer's Devices screen)",
    "hwid-user-devices:delete": "remove a buyer's device (the buyer's Devices screen)",
}
# A name no shop derives (usernames are the prefix and digits): a lookup answers 404.
PROBE_USERNAME = "permission-probe"
# Not a uuid and not a number: every release refuses it with 400, after the scope check.
PROBE_REF = "permission-probe"


@dataclass
class PanelReport:
    """One panel check. `ok` when the panel answers and lets the shop do all it needs."""

    configured: bool = True
    reachable: bool = False
    version: str = ""
    squads: list[PanelSquad] = field(default_factory=list)
    unknown_squads: list[str] = field(default_factory=list)
    missing_permissions: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and not self.missing_permissions and not self.unknown_squads and not self.error

    def problems(self) -> dict[str, str]:
        """cause -> plain words, for the configuration problems this check found."""
        found = {}
        if self.error.startswith("the panel refused REMNAWAVE_TOKEN"):
            found[PanelTokenRejected.cause] = self.error
        for scope in self.missing_permissions:
            found[f"permission:{scope}"] = f"the panel token may not {PERMISSIONS.get(scope, scope)} (scope {scope})"
        if self.unknown_squads:
            found["unknown_squads"] = (
                "REMNAWAVE_SQUADS or a location names internal squads the panel does not have: "
                + ", ".join(self.unknown_squads)
            )
        return found


def inspect_panel(client: RemnawaveClient, *, squads: list[str]) -> PanelReport:
    """Ask the panel about the shop's configuration; nothing on the panel changes."""
    report = PanelReport()
    try:
        version = client.read_version()
        report.version = version.label
        report.reachable = True
    except PanelTokenRejected as exc:
        report.reachable, report.error = True, str(exc.message)
        return report
    except PanelPermissionDenied:
        # Only auto-detection needs the version from the panel; a pinned release does not.
        report.reachable = True
        report.version = client.api_version if client.pinned else ""
        if not client.pinned:
            report.missing_permissions.append("system:metadata")
    except PanelError as exc:
        report.error = str(exc)
        return report
    _may(client, report, "users:by-username", "GET", f"/api/users/by-username/{PROBE_USERNAME}")
    _may(client, report, "users:create", "POST", "/api/users", json={})
    _may(client, report, "users:update", "PATCH", "/api/users", json={})
    _may(client, report, "users:disable", "POST", f"/api/users/{PROBE_REF}/actions/disable")
    _may(client, report, "hwid-user-devices:list-by-user", "GET", f"/api/hwid/devices/{PROBE_REF}")
    _may(client, report, "hwid-user-devices:delete", "POST", "/api/hwid/devices/delete", json={})
    try:
        report.squads = client.internal_squads()
    except PanelPermissionDenied:
        report.missing_permissions.append("internal-squads:list")
    except PanelError as exc:
        report.error = str(exc)
    else:
        known = {squad.uuid for squad in report.squads}
        report.unknown_squads = [squad for squad in squads if squad not in known]
    return report


def _may(client: RemnawaveClient, report: PanelReport, scope: str, method: str, path: str, *, json=None) -> None:
    try:
        allowed = client.may(method, path, json=json)
    except PanelError as exc:
        report.error = report.error or str(exc)
        return
    if not allowed:
        report.missing_permissions.append(scope)


def panel_check_record(report: PanelReport) -> PanelCheck:
    """Store the check for readiness and the admin; open the problems it found and close the
    ones it did not (an unreachable panel decides nothing about the configuration)."""
    now = timezone.now()
    with transaction.atomic():
        check, _ = PanelCheck.objects.update_or_create(
            pk=1,
            defaults={
                "checked_at": now,
                "reachable": report.reachable,
                "version": report.version[:16],
                "missing_permissions": report.missing_permissions,
                "unknown_squads": report.unknown_squads,
                "squads": [{"uuid": squad.uuid, "name": squad.name} for squad in report.squads],
                "error": report.error,
            },
        )
        # The owner hears once when the panel stops answering, and once when it answers again.
        if owner_condition(name=PANEL_UNREACHABLE, active=not report.reachable, now=now):
            if report.reachable:
                owner_alert(kind=AlertKind.PANEL, event="up", details={"path": _problems_path()})
            else:
                details = {"error": report.error[:300], "path": _problems_path()}
                owner_alert(kind=AlertKind.PANEL, event="down", details=details)
        if not report.reachable:
            return check
        found = report.problems()
        for cause, message in found.items():
            panel_problem_report(cause=cause, message=message)
        resolved = 0
        for cause, message in (
            PanelProblem.objects.filter(resolved_at__isnull=True)
            .exclude(cause__in=list(found))
            .values_list("cause", "message")
        ):
            # One row at a time, conditionally: a concurrent check resolving it too makes no second alert.
            if PanelProblem.objects.filter(cause=cause, resolved_at__isnull=True).update(resolved_at=now):
                resolved += 1
                owner_alert(
                    kind=AlertKind.PANEL, event="resolved", details={"message": message, "path": _problems_path()}
                )
        if resolved:
            logger.info("panel configuration problems resolved: the waiting provisioning runs now")
            _release_waiting_tasks(now=now)
    return check


PANEL_UNREACHABLE = "panel unreachable"


def _problems_path() -> str:
    return reverse("admin:subscriptions_panelproblem_changelist")


def panel_problem_report(*, cause: str, message: str) -> bool:
    """Record a configuration problem; True when it is new (or back after being resolved),
    which is when it is logged: a thousand refused calls make one report."""
    now = timezone.now()
    cause = cause[:80]
    reopened = PanelProblem.objects.filter(cause=cause, resolved_at__isnull=False).update(
        resolved_at=None, first_seen_at=now, last_seen_at=now, occurrences=1, message=message
    )
    if reopened:
        logger.error("panel configuration problem: %s", message)
        _problem_alert(message)
        return True
    seen = PanelProblem.objects.filter(cause=cause).update(last_seen_at=now, occurrences=F("occurrences") + 1)
    if seen:
        return False
    try:
        with transaction.atomic():
            PanelProblem.objects.create(cause=cause, message=message, first_seen_at=now, last_seen_at=now)
    except IntegrityError:  # another worker recorded it first
        PanelProblem.objects.filter(cause=cause).update(last_seen_at=now, occurrences=F("occurrences") + 1)
        return False
    logger.error("panel configuration problem: %s", message)
    _problem_alert(message)
    return True


def _problem_alert(message: str) -> None:
    """A configuration problem, new or back: once per cause (repeats only count occurrences)."""
    owner_alert(kind=AlertKind.PANEL, event="problem", details={"message": message[:300], "path": _problems_path()})


def config_wait_until(*, now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.PROVISIONING_CONFIG_RETRY_SECONDS)


def defer_syncs_for_configuration(*, until) -> int:
    """Every due panel sync waits with the one that met the problem: the panel would refuse
    them all the same, and a storm of refused calls helps nobody."""
    return ProvisioningTask.objects.filter(
        kind=ProvisioningTask.Kind.SYNC,
        status__in=(ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING),
        next_attempt_at__lt=until,
    ).update(next_attempt_at=until)


def _release_waiting_tasks(*, now) -> int:
    return ProvisioningTask.objects.filter(
        kind=ProvisioningTask.Kind.SYNC,
        status__in=(ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING),
        next_attempt_at__gt=now,
    ).update(next_attempt_at=now, enqueued_at=None)


def is_configuration_error(exc: BaseException) -> bool:
    return isinstance(exc, PanelConfigError)


def panel_check_run() -> PanelReport:
    """Check the configured panel now and record the answer (PROVISIONING_BACKEND=none: nothing to check)."""
    backend = get_backend()
    if not isinstance(backend, RemnawaveBackend):
        return PanelReport(configured=False)
    # The squads of every location on sale too: a location naming a squad the panel lacks is a problem.
    location_squads = [
        squad
        for squads in Location.objects.filter(is_active=True).values_list("squads", flat=True)
        for squad in (squads or [])
    ]
    squads = list(dict.fromkeys([*backend.squads, *location_squads]))
    report = inspect_panel(backend.client, squads=squads)
    panel_check_record(report)
    return report
