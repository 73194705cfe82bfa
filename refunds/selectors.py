"""Reads about withdrawal requests, and the reads of wallets that show them: My Allowance, user management,
the merchant summary (shared by pages and the API)."""
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Prefetch, Sum
from django.utils import timezone

from django.db.models import F

from allowance.models import Wallet
from allowance.selectors import consumers_search, ledger_entries_of_wallet, wallets_of_user
from merchants.selectors import stores_for_staff
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
    return request_list().filter(pk=request_id, wallet__consumer=consumer).select_related("wallet").first()


def _open_requests():
    """A wallet's pending request, with what the `request` shape shows (prefetched as `withdrawal_requests`)."""
    return WithdrawalRequest.objects.filter(status=WithdrawalRequest.Status.PENDING).select_related(
        "refund").prefetch_related("retention_messages")


def wallets_with_open_request(*, user):
    """The API's wallets of a user: their own (`wallets_of_user`), each with its pending request."""
    return (
        wallets_of_user(user=user).select_related("store", "campaign")
        .prefetch_related(Prefetch("withdrawal_requests", queryset=_open_requests())).order_by("pk")
    )


def staff_wallets_with_open_request(*, user, consumers):
    """The API's user management: these consumers' wallets in the staff member's stores, with pending requests."""
    return (
        Wallet.objects.filter(consumer__in=consumers, store__in=stores_for_staff(user=user))
        .select_related("store", "campaign")
        .prefetch_related(Prefetch("withdrawal_requests", queryset=_open_requests())).order_by("pk")
    )


def request_list():
    """Requests with what the `request` shape shows."""
    return WithdrawalRequest.objects.select_related("refund").prefetch_related("retention_messages")


def requests_of_user(*, user):
    """The user's own withdrawal requests (a consumer's; nobody else's), newest first."""
    return request_list().filter(wallet__consumer__user=user).order_by("-requested_at", "-pk")


def requests_in_staff_stores(*, user):
    """Requests in the staff member's stores, soonest due first (resolved ones, without a due time, last)."""
    return (
        request_list().filter(wallet__store__in=stores_for_staff(user=user)).select_related("wallet__consumer")
        .order_by(F("due_at").asc(nulls_last=True), "pk")
    )


def consumers_with_wallets_for_staff(*, user, account_name: str, prefix: bool = False):
    """User management: the consumers matching an account name, each with their wallets in the staff
    member's stores, each wallet's pending request (`pending_request`, or None) and the last request that
    ended (`last_request`, with its refund, or None) — so a refund just made stays in sight."""
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
    # DISTINCT ON (wallet): one row per wallet, the latest to end, over the (wallet, …) index.
    last = {
        r.wallet_id: r
        for r in WithdrawalRequest.objects.filter(wallet__in=wallets).exclude(status=WithdrawalRequest.Status.PENDING)
        .select_related("refund").order_by("wallet_id", F("resolved_at").desc(nulls_last=True), "-pk")
        .distinct("wallet_id")
    }
    by_consumer: dict[int, list] = {c.pk: [] for c in consumers}
    for wallet in wallets:
        wallet.pending_request = pending.get(wallet.pk)
        wallet.last_request = last.get(wallet.pk)
        by_consumer[wallet.consumer_id].append(wallet)
    return [(consumer, by_consumer[consumer.pk]) for consumer in consumers]


def wallets_for_consumer(*, consumer):
    """My Allowance: the consumer's wallets (open ones first), each with its entries,
    its pending request (`pending_request`) and its past requests (`past_requests`)."""
    requests = WithdrawalRequest.objects.select_related("refund").prefetch_related("retention_messages").order_by(
        "-requested_at", "-pk"
    )
    wallets = list(
        Wallet.objects.filter(consumer=consumer)
        .select_related("store", "campaign")
        .prefetch_related(
            Prefetch("entries", queryset=ledger_entries_of_wallet()),
            Prefetch("withdrawal_requests", queryset=requests),
        )
        .order_by("valid_until", "pk")
    )
    wallets.sort(key=lambda w: w.status == Wallet.Status.CLOSED)  # open ones first; sort is stable
    for wallet in wallets:
        all_requests = list(wallet.withdrawal_requests.all())
        wallet.pending_request = next((r for r in all_requests if r.status == WithdrawalRequest.Status.PENDING), None)
        wallet.past_requests = [r for r in all_requests if r.status != WithdrawalRequest.Status.PENDING]
    return wallets


@dataclass(frozen=True)
class MerchantSummary:
    outstanding_principal: int
    outstanding_bonus: int
    pending_count: int
    pending_principal: int
    due_within_48h: int


def merchant_summary(*, user, store=None, now=None) -> MerchantSummary:
    """What the staff member's stores owe: open balances, pending withdrawals and those due within 48 hours."""
    now = now or timezone.now()
    stores = stores_for_staff(user=user)
    if store is not None:
        stores = stores.filter(pk=store.pk)
    balances = Wallet.objects.filter(store__in=stores).exclude(status=Wallet.Status.CLOSED).aggregate(
        principal=Sum("principal"), bonus=Sum("bonus")
    )
    pending = WithdrawalRequest.objects.filter(wallet__store__in=stores, status=WithdrawalRequest.Status.PENDING)
    pending_totals = pending.aggregate(principal=Sum("principal"))
    return MerchantSummary(
        outstanding_principal=balances["principal"] or 0,
        outstanding_bonus=balances["bonus"] or 0,
        pending_count=pending.count(),
        pending_principal=pending_totals["principal"] or 0,
        due_within_48h=pending.filter(due_at__lte=now + timedelta(hours=48)).count(),
    )
