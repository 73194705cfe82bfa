"""The ceiling: the sweep's effect written by hand in SQL, run on the same database by the benchmark.

One statement refunds up to `limit` due requests: it locks their wallets and requests (wallet first, SKIP
LOCKED), locks the wallets' payments, ends each request as refunded/auto with the wallet's principal and bonus,
inserts the refund, splits it over the payments newest first (window sum), raises each payment's
refunded_amount, inserts the allocations and the withdrawal_refund / bonus_lapse ledger entries and closes the
wallet. The same effect as `withdrawal_refund_due`, minus Python, the ORM and the payout hand-off.
"""
import time

import psycopg2

SWEEP_SQL = """
WITH due AS (
    SELECT id, wallet_id FROM refunds_withdrawalrequest
    WHERE status = 'pending' AND due_at <= %(now)s
    ORDER BY due_at, id LIMIT %(limit)s
),
w AS (
    SELECT w.id, w.principal, w.bonus FROM allowance_wallet w JOIN due ON due.wallet_id = w.id
    ORDER BY w.id FOR UPDATE OF w SKIP LOCKED
),
r AS (
    SELECT r.id, r.wallet_id, w.principal, w.bonus FROM refunds_withdrawalrequest r
    JOIN due ON due.id = r.id JOIN w ON w.id = r.wallet_id
    WHERE r.status = 'pending' ORDER BY r.id FOR UPDATE OF r
),
p AS (
    SELECT p.id, p.wallet_id, p.amount - p.refunded_amount AS refundable, p.created_at FROM allowance_payment p
    WHERE p.wallet_id IN (SELECT wallet_id FROM r) ORDER BY p.id FOR UPDATE OF p
),
req AS (
    UPDATE refunds_withdrawalrequest q SET status = 'refunded', resolution = 'auto', resolved_at = %(now)s,
           resolved_by_id = NULL, principal = r.principal, bonus_lapsed = r.bonus
    FROM r WHERE q.id = r.id
    RETURNING q.id, q.wallet_id, q.principal, q.bonus_lapsed
),
ref AS (
    INSERT INTO refunds_refund (wallet_id, request_id, order_id, kind, amount, payout_status, payout_attempts,
                                next_attempt_at, last_error, created_at, paid_at)
    SELECT wallet_id, id, NULL, 'withdrawal', principal, 'processing', 0, NULL, '', %(now)s, NULL
    FROM req WHERE principal > 0
    RETURNING id, wallet_id, amount
),
part AS (
    SELECT p.id, ref.id AS refund_id,
           GREATEST(LEAST(p.refundable, ref.amount - COALESCE(SUM(p.refundable) OVER (
               PARTITION BY p.wallet_id ORDER BY p.created_at DESC, p.id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)), 0) AS amount
    FROM p JOIN ref ON ref.wallet_id = p.wallet_id
),
pay AS (
    UPDATE allowance_payment x SET refunded_amount = x.refunded_amount + part.amount
    FROM part WHERE x.id = part.id AND part.amount > 0
),
alloc AS (
    INSERT INTO refunds_refundallocation (refund_id, payment_id, amount, gateway_reference)
    SELECT refund_id, id, amount, '' FROM part WHERE amount > 0
),
led AS (
    INSERT INTO allowance_ledgerentry (wallet_id, kind, principal_delta, bonus_delta, request_id, refund_id, created_at)
    SELECT req.wallet_id, 'withdrawal_refund', -req.principal, 0, req.id, ref.id, %(now)s
    FROM req JOIN ref ON ref.wallet_id = req.wallet_id
    UNION ALL
    SELECT wallet_id, 'bonus_lapse', 0, -bonus_lapsed, id, NULL, %(now)s FROM req WHERE bonus_lapsed > 0
),
closed AS (
    UPDATE allowance_wallet x SET principal = 0, bonus = 0, status = 'closed', closed_at = %(now)s
    FROM req WHERE x.id = req.wallet_id
)
SELECT count(*) FROM req
"""


def sweep(*, dsn: str, now, limit: int, max_seconds: float | None = None) -> tuple[int, float]:
    """Run the hand-written sweep until nothing is due, `limit` refunds per transaction. Returns (count, s)."""
    conn = psycopg2.connect(dsn)
    try:
        done = 0
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("PREPARE sweep(timestamptz, int) AS " + SWEEP_SQL.replace("%(now)s", "$1").replace("%(limit)s", "$2"))
            while True:
                cur.execute("EXECUTE sweep(%s, %s)", [now, limit])
                n = cur.fetchone()[0]
                conn.commit()
                if n == 0:
                    break
                done += n
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    break
        return done, time.perf_counter() - started
    finally:
        conn.close()
