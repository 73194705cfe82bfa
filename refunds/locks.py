"""Row locks of the refunds tables (withdrawal request, refund). The order across apps is in `core/locks.py`:
campaign → order → wallet → request → payment. Call these inside `transaction.atomic()`."""
from django.db import connection

from allowance.locks import wallet_lock
from allowance.models import Wallet
from consumers.models import Consumer
from core.prepared import execute_prepared
from refunds.models import InsightsRollup, Refund, RefundAllocation, WithdrawalRequest


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


def insights_rollups_lock(*, campaign_ids: list[int]) -> dict[int, InsightsRollup]:
    """Campaigns' insights roll-up marks, in campaign order, alone: one roll-up of a campaign at a time (no money
    row is held)."""
    marks = InsightsRollup.objects.select_for_update(of=("self",)).filter(campaign_id__in=list(campaign_ids))
    return {mark.campaign_id: mark for mark in marks.order_by("campaign_id")}


def refund_payouts_claim(*, ids: list[int], now, lease_until) -> list[int]:
    """Claim the payouts among `ids` that are due (processing, no live lease) in one statement: count the attempt
    and lease them until `lease_until`. Rows another worker is claiming or finishing at this moment are skipped
    (SKIP LOCKED, in primary-key order, so two claims never wait on each other); it holds them. Returns the
    claimed ids in order.

    The rows are found and locked by primary key alone and the status is checked on the locked values: with the
    status in the scan's own WHERE the planner may walk the partial index of open payouts (`refund_payout_open`),
    whose size is the whole backlog and whose statistics lag behind a mass expiry — at 1,000,000 expiring wallets
    each claim took a second."""
    table = Refund._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH batch AS MATERIALIZED (SELECT id, payout_status, next_attempt_at FROM {table}"
            " WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED)"
            f" UPDATE {table} r SET payout_attempts = r.payout_attempts + 1, next_attempt_at = %s FROM batch b"
            " WHERE r.id = b.id AND b.payout_status = %s AND (b.next_attempt_at IS NULL OR b.next_attempt_at <= %s)"
            " RETURNING r.id",
            [list(ids), lease_until, Refund.PayoutStatus.PROCESSING, now],
        )
        return sorted(refund_id for (refund_id,) in cursor.fetchall())


def refund_payouts_paid_finish(*, ids: list[int], now) -> list[int]:
    """Mark paid those of `ids` (claimed by the caller) that are still processing and have no part left unpaid, in
    one statement; returns their ids. Locked by primary key in id order, the status checked on the locked values
    (see `refund_payouts_claim`)."""
    table, parts = Refund._meta.db_table, RefundAllocation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH batch AS MATERIALIZED (SELECT id, payout_status FROM {table} WHERE id = ANY(%s) ORDER BY id"
            f" FOR UPDATE) UPDATE {table} r SET payout_status = %s, paid_at = %s, next_attempt_at = NULL,"
            " last_error = '' FROM batch b WHERE r.id = b.id AND b.payout_status = %s AND NOT EXISTS"
            f" (SELECT 1 FROM {parts} a WHERE a.refund_id = b.id AND a.gateway_reference = '') RETURNING r.id",
            [list(ids), Refund.PayoutStatus.SUCCEEDED, now, Refund.PayoutStatus.PROCESSING],
        )
        return sorted(refund_id for (refund_id,) in cursor.fetchall())


# The held withdrawal in one statement (SPEC §4.2): the UPDATE locks the wallet — by id, only if it is the user's,
# open (active), unexpired, holding principal, consumed, and (when given) still holding the principal the consumer
# saw — and freezes it; the INSERT writes the pending request from the values it locked. PostgreSQL re-checks the
# WHERE on the newest version of a row it had to wait for (READ COMMITTED), so a concurrent change is seen as in
# `wallets_lock`. Sent alone it is its own transaction: one round trip instead of BEGIN, lock, insert, update
# and COMMIT. Prepared once per connection (core/prepared.py). $1 wallet, $2 user, $3 now, $4 due at, $5 the
# principal seen (NULL: not checked).
_WALLET_HOLD = (
    f"WITH held AS (UPDATE {Wallet._meta.db_table} w SET status = '{Wallet.Status.FROZEN}'"
    f" FROM {Consumer._meta.db_table} c WHERE w.id = $1 AND c.id = w.consumer_id AND c.user_id = $2"
    f" AND w.status = '{Wallet.Status.ACTIVE}' AND w.valid_until > $3 AND w.principal > 0"
    " AND w.principal + w.bonus < w.credited AND ($5::bigint IS NULL OR w.principal = $5)"
    " RETURNING w.id, w.principal, w.bonus)"
    f" INSERT INTO {WithdrawalRequest._meta.db_table} (wallet_id, status, principal, bonus_lapsed, requested_at,"
    f" due_at, attention_reason) SELECT id, '{WithdrawalRequest.Status.PENDING}', principal, bonus, $3, $4, ''"
    " FROM held RETURNING id, principal, bonus_lapsed"
)
_WALLET_HOLD_TYPES = ("bigint", "bigint", "timestamptz", "timestamptz", "bigint")


def wallet_hold(*, wallet_id: int, user_id: int, now, due_at, seen_principal: int | None = None
                ) -> WithdrawalRequest | None:
    """Freeze a consumed wallet of this user and open its pending request, due at `due_at`, in one statement
    (the wallet is locked by it; inside `transaction.atomic()` the lock is held to the commit). None, with
    nothing changed, when the wallet is not the user's or not withdrawable this way (closed, frozen, expired,
    empty, never spent, or its principal is not `seen_principal`): the caller then locks it to say which."""
    rows = execute_prepared(connection.alias, "refunds_wallet_hold", _WALLET_HOLD, _WALLET_HOLD_TYPES,
                            [wallet_id, user_id, now, due_at, seen_principal])
    if not rows:
        return None
    (request_id, principal, bonus), = rows
    request = WithdrawalRequest(id=request_id, wallet_id=wallet_id, status=WithdrawalRequest.Status.PENDING,
                                principal=principal, bonus_lapsed=bonus, requested_at=now, due_at=due_at)
    request._state.adding, request._state.db = False, connection.alias
    return request
