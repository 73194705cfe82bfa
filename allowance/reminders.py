"""The expiry reminder: seven days (EXPIRY_REMINDER_DAYS) before `valid_until`, the consumer is emailed that the
unused principal will be refunded automatically and the bonus will lapse; My Allowance shows the same notice.

The wallet is its own outbox row (`expiry_reminded_at` empty), the pattern of the held-request staff email
(refunds.notifications): `wallet_expiry_remind_due`, run by beat every EXPIRY_REMINDER_INTERVAL_SECONDS, claims a
batch (SKIP LOCKED), marks it in a short transaction and then emails; an email that fails is unmarked and tried
again on the next run. A claim redelivered after a crash cannot email twice: `cache.add` guards each send.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from allowance.locks import wallets_to_remind_claim
from allowance.models import Wallet
from core.money import fen_to_yuan

log = logging.getLogger(__name__)
SENT_MARK_SECONDS = 30 * 24 * 3600


def expiry_reminder_window() -> timedelta:
    return timedelta(days=settings.EXPIRY_REMINDER_DAYS)


def wallet_expiry_remind_due(*, now=None, batch_size: int | None = None) -> int:
    """Email every consumer whose open wallet expires within the window and was not reminded yet.
    Returns how many emails went out."""
    now = now or timezone.now()
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    due = Wallet.objects.filter(~Q(status=Wallet.Status.CLOSED), expiry_reminded_at=None,
                                valid_until__gt=now, valid_until__lte=now + expiry_reminder_window())
    sent, failed = 0, set()
    while True:
        with transaction.atomic():
            # Served by the partial index wallet_expiry_unreminded (valid_until, id): reminded wallets leave it.
            ids = wallets_to_remind_claim(queryset=due.exclude(pk__in=failed), limit=batch_size)
            if not ids:
                return sent
            Wallet.objects.filter(pk__in=ids).update(expiry_reminded_at=now)
        for wallet in Wallet.objects.filter(pk__in=ids).select_related("consumer__user", "store", "campaign"):
            try:
                sent += wallet_expiry_reminder_send(wallet=wallet)
            except Exception:
                log.exception("could not send the expiry reminder of wallet %s; the next run retries", wallet.pk)
                failed.add(wallet.pk)
                Wallet.objects.filter(pk=wallet.pk).update(expiry_reminded_at=None)


def wallet_expiry_reminder_send(*, wallet: Wallet) -> bool:
    """The reminder email of one wallet, at most once. Returns whether an email went out."""
    email = wallet.consumer.user.email
    if not email or wallet.total <= 0 or wallet.status == Wallet.Status.CLOSED:
        return False
    mark = f"expiry_reminder:{wallet.pk}:{wallet.created_at.timestamp():.6f}"
    if not cache.add(mark, 1, SENT_MARK_SECONDS):
        return False
    params = {
        "account_name": wallet.consumer.account_name, "store": wallet.store.name, "campaign": wallet.campaign.name,
        "principal": fen_to_yuan(wallet.principal), "bonus": fen_to_yuan(wallet.bonus),
        "valid_until": timezone.localtime(wallet.valid_until).strftime("%Y-%m-%d %H:%M"),
    }
    with override(settings.LANGUAGE_CODE):
        subject = _("Your allowance in %(store)s expires on %(valid_until)s") % params
        body = _(
            "Hello %(account_name)s,\n\n"
            "Your allowance \"%(campaign)s\" in %(store)s is valid until %(valid_until)s.\n\n"
            "When it expires, the unused principal (%(principal)s yuan now) will be refunded automatically to your "
            "original payment and the bonus (%(bonus)s yuan now) will lapse. Spend it in %(store)s before then "
            "to enjoy the bonus."
        ) % params
    try:
        send_mail(subject, body, None, [email])
    except Exception:
        cache.delete(mark)  # let the next run try again
        raise
    return True
