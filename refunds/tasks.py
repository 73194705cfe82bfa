"""Celery tasks: another front door, named like the services they call (<entity>_<action>). They take ids, call services and are safe to run twice.

Every task is idempotent and reads what is due from the database, so the broker's weak spots do not touch
money: a message delivered twice (Redis visibility timeout, a second beat) finds its work already done or
claimed; a message lost (a worker killed with SIGKILL, a broker restart, an enqueue that failed after
commit) is replaced by the next beat, which sweeps due requests and expired wallets again and re-drives
overdue payouts. `acks_late` plus `reject_on_worker_lost` (settings) return a killed worker's message
to the queue as well.
"""
from celery import shared_task

from refunds import notifications, payouts, services


@shared_task
def withdrawal_refund_due() -> int:
    """Refund every request whose hold has ended (`resolution=auto`)."""
    return services.withdrawal_refund_due()


@shared_task
def wallet_expire_due() -> int:
    """Close expired wallets: principal refunded, bonus lapses (`resolution=expiry`)."""
    return services.wallet_expire_due()


@shared_task
def refund_payouts(refund_ids: list[int]) -> int:
    """Pay these refunds, `PAYOUT_BATCH_SIZE` per gateway call; each only if it is due and nobody else holds it.
    Returns how many were paid."""
    return payouts.refund_payouts_pay(refund_ids=refund_ids)


@shared_task
def refund_payouts_redrive() -> int:
    """Enqueue again the payouts whose message is overdue (lost, or held by a dead worker)."""
    return payouts.refund_payouts_redrive()


@shared_task
def withdrawal_held_notify_due() -> int:
    """Email the store's staff about requests that started their hold since the last run."""
    return notifications.withdrawal_held_notify_due()


@shared_task
def withdrawal_expiry_notify_due() -> int:
    """Email the consumers whose allowance was closed by expiry since the last run (the expiry's outbox)."""
    return notifications.withdrawal_expiry_notify_due()


@shared_task
def withdrawal_notify(event: str, request_id: int) -> bool:
    return notifications.withdrawal_notify_send(event=event, request_id=request_id)


@shared_task
def withdrawal_notify_fan_out(event: str, request_ids: list[int]) -> int:
    """A sweep batch's emails arrive as one message; each request gets its own email message from here."""
    for request_id in request_ids:
        notifications.withdrawal_notify_enqueue(event=event, request_id=request_id)
    return len(request_ids)


@shared_task
def insights_rollup_all() -> int:
    """Keep every campaign's settled days of insights (refunds.insights), so pages read small rows."""
    from refunds import insights

    return insights.insights_rollup_all()
