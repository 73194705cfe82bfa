"""Celery tasks of the allowance app, named like the services they call; safe to run any number of times."""
from celery import shared_task


@shared_task
def wallet_expiry_remind_due() -> int:
    """Email the consumers whose allowance expires within seven days (once per wallet)."""
    from allowance import reminders

    return reminders.wallet_expiry_remind_due()
