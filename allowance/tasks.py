"""Celery tasks of the allowance app: housekeeping, safe to run any number of times."""
from celery import shared_task

from core.api.idempotency import idempotency_keys_purge


@shared_task
def purge_idempotency_keys() -> int:
    """Forget stored API answers whose Idempotency-Key has expired (the table does not grow for ever)."""
    return idempotency_keys_purge()
