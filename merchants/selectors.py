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


