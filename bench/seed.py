"""Bulk set-up for the benchmarks, in set-based SQL (INSERT … SELECT generate_series), not timed.

The rows are the ones the services would have written: a consumer bought "pay 80 get 100" (payment + top-up
entry), spent 10.00 of it (order + allocation + spend entry), so the wallet holds 72.00 principal and 18.00
bonus; then, depending on the row's kind:

- ``due``        withdrawal requested 48 h + 1 h ago: request pending, due an hour ago, wallet frozen;
- ``held``       withdrawal requested just now: pending, due tomorrow, wallet frozen;
- ``cancelled``  withdrawal requested and cancelled: wallet active again;
- ``refunded``   withdrawal refunded automatically: wallet closed, refund + allocation paid out (and the
                 sandbox gateway's applied payout, as `reconcile` checks),
                 payment partly refunded, withdrawal_refund and bonus_lapse entries;
- ``consumed``   no withdrawal: an active, consumed wallet (the API benchmark withdraws from these).

`tests/bench` checks that a seeded wallet reconciles and that the product's own services accept it.
"""
import tempfile

from django.db import connection, connections

PAY, CREDIT, SPEND = 8000, 10000, 1000
PRINCIPAL, BONUS = 7200, 1800  # split_principal(total=9000, paid=8000, credited=10000)
SPENT_PRINCIPAL, SPENT_BONUS = PAY - PRINCIPAL, (CREDIT - PAY) - BONUS

DATA_TABLES = [
    "allowance_ledgerentry", "allowance_auditrecord", "refunds_refundallocation", "refunds_refund",
    "refunds_retentionmessage", "refunds_withdrawalrequest", "allowance_orderallocation", "allowance_order",
    "allowance_payment", "allowance_wallet", "allowance_campaign", "consumers_consumer",
    "merchants_storemembership", "merchants_store", "merchants_merchant", "authtoken_token", "auth_user",
]
GATEWAY_TABLES = ["refunds_sandboxpayout"]  # the sandbox's books, in the gateway database (core/db.py)


def reset() -> None:
    """Empty every table the product writes (this database is the benchmark's own), and the sandbox's books."""
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
    with connections["gateway"].cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(GATEWAY_TABLES)} RESTART IDENTITY")


def fixtures() -> dict:
    """One merchant, one store, one staff member and the "pay 80 get 100" campaign; returns their ids."""
    with connection.cursor() as cur:
        cur.execute("INSERT INTO merchants_merchant (name, created_at) VALUES ('Bench Merchant', now()) RETURNING id")
        merchant_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO merchants_store (merchant_id, name, created_at) VALUES (%s, 'Bench Store', now()) RETURNING id",
            [merchant_id],
        )
        store_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES ('!', false, 'bench-staff', '', '', '', false, true, now()) RETURNING id"
        )
        staff_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO merchants_storemembership (store_id, user_id, created_at) VALUES (%s, %s, now())",
            [store_id, staff_id],
        )
        cur.execute(
            "INSERT INTO allowance_campaign (store_id, name, pay_amount, credit_amount, starts_at, ends_at,"
            " valid_until, per_consumer_limit, stock, sold_count, ended_at, created_at)"
            " VALUES (%s, 'pay 80 get 100', %s, %s, now() - interval '30 days', now() + interval '300 days',"
            " now() + interval '365 days', 1000000, NULL, 0, NULL, now()) RETURNING id",
            [store_id, PAY, CREDIT],
        )
        campaign_id = cur.fetchone()[0]
    return {"store_id": store_id, "staff_id": staff_id, "campaign_id": campaign_id}


# The kind of row i, as SQL. `due_every` = 1: every row is due; k: every k-th row is due and the others are
# spread over held / cancelled / refunded.
def kind_by_modulus(due_every: int) -> str:
    if due_every == 1:
        return "'due'"
    return (
        f"CASE WHEN mod(i, {due_every}) = 0 THEN 'due' "
        "WHEN mod(i, 3) = 0 THEN 'held' WHEN mod(i, 3) = 1 THEN 'cancelled' ELSE 'refunded' END"
    )


