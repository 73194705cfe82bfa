"""Row locks of the allowance tables (campaign, order, wallet, payment). The order across apps is in
`core/locks.py`: campaign → order → wallet → request → payment. Call these inside `transaction.atomic()`."""

from django.db import connection

from allowance.models import Campaign, Order, Payment, Wallet


def campaign_lock(*, id: int) -> Campaign:
    """The campaign row, for changing the campaign itself (ending it)."""
    return Campaign.objects.select_for_update(of=("self",)).get(pk=id)


def campaign_stock_take(*, id: int, now) -> bool:
    """Count one sale of the campaign if it is on sale at `now` and has stock left: one conditional UPDATE, which
    locks the row until the commit. False (nothing changed) when it is sold out or no longer on sale.

    A purchase calls this last, just before its commit, so every buyer of a campaign holds its row only for the
    commit (docs/perf.md, the flash sale); nothing locks a wallet or a consumer while holding a campaign row.
    Written as SQL: every sale runs it, and the ORM's build of it cost a fifth of a sale's service time."""
    with connection.cursor() as cursor:
        cursor.execute(_STOCK_TAKE, [id, now, now])
        return cursor.rowcount == 1


_STOCK_TAKE = (
    f"UPDATE {Campaign._meta.db_table} SET sold_count = sold_count + 1 WHERE id = %s AND ended_at IS NULL"
    " AND starts_at <= %s AND ends_at > %s AND (stock IS NULL OR sold_count < stock)"
)


def order_lock(*, id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).get(pk=id)


def wallets_lock(*, ids, owner=None, related=()) -> dict[int, Wallet]:
    """Wallets in primary-key order, by id. With `owner` (a user), only that consumer's: the ownership check
    is part of the locking read. `related` rows (e.g. "consumer", "store") are read with them, not locked."""
    wallets = Wallet.objects.select_for_update(of=("self",)).filter(pk__in=list(ids)).order_by("pk")
    if owner is not None:
        wallets = wallets.filter(consumer__user_id=owner.pk)
    if related:
        wallets = wallets.select_related(*related)
    return {w.pk: w for w in wallets}


def wallet_lock(*, id: int, related=()) -> Wallet:
    wallet = wallets_lock(ids=[id], related=related).get(id)
    if wallet is None:
        raise Wallet.DoesNotExist(id)
    return wallet


def open_wallet_lock(*, consumer, campaign) -> Wallet | None:
    """The consumer's open (not closed) wallet of a campaign, if there is one; called with the consumer locked."""
    return (Wallet.objects.select_for_update(of=("self",)).filter(consumer=consumer, campaign=campaign)
            .exclude(status=Wallet.Status.CLOSED).first())


def wallets_lock_skip_locked(*, ids, open_only: bool = False):
    """The sweeps' wallets, SKIP LOCKED (a wallet another transaction holds is left for the next sweep), in
    primary-key order, as a queryset of wallets (`.values_list()` it for plain tuples)."""
    wallets = Wallet.objects.select_for_update(of=("self",), skip_locked=True).filter(pk__in=list(ids))
    if open_only:
        wallets = wallets.exclude(status=Wallet.Status.CLOSED)
    return wallets.order_by("pk")


def wallets_to_remind_claim(*, queryset, limit: int) -> list[int]:
    """The expiry-reminder outbox: claim up to `limit` of these wallets, SKIP LOCKED (two workers share the work),
    soonest expiry first. Nothing else is locked in that transaction."""
    return list(queryset.select_for_update(of=("self",), skip_locked=True)
                .order_by("valid_until", "pk").values_list("pk", flat=True)[:limit])


def payments_lock(*, wallet_ids):
    """The wallets' payments (after the wallets), by wallet then newest first: the order a refund takes them."""
    return (Payment.objects.select_for_update(of=("self",)).filter(wallet_id__in=sorted(set(wallet_ids)))
            .order_by("wallet_id", "-created_at", "-pk"))
