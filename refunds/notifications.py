"""Emails about withdrawal requests (console backend by default), sent by a worker after commit.

- `withdrawal_held`: the merchant staff of the store, for a request that waits for the hold — how much
  time they have left to contact the consumer (refund now or ask them to keep the allowance). The held
  request is its own outbox row (`staff_notified_at` empty): `withdrawal_held_notify_due`, run by beat every
  `NOTIFY_INTERVAL_SECONDS`, sends these. The request path publishes nothing, and a broker outage at the
  moment of the request cannot lose the email.
- `refunded`: the consumer, when their principal is refunded (any resolution). After an expiry the request is
  its own outbox row (`consumer_notified_at` empty), sent by `withdrawal_expiry_notify_due` on the same beat:
  a mass expiry publishes no message per wallet.
- `retention_message`: the consumer, when the store sends a retention message (挽留).

A message may be delivered twice by the broker; each email is sent once per (event, request) — per
retention message for those — guarded by an atomic `cache.add`.
"""
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from core.money import fen_to_yuan
from refunds.locks import requests_to_notify_claim
from refunds.models import RetentionMessage, WithdrawalRequest

log = logging.getLogger(__name__)
SENT_MARK_SECONDS = 7 * 24 * 3600


def withdrawal_notify_enqueue(*, event: str, request_id: int) -> None:
    """Queue an email; a broker outage loses the email, never the money movement that caused it."""
    from refunds.tasks import withdrawal_notify

    try:
        withdrawal_notify.delay(event, request_id)
    except Exception:
        log.exception("could not enqueue the %s email for withdrawal request %s", event, request_id)


def withdrawal_held_notify_due(*, batch_size: int | None = None) -> int:
    """Email the staff about every held request not yet announced; returns how many emails went out."""
    unnotified = WithdrawalRequest.objects.filter(status=WithdrawalRequest.Status.PENDING, staff_notified_at=None)
    return _outbox_send(unnotified, order=("requested_at", "pk"), mark="staff_notified_at", event="withdrawal_held",
                        batch_size=batch_size)


def withdrawal_expiry_notify_due(*, batch_size: int | None = None) -> int:
    """Email each consumer whose request was ended by expiry and not yet told; returns how many emails went out.

    The expiry job writes these requests in batches and publishes nothing per wallet: this outbox is the email.
    """
    unnotified = WithdrawalRequest.objects.filter(status=WithdrawalRequest.Status.REFUNDED,
                                                  resolution=WithdrawalRequest.Resolution.EXPIRY, consumer_notified_at=None)
    return _outbox_send(unnotified, order=("resolved_at", "pk"), mark="consumer_notified_at", event="refunded",
                        batch_size=batch_size)


def _outbox_send(unnotified, *, order: tuple[str, str], mark: str, event: str, batch_size: int | None) -> int:
    """Send the email of every request in `unnotified` (an outbox: `mark` empty) and fill `mark` in.

    Each batch is claimed (SKIP LOCKED, so two workers share the work) and marked in a short transaction, then
    emailed; a request whose email fails is unmarked, so the next run tries again. `_send_once` keeps a
    redelivered claim from emailing twice.
    """
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    sent, failed = 0, set()
    while True:
        with transaction.atomic():
            ids = requests_to_notify_claim(queryset=unnotified.exclude(pk__in=failed), order=order, limit=batch_size)
            if not ids:
                return sent
            WithdrawalRequest.objects.filter(pk__in=ids).update(**{mark: timezone.now()})
        for request_id in ids:
            try:
                sent += withdrawal_notify_send(event=event, request_id=request_id)
            except Exception:
                log.exception("could not send the %s email of withdrawal request %s; the next run retries",
                              event, request_id)
                failed.add(request_id)
                WithdrawalRequest.objects.filter(pk=request_id).update(**{mark: None})


def _time_left(request: WithdrawalRequest, now) -> str:
    seconds = max(int((request.due_at - now).total_seconds()), 0) if request.due_at else 0
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours == 0:  # short holds (demo, tests) would otherwise read "0 h 00 min"
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": seconds}
    return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}


