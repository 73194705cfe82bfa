"""Row locks of the refunds tables (withdrawal request, refund). The order across apps is in `core/locks.py`:
campaign → order → wallet → request → payment. Call these inside `transaction.atomic()`."""
from django.db import connection

from allowance.locks import wallet_lock
from allowance.models import Wallet
from refunds.models import InsightsRollup, Refund, WithdrawalRequest


def request_lock(*, id: int) -> WithdrawalRequest:
    return WithdrawalRequest.objects.select_for_update(of=("self",)).get(pk=id)


def request_and_wallet_lock(*, id: int) -> tuple[Wallet, WithdrawalRequest]:
    """A request's wallet, then the request (the order every path uses), both fresh from the database."""
    wallet_id = WithdrawalRequest.objects.values_list("wallet_id", flat=True).get(pk=id)
    wallet = wallet_lock(id=wallet_id, related=("consumer", "store"))
    return wallet, request_lock(id=id)


def requests_pending_lock(*, ids=None, wallet_ids=None):
    """Pending requests (after their wallets), in primary-key order, by id or by wallet."""
    requests = WithdrawalRequest.objects.select_for_update(of=("self",)).filter(
        status=WithdrawalRequest.Status.PENDING)
    if ids is not None:
        requests = requests.filter(pk__in=list(ids))
    if wallet_ids is not None:
        requests = requests.filter(wallet_id__in=list(wallet_ids))
    return requests.order_by("pk")


def requests_to_notify_claim(*, queryset, order=("requested_at", "pk"), limit: int) -> list[int]:
    """An email outbox of requests: claim up to `limit` of these, SKIP LOCKED (two workers share the work), in
    `order`. Nothing else is locked in that transaction."""
    return list(queryset.select_for_update(of=("self",), skip_locked=True)
                .order_by(*order).values_list("pk", flat=True)[:limit])


def refund_lock(*, id: int) -> Refund:
    """A refund alone, for its payout bookkeeping (never with a wallet, request or payment held)."""
    return Refund.objects.select_for_update(of=("self",)).get(pk=id)


def insights_rollup_lock(*, campaign_id: int) -> InsightsRollup:
    """A campaign's insights roll-up mark, alone: one roll-up of a campaign at a time (no money row is held)."""
    return InsightsRollup.objects.select_for_update(of=("self",)).get(campaign_id=campaign_id)


def refund_payouts_claim(*, ids: list[int], now, lease_until) -> list[int]:
    """Claim the payouts among `ids` that are due (processing, no live lease) in one statement: count the attempt
    and lease them until `lease_until`. Rows another worker is claiming or finishing at this moment are skipped
    (SKIP LOCKED, in primary-key order, so two claims never wait on each other); it holds them. Returns the
    claimed ids in order."""
    table = Refund._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET payout_attempts = payout_attempts + 1, next_attempt_at = %s WHERE id IN ("
            f"SELECT id FROM {table} WHERE id = ANY(%s) AND payout_status = %s"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= %s) ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING id",
            [lease_until, list(ids), Refund.PayoutStatus.PROCESSING, now],
        )
        return sorted(refund_id for (refund_id,) in cursor.fetchall())
