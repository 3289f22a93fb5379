"""Celery entry points for payments' periodic work (thin)."""

from __future__ import annotations

import logging

from celery import shared_task

from integrations.telegram import telegram_configured
from payments.dashboard import star_balance_refresh
from payments.owner_reports import owner_daily_summary_record
from payments.reconciliation import reconcile_star_transactions
from payments.services import payments_expire_stale
from payments.star_subscriptions import star_subscription_tell_auto_renewal_off, star_subscriptions_expire
from payments.subscribers import subscriber_snapshot_record

logger = logging.getLogger(__name__)


@shared_task(name="payments.expire_stale_invoices")
def expire_stale_invoices() -> int:
    return payments_expire_stale()


@shared_task(name="payments.reconcile_stars")
def reconcile_stars() -> int:
    """Completes payments whose update was lost and books refunds made elsewhere; 0 without a bot token."""
    if not telegram_configured():
        return 0
    report = reconcile_star_transactions()
    if not report.ok:
        logger.error("reconciliation run %s: %s mismatches %s", report.run.pk, report.mismatch_count, report.error)
    return report.fixed_count


@shared_task(name="payments.refresh_star_balance")
def refresh_star_balance() -> int | None:
    return star_balance_refresh()


@shared_task(name="payments.expire_star_subscriptions")
def expire_star_subscriptions() -> int:
    """Star subscriptions whose paid period ended without a renewal (or that were canceled) end."""
    return star_subscriptions_expire()


@shared_task(name="payments.tell_auto_renewal_off")
def tell_auto_renewal_off(subscription_id: int) -> bool:
    """The buyer's note: a refund Telegram refused left their auto-renewal off."""
    return star_subscription_tell_auto_renewal_off(subscription_id=subscription_id)


@shared_task(name="payments.count_subscribers")
def count_subscribers() -> int:
    """Today's subscriber count for the dashboard's history (each run overwrites today's)."""
    return subscriber_snapshot_record().active


@shared_task(name="payments.owner_daily_summary")
def owner_daily_summary() -> bool:
    """Yesterday's summary for the owner's chat, once a day from OWNER_SUMMARY_HOUR."""
    return owner_daily_summary_record()
