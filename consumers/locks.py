"""Row locks of the consumers table. The order across apps is in `core/locks.py`. Call inside `transaction.atomic()`."""

from consumers.models import Consumer


def consumer_lock(*, id: int) -> None:
    """The consumer's row, FOR NO KEY UPDATE: it queues one consumer's purchases of a campaign (their limit and
    their one open wallet) without queueing anybody else's, and without blocking the inserts whose foreign keys
    point at it (those take KEY SHARE)."""
    list(Consumer.objects.select_for_update(of=("self",), no_key=True).filter(pk=id).values_list("pk", flat=True))