SEED_SQL = """
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT i, k AS kind,
       nextval(pg_get_serial_sequence('auth_user', 'id')) AS uid,
       nextval(pg_get_serial_sequence('consumers_consumer', 'id')) AS cid,
       nextval(pg_get_serial_sequence('allowance_wallet', 'id')) AS wid,
       nextval(pg_get_serial_sequence('allowance_payment', 'id')) AS pid,
       nextval(pg_get_serial_sequence('allowance_order', 'id')) AS oid,
       CASE WHEN k <> 'consumed' THEN nextval(pg_get_serial_sequence('refunds_withdrawalrequest', 'id')) END AS rid,
       CASE WHEN k = 'refunded' THEN nextval(pg_get_serial_sequence('refunds_refund', 'id')) END AS fid
FROM (SELECT i, {kind} AS k FROM generate_series(%(lo)s, %(hi)s) AS i) g;

INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
SELECT uid, %(password)s, false, %(prefix)s || i, '', '', '', false, true, %(now)s - interval '3 days' FROM seed;

INSERT INTO consumers_consumer (id, user_id, account_name, account_key, created_at)
SELECT cid, uid, %(prefix)s || i, lower(%(prefix)s || i), %(now)s - interval '3 days' FROM seed;

INSERT INTO allowance_wallet (id, consumer_id, campaign_id, store_id, paid, credited, principal, bonus, status,
                              valid_until, created_at, closed_at, attention_reason)
SELECT wid, cid, %(campaign_id)s, %(store_id)s, {PAY}, {CREDIT},
       CASE WHEN kind = 'refunded' THEN 0 ELSE {PRINCIPAL} END,
       CASE WHEN kind = 'refunded' THEN 0 ELSE {BONUS} END,
       CASE WHEN kind IN ('due', 'held') THEN 'frozen' WHEN kind = 'refunded' THEN 'closed' ELSE 'active' END,
       %(valid_until)s, %(now)s - interval '3 days',
       CASE WHEN kind = 'refunded' THEN %(now)s - interval '1 day' END, ''
FROM seed;

INSERT INTO allowance_payment (id, consumer_id, wallet_id, campaign_id, amount, credit_amount, refunded_amount, status,
                               gateway, gateway_reference, created_at)
SELECT pid, cid, wid, %(campaign_id)s, {PAY}, {CREDIT}, CASE WHEN kind = 'refunded' THEN {PRINCIPAL} ELSE 0 END,
       'succeeded', 'sandbox', 'pay_bench_' || pid, %(now)s - interval '3 days'
FROM seed;

INSERT INTO allowance_order (id, consumer_id, store_id, order_ref, amount, returned_amount, created_at)
SELECT oid, cid, %(store_id)s, 'bench-' || oid, {SPEND}, 0, %(now)s - interval '3 days' FROM seed;

INSERT INTO allowance_orderallocation (order_id, wallet_id, principal, bonus, returned_principal, returned_bonus)
SELECT oid, wid, {SPENT_PRINCIPAL}, {SPENT_BONUS}, 0, 0 FROM seed;

INSERT INTO refunds_withdrawalrequest (id, wallet_id, status, resolution, principal, bonus_lapsed, requested_at, due_at,
                                       resolved_at, resolved_by_id, attention_reason)
SELECT rid, wid,
       CASE kind WHEN 'due' THEN 'pending' WHEN 'held' THEN 'pending' ELSE kind END,
       CASE WHEN kind = 'refunded' THEN 'auto' END,
       {PRINCIPAL}, {BONUS},
       CASE WHEN kind = 'held' THEN %(now)s - interval '1 minute' ELSE %(now)s - interval '49 hours' END,
       CASE WHEN kind = 'held' THEN %(now)s + interval '47 hours' ELSE %(now)s - interval '1 hour' END,
       CASE WHEN kind = 'cancelled' THEN %(now)s - interval '48 hours'
            WHEN kind = 'refunded' THEN %(now)s - interval '1 hour' END,
       CASE WHEN kind = 'cancelled' THEN uid END, ''
FROM seed WHERE rid IS NOT NULL;

INSERT INTO refunds_refund (id, wallet_id, request_id, order_id, kind, amount, payout_status, payout_attempts,
                            next_attempt_at, last_error, created_at, paid_at)
SELECT fid, wid, rid, NULL, 'withdrawal', {PRINCIPAL}, 'succeeded', 1, NULL, '', %(now)s - interval '1 hour',
       %(now)s - interval '1 hour'
FROM seed WHERE fid IS NOT NULL;

INSERT INTO refunds_refundallocation (refund_id, payment_id, amount, gateway_reference)
SELECT fid, pid, {PRINCIPAL}, 'po_bench_' || fid FROM seed WHERE fid IS NOT NULL;


INSERT INTO allowance_ledgerentry (wallet_id, kind, principal_delta, bonus_delta, payment_id, order_id, request_id,
                                   refund_id, actor_id, created_at)
SELECT wid, e.kind, e.p, e.b, e.payment_id, e.order_id, e.request_id, e.refund_id, e.actor_id, e.at
FROM seed
CROSS JOIN LATERAL (VALUES
    ('top_up', {PAY}, {CREDIT} - {PAY}, pid, NULL::bigint, NULL::bigint, NULL::bigint, uid, %(now)s - interval '3 days'),
    ('spend', -{SPENT_PRINCIPAL}, -{SPENT_BONUS}, NULL, oid, NULL, NULL, uid, %(now)s - interval '3 days'),
    ('withdrawal_refund', -{PRINCIPAL}, 0, NULL, NULL, rid, fid, NULL, %(now)s - interval '1 hour'),
    ('bonus_lapse', 0, -{BONUS}, NULL, NULL, rid, NULL, NULL, %(now)s - interval '1 hour')
) AS e(kind, p, b, payment_id, order_id, request_id, refund_id, actor_id, at)
WHERE e.kind IN ('top_up', 'spend') OR seed.kind = 'refunded'
ORDER BY e.at, seed.i;  -- in time order, as the services append them (the ledger's time index relies on it)

UPDATE allowance_campaign SET sold_count = sold_count + (%(hi)s - %(lo)s + 1) WHERE id = %(campaign_id)s;
"""