def _staff_emails(request: WithdrawalRequest) -> list[str]:
    User = get_user_model()
    users = User.objects.filter(store_memberships__store_id=request.wallet.store_id, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def _send_once(mark: str, subject: str, body: str, recipients: list[str]) -> bool:
    if not recipients:
        return False
    mark = f"notified:{mark}"
    if not cache.add(mark, 1, SENT_MARK_SECONDS):
        return False
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        cache.delete(mark)  # let a redelivery try again
        raise
    return True


def withdrawal_notify_send(*, event: str, request_id: int, now=None) -> bool:
    """Send the email for one event of a withdrawal request. Returns whether an email went out."""
    now = now or timezone.now()
    request = (
        WithdrawalRequest.objects.select_related("wallet__consumer__user", "wallet__store", "wallet__campaign")
        .filter(pk=request_id).first()
    )
    if request is None:
        return False
    wallet = request.wallet
    consumer = wallet.consumer
    # The request's own timestamp in the mark keeps ids reused by another database (tests, a reset) apart.
    stamp = f"{request.pk}:{request.requested_at.timestamp():.6f}"
    params = {
        "account_name": consumer.account_name, "store": wallet.store.name, "campaign": wallet.campaign.name,
        "principal": fen_to_yuan(request.principal), "bonus": fen_to_yuan(request.bonus_lapsed),
        "request": request.pk,
    }
    with override(settings.LANGUAGE_CODE):
        if event == "withdrawal_held":
            if request.status != WithdrawalRequest.Status.PENDING:
                return False  # resolved before the email went out: nothing left to act on
            params["time_left"] = _time_left(request, now)
            params["due_at"] = formats.date_format(timezone.localtime(request.due_at), "DATETIME_FORMAT")
            subject = _("Withdrawal request from %(account_name)s: %(time_left)s left to contact them") % params
            body = _(
                "%(account_name)s has asked to withdraw the allowance \"%(campaign)s\" in %(store)s.\n\n"
                "Principal to refund: %(principal)s yuan; bonus that would lapse: %(bonus)s yuan.\n"
                "The system refunds it automatically at %(due_at)s (%(time_left)s from now) unless you refund "
                "it first or the consumer chooses to keep the allowance after your retention message.\n\n"
                "Open user management and search for %(account_name)s to act on request #%(request)s."
            ) % params
            return _send_once(f"{event}:{stamp}", subject, body, _staff_emails(request))
        if event == "refunded":
            if request.status != WithdrawalRequest.Status.REFUNDED:
                return False
            subject = _("Your allowance in %(store)s has been refunded") % params
            body = _(
                "Hello %(account_name)s,\n\n"
                "%(principal)s yuan of principal from \"%(campaign)s\" is being paid back to your original "
                "payment; the bonus of %(bonus)s yuan has lapsed and the allowance is closed.\n\n"
                "Withdrawal request #%(request)s."
            ) % params
            return _send_once(f"{event}:{stamp}", subject, body, [consumer.user.email] if consumer.user.email else [])
        if event == "retention_message":
            latest = RetentionMessage.objects.filter(request=request).order_by("-created_at", "-pk").first()
            if latest is None or request.status != WithdrawalRequest.Status.PENDING:
                return False
            params["message"] = latest.message
            subject = _("A message from %(store)s about your withdrawal") % params
            body = _(
                "Hello %(account_name)s,\n\n%(store)s asks you to keep your allowance \"%(campaign)s\":\n\n"
                "    %(message)s\n\n"
                "If you would like to keep it, choose “Keep my allowance” on My Allowance; otherwise there is "
                "nothing to do and the principal of %(principal)s yuan will be refunded as requested."
            ) % params
            return _send_once(
                f"{event}:{stamp}:{latest.pk}", subject, body, [consumer.user.email] if consumer.user.email else []
            )
    log.warning("unknown withdrawal email event %r for request %s", event, request_id)
    return False
