"""Celery entry points for broadcasts (thin: the work lives in broadcasts/sending.py)."""

from __future__ import annotations

from celery import shared_task, signals

from broadcasts import sending


@shared_task(name="broadcasts.run_broadcast")
def run_broadcast(broadcast_id: int) -> int:
    """Send a slice of the broadcast (if no other run holds it); the slice hands the rest over."""
    return sending.run_slice(broadcast_id=broadcast_id).sent


@shared_task(name="broadcasts.send_test")
def send_test(broadcast_id: int) -> bool:
    return sending.send_test(broadcast_id=broadcast_id)


@shared_task(name="broadcasts.sweep")
def sweep() -> int:
    """Hand over broadcasts still sending that nobody runs (a lost hand-over, a dead worker)."""
    return len(sending.sweep())


@signals.worker_shutting_down.connect
def _stop_after_the_batch_in_hand(**_kwargs) -> None:
    # A warm shutdown waits for running tasks: a broadcast run ends after its current batch and
    # hands the rest to the queue, instead of holding the shutdown for a whole slice.
    sending.request_stop()
