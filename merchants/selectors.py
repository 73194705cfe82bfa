"""Reads about merchant staff and their stores."""
from core import errors
from merchants.models import Store, StoreMembership


def stores_for_staff(*, user):
    """The stores a user may act for (none for anonymous users and consumers)."""
    if not getattr(user, "is_authenticated", False):
        return Store.objects.none()
    return Store.objects.filter(memberships__user=user)


def is_store_staff(*, user, store=None) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    memberships = StoreMembership.objects.filter(user=user)
    if store is not None:
        memberships = memberships.filter(store=store)
    return memberships.exists()


def store_staff_check(*, user, store) -> None:
    """Staff of another store get the same answer as for an object that does not exist."""
    if not is_store_staff(user=user, store=store):
        raise errors.NotYourStore()


def consumers_search(*, user, account_name: str, prefix: bool = False, limit: int = 50):
    """Consumers holding a wallet in the staff member's stores, by account name: exact, case-insensitive;
    `prefix=True` also matches names that start with it. Served by the index on `account_key`."""
    from allowance.models import Wallet
    from consumers.models import Consumer

    key = Consumer.key_for(account_name or "")
    if not key:
        return Consumer.objects.none()
    lookup = {"account_key__startswith": key} if prefix else {"account_key": key}
    in_my_stores = Wallet.objects.filter(store__in=stores_for_staff(user=user)).values("consumer_id")
    return Consumer.objects.filter(pk__in=in_my_stores, **lookup).order_by("account_key")[:limit]
