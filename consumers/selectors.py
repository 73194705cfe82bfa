"""Reads about consumers."""
from consumers.models import Consumer


def consumer_for_user(*, user) -> Consumer | None:
    """The consumer a logged-in user is, or None (merchant staff, admins)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Consumer.objects.filter(user=user).first()
