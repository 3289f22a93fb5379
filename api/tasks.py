"""Celery entry points for the API's periodic work (thin)."""

from celery import shared_task

from api.idempotency import idempotency_keys_purge


@shared_task(name="api.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return idempotency_keys_purge()
