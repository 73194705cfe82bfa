"""Merchant search by account name (SPEC §7) at scale: the page's query against the bare indexed SQL.

The page and the API call `allowance.selectors.consumers_search`; we time that queryset, evaluated, for exact
and prefix searches by the store's staff member, and the same question asked in hand-written SQL.
"""
import random
import statistics
import time

from django.db import connection

BARE_SQL = """
SELECT c.id, c.account_name FROM consumers_consumer c
WHERE {match} AND EXISTS (
    SELECT 1 FROM allowance_wallet w JOIN merchants_storemembership m ON m.store_id = w.store_id
    WHERE w.consumer_id = c.id AND m.user_id = %s)
ORDER BY c.account_key LIMIT 50
"""


def _percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[94]


def _time(fn, terms: list[str]) -> list[float]:
    out = []
    for term in terms:
        started = time.perf_counter()
        fn(term)
        out.append((time.perf_counter() - started) * 1000)
    return out


def phase_search(args, results: dict, fresh, say) -> None:
    from django.contrib.auth import get_user_model

    from allowance.selectors import consumers_search

    consumers = args.search_consumers
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM consumers_consumer c WHERE EXISTS (SELECT 1 FROM allowance_wallet w"
                    " WHERE w.consumer_id = c.id)")
        have = cur.fetchone()[0]
    if have < consumers:
        say(f"\n== 5. Merchant search: seeding {consumers:,} consumers with wallets in the store ==")
        fresh(consumers // 101, background=consumers - consumers // 101)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM consumers_consumer")
        total = cur.fetchone()[0]
    say(f"\n== 5. Merchant search by account name: {total:,} consumers holding wallets in the store ==")
    staff = get_user_model().objects.get(username="bench-staff")
    rng = random.Random(7)
    exact = [f"Shopper{rng.randint(1, total)}" for _ in range(args.search_samples)]
    # A prefix one or two digits short of a whole name: each matches 11–111 names (the page shows 50).
    prefix = [name[:-rng.choice([1, 2])] for name in exact]

    def ours(term, is_prefix):
        return list(consumers_search(user=staff, account_name=term, prefix=is_prefix))

    def bare(term, is_prefix):
        match = "c.account_key LIKE %s" if is_prefix else "c.account_key = %s"
        key = term.strip().casefold()
        with connection.cursor() as cur:
            cur.execute(BARE_SQL.format(match=match), [key.replace("%", r"\%").replace("_", r"\_") + "%" if is_prefix else key, staff.pk])
            return cur.fetchall()

    for term in exact[:3]:  # the results agree, and every exact search finds its consumer
        assert [c.pk for c in ours(term, False)] == [row[0] for row in bare(term, False)] != []
        assert [c.pk for c in ours(term[:-1], True)] == [row[0] for row in bare(term[:-1], True)]
    ours(exact[0], False), bare(exact[0], False)  # warm the connection
    for kind, terms, is_prefix in [("exact", exact, False), ("prefix", prefix, True)]:
        mine = _time(lambda t: ours(t, is_prefix), terms)
        base = _time(lambda t: bare(t, is_prefix), terms)
        (p50, p95), (b50, b95) = _percentiles(mine), _percentiles(base)
        say(f"  {kind:6}: consumers_search p50 {p50:.2f} ms, p95 {p95:.2f} ms; bare SQL p50 {b50:.2f} ms, "
            f"p95 {b95:.2f} ms ({len(terms)} searches each)")
        results[f"search_{kind}_p95_ms"] = p95
        results[f"search_{kind}_bare_p95_ms"] = b95
