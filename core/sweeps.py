"""Scheduled sweeps that one bad row cannot stop (SPEC §4.8): the batch is the fast path, a row that breaks it is
rolled back alone. Plain plumbing: it knows no model; the caller says how to do a batch, a row, and a mark."""
import logging
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger(__name__)


def sweep_isolated(*, rows: list, batch: Callable[[list], int], one: Callable[[object], int],
                   mark: Callable[[object, Exception], None], what: str) -> int:
    """Run `batch(rows)` in a savepoint; if it raises, roll the batch back and run `one(row)` for each row in a
    savepoint of its own. A row that still raises is rolled back alone, logged and handed to `mark` (which marks
    it for attention in the admin, outside the rolled-back savepoint); the others go on. Returns the count done.

    Called inside the caller's transaction: its work commits with the caller's, after-commit hooks registered in
    a rolled-back savepoint are dropped with it, and row locks taken in it are released (PostgreSQL), so the
    row-by-row pass takes them again. The batch stays the fast path; a bad row costs one batch's redo.
    """
    try:
        with transaction.atomic():
            return batch(rows)
    except Exception:
        log.warning("%s: a batch of %d failed; redoing it row by row", what, len(rows), exc_info=True)
    done = 0
    for row in rows:
        try:
            with transaction.atomic():
                done += one(row)
        except Exception as exc:
            log.exception("%s: %r could not be resolved; rolled back alone and marked for attention", what, row)
            mark(row, exc)
    return done
