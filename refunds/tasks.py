"""Celery tasks: another front door. They take ids, call services and are safe to run twice."""
from celery import shared_task

from refunds import payouts, services
from refunds.notifications import withdrawal_notify_send


@shared_task
def refund_due_withdrawals() -> int:
    return services.withdrawal_refund_due()


@shared_task
def expire_wallets() -> int:
    return services.wallet_expire_due()


@shared_task
def refund_payout(refund_id: int) -> str:
    return payouts.refund_payout_execute(refund_id=refund_id)


@shared_task
def withdrawal_notify(event: str, request_id: int) -> None:
    withdrawal_notify_send(event=event, request_id=request_id)
