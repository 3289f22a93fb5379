"""Celery entry points for the staff audit trail's retention (thin)."""

from axes.handlers.proxy import AxesProxyHandler
from celery import shared_task
from django.conf import settings

from core.audit import staff_actions_purge


@shared_task(name="staff.purge_staff_actions")
def purge_staff_actions() -> int:
    """Staff actions and failed sign-ins older than STAFF_AUDIT_RETENTION_DAYS."""
    failures = AxesProxyHandler.reset_failure_logs(age_days=settings.STAFF_AUDIT_RETENTION_DAYS)
    return staff_actions_purge() + failures
