"""Reads for campaigns, wallets, orders and the consumer search (shared by pages and the API). Reads that show
withdrawal requests are refunds' (refunds/selectors.py)."""
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from allowance.models import Campaign, LedgerEntry, Order, Payment, Wallet
from consumers.models import Consumer
from core.ids import MAX_ID
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


def store_list():
    return Store.objects.order_by("name", "pk")


def campaign_list():
    """Every campaign (a purchase checks the sale itself, under lock)."""
    return Campaign.objects.all()


def _purchase_read_sql() -> str:
    q = connection.ops.quote_name
    columns = ", ".join(f"c.{q(f.column)}" for f in Campaign._meta.concrete_fields)
    return (f"SELECT {columns}, s.{q('name')}, (SELECT b.{q('id')} FROM {q(Consumer._meta.db_table)} b"
            f" WHERE b.{q('user_id')} = %s) FROM {q(Campaign._meta.db_table)} c"
            f" JOIN {q(Store._meta.db_table)} s ON s.{q('id')} = c.{q('store_id')} WHERE c.{q('id')} = %s")


def campaign_for_purchase(*, pk: int, user) -> tuple[Campaign | None, Consumer | None]:
    """The campaign a user asks to buy, with its store's name, and the consumer behind the user, in one read (the
    API's purchase; docs/perf.md, the flash sale). (None, consumer) when there is no such campaign; consumer None
    for a user who is not a consumer. The consumer and the store have only their ids (and the store its name)
    loaded; the rest loads if asked for.

    Written as SQL: most buyers of a flash sale are answered from this one read, and building it through the
    ORM cost more than the rest of their request (docs/perf.md)."""
    if 0 < pk <= MAX_ID:
        with connection.cursor() as cursor:
            cursor.execute(_purchase_read_sql(), [user.pk, pk])
            row = cursor.fetchone()
    else:
        row = None
    if row is None:
        return None, Consumer.objects.filter(user_id=user.pk).first()
    fields = Campaign._meta.concrete_fields
    campaign = Campaign.from_db(connection.alias, [f.attname for f in fields], row[:len(fields)])
    store_name, buyer_id = row[len(fields):]
    campaign.store = Store.from_db(connection.alias, ["id", "name"], [campaign.store_id, store_name])
    if buyer_id is None:
        return campaign, None
    consumer = Consumer.from_db(connection.alias, ["id", "user_id"], [buyer_id, user.pk])
    consumer.user = user
    return campaign, consumer


def purchases_count(*, consumer_id: int, campaign_id: int) -> int:
    """How many times the consumer bought the campaign (its payments): what the per-consumer limit counts.
    Written as SQL: every sale runs it, and the ORM's build of it cost ten times the statement (docs/perf.md)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Payment._meta.db_table} WHERE consumer_id = %s AND campaign_id = %s",
                       [consumer_id, campaign_id])
        return cursor.fetchone()[0]


def campaigns_for_staff(*, user, state: str | None = "active", now=None):
    """Campaigns of the staff member's stores: `active` (sale not ended), `history`, or all (None, newest first)."""
    now = now or timezone.now()
    qs = Campaign.objects.filter(store__in=stores_for_staff(user=user)).select_related("store")
    if state is None:
        return qs.order_by("-pk")
    active = Q(ended_at__isnull=True, ends_at__gt=now)
    if state == "history":
        return qs.exclude(active).order_by("-ends_at", "-pk")
    return qs.filter(active).order_by("ends_at", "pk")


def wallets_of_user(*, user):
    """The wallets a user may see as their own: a consumer's, nobody else's (the one ownership rule for reads)."""
    return Wallet.objects.filter(consumer__user=user)


def ledger_entries_of_wallet(*, wallet=None):
    """A wallet's ledger, newest first (without `wallet`, the queryset to prefetch it with)."""
    entries = LedgerEntry.objects.select_related("order").order_by("-created_at", "-pk")
    return entries if wallet is None else entries.filter(wallet=wallet)


def orders_of_user(*, user):
    return Order.objects.filter(consumer__user=user)


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


def consumers_search(*, user, account_name: str, prefix: bool = False, limit: int = 50):
    """Consumers holding a wallet in the staff member's stores, by account name: exact, case-insensitive;
    `prefix=True` also matches names that start with it. Served by the index on `account_key`."""
    key = Consumer.key_for(account_name or "")
    if not key:
        return Consumer.objects.none()
    lookup = {"account_key__startswith": key} if prefix else {"account_key": key}
    in_my_stores = Wallet.objects.filter(store__in=stores_for_staff(user=user)).values("consumer_id")
    return Consumer.objects.filter(pk__in=in_my_stores, **lookup).order_by("account_key")[:limit]