def seed(*, ids: dict, lo: int, hi: int, kind_sql: str, prefix: str = "shopper", now=None,
         password: str = "!", valid_until=None) -> None:
    """Insert consumers lo..hi (account names prefix+i) with the rows of their kind, in one transaction."""
    from django.db import transaction
    from django.utils import timezone

    now = now or timezone.now()
    sql = SEED_SQL.format(
        kind=kind_sql, PAY=PAY, CREDIT=CREDIT, SPEND=SPEND, PRINCIPAL=PRINCIPAL, BONUS=BONUS,
        SPENT_PRINCIPAL=SPENT_PRINCIPAL, SPENT_BONUS=SPENT_BONUS,
    )
    params = {
        "lo": lo, "hi": hi, "prefix": prefix, "now": now, "password": password,
        "campaign_id": ids["campaign_id"], "store_id": ids["store_id"],
        "valid_until": valid_until or now + __import__("datetime").timedelta(days=365),
    }
    with transaction.atomic(), connection.cursor() as cur:
        # The rows are consistent by construction (tests/bench checks them with the constraints on); skipping
        # the deferred foreign-key triggers turns a commit of millions of single-row checks into nothing.
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)
        _gateway_books_seed(params)
    settle()


# What the sandbox gateway records when it applies those payouts (core/gateway.py): one row per idempotency key
# (refunds/payouts.py payout_key: the seeded parts have no UUID, so the id form), to the payment's reference, with
# the reference the allocation keeps. Its books are another database: copied there from the seed table.
GATEWAY_BOOKS_SQL = f"""
COPY (SELECT 'refund-' || fid || '-payment-' || pid, 'pay_bench_' || pid, {PRINCIPAL}, 'po_bench_' || fid,
             %(now)s - interval '1 hour'
      FROM seed WHERE fid IS NOT NULL) TO STDOUT
"""


def _gateway_books_seed(params: dict) -> None:
    with tempfile.TemporaryFile() as rows:
        with connection.cursor() as cur:
            cur.cursor.copy_expert(cur.cursor.mogrify(GATEWAY_BOOKS_SQL, params).decode(), rows)
        rows.seek(0)
        with connections["gateway"].cursor() as cur:
            cur.cursor.copy_expert("COPY refunds_sandboxpayout (key, payment_reference, amount, reference, created_at)"
                                   " FROM STDIN", rows)


def settle() -> None:
    """Leave the database as a long-running one is before the timed part: the set-up's rows vacuumed (hint bits
    and visibility map set, as autovacuum did long ago for real history), statistics fresh and its writes
    checkpointed — so the sweep neither races autovacuum over a million fresh rows nor pays for the set-up."""
    with connection.cursor() as cur:
        cur.execute("VACUUM (FREEZE, ANALYZE)")
        cur.execute("CHECKPOINT")


def fingerprint() -> dict:
    """What a sweep changed, in numbers that must be equal whichever way the sweep was done."""
    queries = {
        "requests_auto": "SELECT count(*), coalesce(sum(principal), 0), coalesce(sum(bonus_lapsed), 0)"
                         " FROM refunds_withdrawalrequest WHERE status = 'refunded'",
        "requests_pending": "SELECT count(*) FROM refunds_withdrawalrequest WHERE status = 'pending'",
        "refunds": "SELECT count(*), coalesce(sum(amount), 0) FROM refunds_refund",
        "allocations": "SELECT count(*), coalesce(sum(amount), 0) FROM refunds_refundallocation",
        "payments_refunded": "SELECT coalesce(sum(refunded_amount), 0) FROM allowance_payment",
        "wallets": "SELECT status, count(*), sum(principal), sum(bonus) FROM allowance_wallet GROUP BY status ORDER BY status",
        "ledger": "SELECT kind, count(*), sum(principal_delta), sum(bonus_delta) FROM allowance_ledgerentry"
                  " GROUP BY kind ORDER BY kind",
        "drift": "SELECT count(*) FROM allowance_wallet w LEFT JOIN (SELECT wallet_id, sum(principal_delta) p,"
                 " sum(bonus_delta) b FROM allowance_ledgerentry GROUP BY wallet_id) e ON e.wallet_id = w.id"
                 " WHERE w.principal <> coalesce(e.p, 0) OR w.bonus <> coalesce(e.b, 0)",
    }
    out = {}
    with connection.cursor() as cur:
        for name, sql in queries.items():
            cur.execute(sql)
            out[name] = [tuple(int(v) if isinstance(v, (int,)) or hasattr(v, "as_integer_ratio") else v for v in row)
                         for row in cur.fetchall()]
    return out
