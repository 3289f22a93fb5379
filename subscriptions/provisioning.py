"""Runs provisioning tasks (the outbox written by the subscription services).

With PROVISIONING_BACKEND=none the subscription lives only in the database:
a task is done as soon as it runs.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscriptions.models import ProvisioningTask

logger = logging.getLogger(__name__)


def run_task_after_commit(task_id: int) -> None:
    """Best effort right after commit; failures are left for `process_provisioning`."""
    try:
        run_task(task_id=task_id)
    except Exception:  # noqa: BLE001 - the queue retries; never break the caller
        logger.exception("provisioning task %s failed after commit; it will be retried", task_id)


def run_task(*, task_id: int) -> bool:
    """Claim the task (skipping it when another worker holds it) and run it."""
    with transaction.atomic():
        task = (
            ProvisioningTask.objects.select_for_update(skip_locked=True)
            .filter(pk=task_id, status__in=[ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING])
            .first()
        )
        if task is None:
            return False
        if settings.PROVISIONING_BACKEND == "none":
            task.status = ProvisioningTask.Status.DONE
            task.attempts += 1
            task.done_at = timezone.now()
            task.save(update_fields=["status", "attempts", "done_at", "updated_at"])
            return True
    return False
