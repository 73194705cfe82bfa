"""Server-side prepared statements for the few hand-written statements on the busiest request paths.

PostgreSQL parses, rewrites and plans every statement psycopg2 sends; for the held withdrawal's one statement
(`refunds.locks.wallet_hold`: an UPDATE … FROM joined to an INSERT) that was ~0.3 ms of the backend's CPU per
request on the bench machine, as much as its execution (docs/perf.md). `PREPARE` once per connection and
`EXECUTE` afterwards skips it. A prepared statement belongs to the session, survives a rollback and goes with
the connection, so it is tracked per psycopg2 connection: a reconnect prepares again.

Behind a transaction-mode pooler (`DATABASE_POOL_MODE=transaction`, e.g. PgBouncer) a session is not ours to
keep, so the statement is sent as plain SQL there.
"""
from django.conf import settings
from django.db import connections


def execute_prepared(alias: str, name: str, sql: str, types: tuple[str, ...], params: list):
    """Run `sql` (placeholders `$1`… of `types`) with `params` on `alias`; returns the cursor's rows."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if getattr(settings, "DATABASE_POOL_MODE", "session") == "transaction":
            cursor.execute(_plain(sql, types), {f"p{n}": value for n, value in enumerate(params, 1)})
            return cursor.fetchall()
        raw = connection.connection
        seen = connection.__dict__.get("_prepared_statements")
        if seen is None or seen[0] is not raw:
            seen = connection.__dict__["_prepared_statements"] = (raw, set())
        if name not in seen[1]:
            # First use on this connection: prepare it unless the session already has it (asked, not tried:
            # a failed PREPARE would abort the caller's transaction).
            cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f"PREPARE {name} ({', '.join(types)}) AS {sql}")
            seen[1].add(name)
        cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(types))})", params)
        return cursor.fetchall()


def _plain(sql: str, types: tuple[str, ...]) -> str:
    """`$n` → a psycopg2 parameter cast to its type, from the highest number down (`$1` must not eat `$10`)."""
    sql = sql.replace("%", "%%")
    for n in range(len(types), 0, -1):
        sql = sql.replace(f"${n}", f"(%(p{n})s::{types[n - 1]})")
    return sql
