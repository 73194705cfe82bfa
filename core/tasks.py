"""Celery tasks of the plumbing: housekeeping, safe to run any number of times."""
from celery import shared_task

from core.api import idempotency


@shared_task
def idempotency_keys_purge() -> int:
    """Forget stored API answers whose Idempotency-Key has expired (the table does not grow for ever)."""
    return idempotency.idempotency_keys_purge()
