"""Celery entry points for provisioning and reminders (thin: the work lives in the modules they call)."""

from __future__ import annotations

from celery import shared_task

from subscriptions import panel_health, provisioning, reminders


@shared_task(name="subscriptions.run_provisioning_task")
def run_provisioning_task(task_id: int) -> bool:
    """Run one outbox row if it is due and free; a busy or finished row is left alone."""
    return provisioning.run_task(task_id=task_id)


@shared_task(name="subscriptions.sweep_outbox")
def sweep_outbox() -> int:
    """Hand due outbox rows (retries, rows of a worker that died) to the workers."""
    return len(provisioning.sweep_due())


@shared_task(name="subscriptions.send_expiry_reminders")
def send_expiry_reminders() -> int:
    return reminders.send_expiry_reminders().sent


@shared_task(name="subscriptions.check_panel")
def check_panel() -> bool:
    """Ask the panel about the shop's configuration; closing a problem releases the waiting syncs."""
    return panel_health.panel_check_run().ok
