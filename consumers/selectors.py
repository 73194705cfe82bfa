"""Reads about consumers."""
from django.contrib.auth import get_user_model

from consumers.models import Consumer


def account_name_taken(*, account_name: str) -> bool:
    """Whether a login already has this name, whatever its letter case (the service checks again as it writes)."""
    return get_user_model().objects.filter(username__iexact=account_name).exists()


def consumer_for_user(*, user) -> Consumer | None:
    """The consumer a logged-in user is, or None (merchant staff, admins)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Consumer.objects.filter(user=user).first()
