"""Emails about withdrawal requests (console backend by default)."""
import logging

from django.core.mail import send_mail

from refunds.models import WithdrawalRequest

log = logging.getLogger(__name__)


def withdrawal_notify_send(*, event: str, request_id: int) -> None:
    request = WithdrawalRequest.objects.select_related("wallet__consumer__user", "wallet__store").filter(pk=request_id).first()
    if request is None:
        return
    user = request.wallet.consumer.user
    if event in {"refunded", "retention_message"} and user.email:
        subject = {"refunded": "Your allowance has been refunded", "retention_message": "A message from the store"}[event]
        send_mail(subject, f"Withdrawal request #{request.pk}: {event}.", None, [user.email])
