"""Reads about withdrawal requests (shared by pages and the API)."""

from allowance.models import Wallet
from merchants.selectors import consumers_search, stores_for_staff
from refunds.models import WithdrawalRequest


def pending_requests_for_staff(*, user, store=None):
    """Every pending withdrawal request in the staff member's stores, soonest due first."""
    stores = stores_for_staff(user=user)
    if store is not None:
        stores = stores.filter(pk=store.pk)
    return (
        WithdrawalRequest.objects.filter(wallet__store__in=stores, status=WithdrawalRequest.Status.PENDING)
        .select_related("wallet__consumer", "wallet__store", "wallet__campaign")
        .prefetch_related("retention_messages")
        .order_by("due_at", "pk")
    )


def request_for_staff(*, user, request_id: int) -> WithdrawalRequest | None:
    """A request in one of the staff member's stores, or None (someone else's store answers like a missing one)."""
    return (
        WithdrawalRequest.objects.filter(pk=request_id, wallet__store__in=stores_for_staff(user=user))
        .select_related("wallet__consumer", "wallet__store")
        .first()
    )


def request_for_consumer(*, consumer, request_id: int) -> WithdrawalRequest | None:
    return WithdrawalRequest.objects.filter(pk=request_id, wallet__consumer=consumer).select_related("wallet").first()


def consumers_with_wallets_for_staff(*, user, account_name: str, prefix: bool = False):
    """User management: the consumers matching an account name, each with their wallets in the staff
    member's stores and each wallet's pending request (or None)."""
    consumers = list(consumers_search(user=user, account_name=account_name, prefix=prefix))
    if not consumers:
        return []
    wallets = (
        Wallet.objects.filter(consumer__in=consumers, store__in=stores_for_staff(user=user))
        .select_related("store", "campaign")
        .order_by("status", "valid_until", "pk")
    )
    pending = {
        r.wallet_id: r
        for r in WithdrawalRequest.objects.filter(wallet__in=wallets, status=WithdrawalRequest.Status.PENDING)
        .prefetch_related("retention_messages")
    }
    by_consumer: dict[int, list] = {c.pk: [] for c in consumers}
    for wallet in wallets:
        wallet.pending_request = pending.get(wallet.pk)
        by_consumer[wallet.consumer_id].append(wallet)
    return [(consumer, by_consumer[consumer.pk]) for consumer in consumers]
