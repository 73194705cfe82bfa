"""Which database a query goes to (docs/scaling.md): the money database, the gateway's books, a read replica and
a streaming connection.

- `default`: the money database (primary). Every write and every read on a money path goes here.
- `gateway`: the sandbox gateway's books (`SandboxPayout`), a database of their own as a real provider's are:
  its writes commit on their own, never with ours, and nothing else lives there.
- `replica` (optional, `DATABASE_REPLICA_URL`): reads that may lag a little — merchant insights, the CSV
  exports, `reconcile` — inside `lagging_reads()`. Unset: they read the primary.
- `stream` (optional, `DATABASE_STREAM_URL`): a connection to the primary that keeps server-side cursors
  (session pooling or direct), for `.iterator()` when `default` goes through a transaction-mode PgBouncer and
  there is no replica (the replica, when set, streams those reads itself). Unset: `default`.
"""
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

GATEWAY = "gateway"
REPLICA = "replica"
STREAM = "stream"
# The sandbox's books (the table was created by refunds' migration 0002 and later filed under core).
GATEWAY_MODELS = {("core", "sandboxpayout"), ("refunds", "sandboxpayout")}

_reads: ContextVar[str | None] = ContextVar("database_reads", default=None)


def _configured(alias: str) -> bool:
    return alias in settings.DATABASES


def lagging_alias() -> str:
    """Where a read that may lag goes: the replica if there is one, else the primary."""
    return REPLICA if _configured(REPLICA) else DEFAULT_DB_ALIAS


def stream_alias() -> str:
    """Where a lagging read that streams (`.iterator()`, a server-side cursor) goes: the replica if there is one
    (a direct or session-mode connection), else the stream connection, else the primary (which then must not
    sit behind a transaction-mode pool, or Django falls back to fetching whole results)."""
    if _configured(REPLICA):
        return REPLICA
    return STREAM if _configured(STREAM) else DEFAULT_DB_ALIAS


@contextmanager
def lagging_reads(alias: str | None = None):
    """Inside this block the router sends reads of the product's models to `alias` (the replica by default);
    writes still go to the primary. Use it only around reads whose answer may be a moment old."""
    token = _reads.set(alias or lagging_alias())
    try:
        yield
    finally:
        _reads.reset(token)


def _is_gateway(app_label: str, model_name: str | None) -> bool:
    return (app_label, model_name) in GATEWAY_MODELS


class DatabaseRouter:
    """The sandbox's books to `gateway`, and nothing else there; reads inside `lagging_reads()` to the replica;
    every other read and every write to `default`."""

    def db_for_read(self, model, **hints):
        if _is_gateway(model._meta.app_label, model._meta.model_name):
            return GATEWAY
        return _reads.get() or DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        # Always named: Django would otherwise write an object back to the alias it was read from (a replica).
        if _is_gateway(model._meta.app_label, model._meta.model_name):
            return GATEWAY
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Rows read from the replica or the stream connection are the primary's rows.
        money = {DEFAULT_DB_ALIAS, REPLICA, STREAM}
        if obj1._state.db in money and obj2._state.db in money:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == GATEWAY:
            return _is_gateway(app_label, model_name)
        if db in (REPLICA, STREAM):
            return False  # the same database as the primary (or a copy of it): migrated there
        return not _is_gateway(app_label, model_name)
