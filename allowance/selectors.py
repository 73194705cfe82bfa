"""Reads for campaigns, wallets, orders and the merchant summary (shared by pages and the API)."""
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from allowance.models import Campaign, LedgerEntry, Order, Payment, Wallet
from merchants.models import Store
from merchants.selectors import stores_for_staff


def campaigns_on_sale(*, store=None, now=None):
    """Campaigns that can be bought right now, optionally in one store."""
    now = now or timezone.now()
    qs = Campaign.objects.filter(ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now).select_related("store")
    if store is not None:
        qs = qs.filter(store=store)
    return qs.order_by("store__name", "pay_amount", "pk")


def stores_with_campaigns_on_sale(*, consumer=None, now=None) -> list[tuple[Store, list[Campaign]]]:
    """Every store that has something on sale, with those campaigns (the home page). Each campaign carries
    `bought_by_consumer` (how many times this consumer bought it, counted as the purchase limit counts: by
    payments) and `limit_reached`, so the page shows what the consumer may still buy."""
    grouped: dict[int, tuple[Store, list[Campaign]]] = {}
    campaigns = campaigns_on_sale(now=now)
    if consumer is not None:
        bought = Payment.objects.filter(consumer=consumer, campaign=OuterRef("pk")).order_by().values("campaign")
        campaigns = campaigns.annotate(
            bought_by_consumer=Coalesce(Subquery(bought.annotate(n=Count("pk")).values("n")), 0)
        )
    for campaign in campaigns:
        bought_count = getattr(campaign, "bought_by_consumer", 0)
        campaign.limit_reached = bought_count >= campaign.per_consumer_limit
        grouped.setdefault(campaign.store_id, (campaign.store, []))[1].append(campaign)
    return list(grouped.values())


def campaigns_for_staff(*, user, state: str = "active", now=None):
    """Campaigns of the staff member's stores: `active` (sale not ended) or `history`."""
    now = now or timezone.now()
    qs = Campaign.objects.filter(store__in=stores_for_staff(user=user)).select_related("store")
    active = Q(ended_at__isnull=True, ends_at__gt=now)
    if state == "history":
        return qs.exclude(active).order_by("-ends_at", "-pk")
    return qs.filter(active).order_by("ends_at", "pk")


def wallets_for_consumer(*, consumer):
    """My Allowance: the consumer's wallets (open ones first), each with its entries,
    its pending request (`pending_request`) and its past requests (`past_requests`)."""
    from refunds.models import WithdrawalRequest

    requests = WithdrawalRequest.objects.select_related("refund").prefetch_related("retention_messages").order_by(
        "-requested_at", "-pk"
    )
    wallets = list(
        Wallet.objects.filter(consumer=consumer)
        .select_related("store", "campaign")
        .prefetch_related(
            Prefetch("entries", queryset=LedgerEntry.objects.select_related("order").order_by("-created_at", "-pk")),
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


def wallet_for_consumer(*, consumer, wallet_id: int) -> Wallet | None:
    return Wallet.objects.select_related("store", "campaign").filter(consumer=consumer, pk=wallet_id).first()


def orders_for_consumer(*, consumer, limit: int = 50):
    return (
        Order.objects.filter(consumer=consumer)
        .select_related("store")
        .prefetch_related("allocations__wallet__campaign")
        .order_by("-created_at", "-pk")[:limit]
    )


def stores_for_consumer(*, consumer):
    """The stores where the consumer holds an open wallet (where an order can be paid with allowance)."""
    open_wallets = Wallet.objects.filter(consumer=consumer).exclude(status=Wallet.Status.CLOSED)
    return Store.objects.filter(pk__in=open_wallets.values("store_id")).order_by("name")


@dataclass(frozen=True)
class MerchantSummary:
    outstanding_principal: int
    outstanding_bonus: int
    pending_count: int
    pending_principal: int
    due_within_48h: int


def merchant_summary(*, user, store=None, now=None) -> MerchantSummary:
    """What the staff member's stores owe: open balances, pending withdrawals and those due within 48 hours."""
    from refunds.models import WithdrawalRequest

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
