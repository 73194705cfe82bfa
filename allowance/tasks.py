"""Celery tasks of the allowance app: housekeeping, safe to run any number of times."""
from celery import shared_task

from allowance.api.idempotency import idempotency_keys_purge


@shared_task
def purge_idempotency_keys() -> int:
    """Forget stored API answers whose Idempotency-Key has expired (the table does not grow for ever)."""
    return idempotency_keys_purge()


@shared_task
def remind_expiring_wallets() -> int:
    """Email the consumers whose allowance expires within seven days (once per wallet)."""
    from allowance.reminders import wallet_expiry_remind_due

    return wallet_expiry_remind_due()
