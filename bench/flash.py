"""The flash sale (issue 22): one campaign with limited stock, every buyer at the same second.

`--flash-buyers` consumers (default 20,000), each with a token and no wallet, POST
/api/v1/campaigns/ID/purchase/ once (with an Idempotency-Key, as an app sends it) through wrk, over each of
`--flash-connections`; the campaign has `--flash-stock` (default 5,000) and a limit of one per buyer. Printed
for the last (largest) connection count:

- `flash_sale_per_s`: purchases completed per second until sold out (stock ÷ the time from the first request
  to the last sale's payment row);
- `flash_sale_ceiling_per_s`: the same purchases written by hand in SQL through pgbench, same buyers, same
  connections, same data: wallet, payment and ledger inserts, then `UPDATE … SET sold_count = sold_count + 1
  WHERE sold_count < stock` last, committed at once (rolled back when it sold nothing);
- `flash_sale_ratio`, `flash_sale_p99_ms` (wrk's p99 over every answer), `flash_sale_oversold` (sold −
  stock, from the rows: payments, wallets and the campaign's count), `flash_sale_refused_ok` (1 when every
  buyer past the stock got a 409 `out_of_stock` and nobody a 5xx or another answer).
"""
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from django.db import connection

from bench import seed

FLASH_PAY, FLASH_CREDIT = 8000, 10000
CURVE: dict[int, dict] = {}


def add_arguments(parser) -> None:
    parser.add_argument("--flash-buyers", type=int, default=20_000)
    parser.add_argument("--flash-stock", type=int, default=5_000)
    parser.add_argument("--flash-connections", type=lambda s: [int(x) for x in s.split(",") if x], default=[32, 64],
                        help="wrk and pgbench connections; the RESULT lines are the last value's, the plot has all")
    parser.add_argument("--flash-plot", default="", help="plot throughput against connections to this PNG")
    parser.add_argument("--flash-before", default="", type=lambda s: {int(k): float(v) for k, v in
                                                                      (x.split(":") for x in s.split(",") if x)},
                        help="an earlier run's throughput to draw beside this one, e.g. 16:18,32:13,64:12")


def _setup(buyers: int, stock: int) -> dict:
    """Empty the database; one store, the flash campaign (on sale, `stock`, one per buyer) and `buyers` consumers
    with a token each and no wallet. Returns the ids and the buyers' (token, consumer id) rows."""
    seed.reset()
    ids = seed.fixtures()
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO allowance_campaign (store_id, name, pay_amount, credit_amount, starts_at, ends_at,"
            " valid_until, per_consumer_limit, stock, sold_count, ended_at, created_at)"
            " VALUES (%s, 'flash sale', %s, %s, now() - interval '1 minute', now() + interval '1 day',"
            " now() + interval '365 days', 1, %s, 0, NULL, now()) RETURNING id",
            [ids["store_id"], FLASH_PAY, FLASH_CREDIT, stock],
        )
        campaign_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) SELECT '!', false, 'buyer' || i, '', '', '', false, true, now()"
            " FROM generate_series(1, %s) i", [buyers])
        cur.execute(
            "INSERT INTO consumers_consumer (user_id, account_name, account_key, created_at)"
            " SELECT id, username, username, now() FROM auth_user WHERE username LIKE 'buyer%%' ORDER BY id")
        cur.execute(
            "INSERT INTO authtoken_token (key, created, user_id) SELECT md5('flash' || id) || substr(md5(id::text), 1, 8),"
            " now(), id FROM auth_user WHERE username LIKE 'buyer%%'")
        cur.execute("SELECT t.key, c.id FROM authtoken_token t JOIN consumers_consumer c ON c.user_id = t.user_id"
                    " ORDER BY c.id")
        rows = cur.fetchall()
    seed.settle()
    connection.close()
    return {**ids, "flash_id": campaign_id, "rows": rows}


def _every_buyer_answered(buyers: int, stall_seconds: float = 30):
    """True once every buyer's purchase has its answer stored with its Idempotency-Key (a 201 or a 4xx; a 5xx
    stores none), or when no answer came for `stall_seconds` (wrk is then stopped and the counts tell)."""
    seen = {"count": -1, "at": time.monotonic()}

    def check() -> bool:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM allowance_idempotencykey WHERE status_code IS NOT NULL")
            count = cur.fetchone()[0]
            # How many of the database's other sessions wait on a lock (the campaign row's queue) right now.
            cur.execute("SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FILTER (WHERE state ="
                        " 'active') FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            if count < buyers:
                check.lock_waits.append(cur.fetchone())
        if count != seen["count"]:
            seen.update(count=count, at=time.monotonic())
        return count >= buyers or time.monotonic() - seen["at"] > stall_seconds

    check.lock_waits = []
    return check


def _outcome(campaign_id: int, started_at) -> dict:
    """What the sale left in the rows: sold, per-buyer maximum, drift, and the sale's rate from the payments."""
    with connection.cursor() as cur:
        cur.execute("SELECT sold_count, stock FROM allowance_campaign WHERE id = %s", [campaign_id])
        sold_count, stock = cur.fetchone()
        cur.execute("SELECT count(*), count(DISTINCT consumer_id), max(created_at) FROM allowance_payment"
                    " WHERE campaign_id = %s", [campaign_id])
        payments, buyers, last = cur.fetchone()
        cur.execute("SELECT count(*) FROM allowance_wallet WHERE campaign_id = %s", [campaign_id])
        wallets = cur.fetchone()[0]
        drift = seed.fingerprint()["drift"][0][0]
    seconds = (last - started_at).total_seconds() if last else float("nan")
    return {"sold_count": sold_count, "stock": stock, "payments": payments, "buyers": buyers, "wallets": wallets,
            "drift": drift, "seconds": seconds, "rate": payments / seconds if last else 0.0}


def _check(label: str, out: dict) -> None:
    if not (out["payments"] == out["sold_count"] == out["wallets"] == out["buyers"]) or out["drift"]:
        raise SystemExit(f"the {label} left inconsistent rows: {out}")


# The ceiling's transaction. The buyer is the next consumer of the run (a sequence set to the first buyer's id);
# the inserts are skipped once the campaign is sold out (as the service's unlocked look first), and the stock is
# taken last with one conditional UPDATE, so the campaign row is held only for the COMMIT.
CEILING_SCRIPT = """\
BEGIN;
WITH c AS (SELECT nextval('bench_flash_buyer') AS consumer_id, k.id, k.store_id, k.pay_amount, k.credit_amount,
                  k.valid_until FROM allowance_campaign k WHERE k.id = :campaign AND k.sold_count < k.stock),
w AS (INSERT INTO allowance_wallet (consumer_id, campaign_id, store_id, paid, credited, principal, bonus, status,
                                    valid_until, created_at, attention_reason)
      SELECT consumer_id, id, store_id, pay_amount, credit_amount, pay_amount, credit_amount - pay_amount, 'active',
             valid_until, clock_timestamp(), '' FROM c RETURNING id, consumer_id),
p AS (INSERT INTO allowance_payment (consumer_id, wallet_id, campaign_id, amount, credit_amount, refunded_amount,
                                     status, gateway, gateway_reference, created_at)
      SELECT w.consumer_id, w.id, c.id, c.pay_amount, c.credit_amount, 0, 'succeeded', 'sandbox',
             'pay_flash_' || w.id, clock_timestamp() FROM w, c RETURNING id, wallet_id, amount, credit_amount)
INSERT INTO allowance_ledgerentry (wallet_id, kind, principal_delta, bonus_delta, payment_id, created_at)
SELECT wallet_id, 'top_up', amount, credit_amount - amount, id, clock_timestamp() FROM p;
WITH s AS (UPDATE allowance_campaign SET sold_count = sold_count + 1 WHERE id = :campaign AND sold_count < stock
           RETURNING 1) SELECT count(*) AS got FROM s \\gset
\\if :got
COMMIT;
\\else
ROLLBACK;
\\endif
"""


def _ceiling(*, campaign_id: int, first_buyer: int, buyers: int, connections: int, dsn_args: list[str]) -> float:
    """Run the hand-written purchases through pgbench; returns the wall-clock start (for the rate)."""
    with connection.cursor() as cur:
        cur.execute("DROP SEQUENCE IF EXISTS bench_flash_buyer")
        cur.execute("CREATE SEQUENCE bench_flash_buyer START %s", [first_buyer])
    connection.close()
    script = Path(tempfile.mkstemp(prefix="flash-", suffix=".sql")[1])
    script.write_text(CEILING_SCRIPT)
    per_client = -(-buyers // connections)
    started = time.time()
    out = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", str(connections), "-j", str(min(2, os.cpu_count() or 2)),
         "-t", str(per_client), "-D", f"campaign={campaign_id}", "-f", str(script), *dsn_args],
        capture_output=True, text=True)
    script.unlink()
    if out.returncode:
        raise SystemExit(f"pgbench failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return started


def phase_flash(args, results: dict, say, bench_env) -> None:
    from datetime import datetime, timezone as tz

    from bench.api import _wait_until_up, _wrk, gunicorn_start, gunicorn_stop
    from bench.run import BASE_PORT

    buyers, stock = args.flash_buyers, args.flash_stock
    say(f"\n== 7. Flash sale: stock {stock:,}, {buyers:,} buyers at once (limit 1 each), "
        f"connections {', '.join(map(str, args.flash_connections))} ==")
    s = connection.settings_dict
    dsn_args = ["-h", s["HOST"] or "127.0.0.1", "-p", str(s["PORT"] or 5432), "-U", s["USER"], s["NAME"]]
    tmp = Path(tempfile.mkdtemp(prefix="bench-flash-"))
    port = BASE_PORT
    server = gunicorn_start(args, bench_env, port=port, log=tmp / "gunicorn.log")
    try:
        for connections in args.flash_connections:
            fx = _setup(buyers, stock)
            data = tmp / "buyers.txt"
            data.write_text("".join(f"{token} {cid}\n" for token, cid in fx["rows"]))
            _wait_until_up(port, server)
            started = datetime.now(tz.utc)
            until = _every_buyer_answered(buyers)
            r = _wrk("flash.lua", data, 600, connections, port, str(fx["flash_id"]), until=until)
            waits = until.lock_waits or [(0, 0)]
            counts = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^FLASH (.*)$", r["output"], re.M).group(1)))
            counts = {k: int(v) for k, v in counts.items()}
            ours = _outcome(fx["flash_id"], started)
            _check("sale", ours)
            refused_ok = (counts["sold"] == ours["payments"] and counts["sold_out"] == buyers - ours["payments"]
                          and counts["refused"] == 0 and counts["failed"] == 0 and r["non2xx"] >= counts["sold_out"])
            say(f"  {connections} connections, ours: sold {ours['payments']:,} in {ours['seconds']:.2f}s = "
                f"{ours['rate']:,.0f}/s; answers: {counts['sold']:,} 201, {counts['sold_out']:,} 409 out_of_stock, "
                f"{counts['refused']:,} other 4xx, {counts['failed']:,} 5xx; p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms"
                + (f"; socket errors {r['socket_errors']}" if r["socket_errors"] else ""))
            say(f"  {' ' * 16}sessions waiting on a lock: {sum(w[0] for w in waits) / len(waits):.2f} of "
                f"{sum(w[1] for w in waits) / len(waits):.2f} active (mean of {len(waits)} samples, every 0.2 s)")
            say("  " + " " * 16 + "CPU per request: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms"].items()) + " ms")

            fx = _setup(buyers, stock)
            start = _ceiling(campaign_id=fx["flash_id"], first_buyer=fx["rows"][0][1], buyers=buyers,
                             connections=connections, dsn_args=dsn_args)
            ceiling = _outcome(fx["flash_id"], datetime.fromtimestamp(start, tz.utc))
            _check("SQL ceiling", ceiling)
            say(f"  {connections} connections, SQL ceiling (pgbench): sold {ceiling['payments']:,} in "
                f"{ceiling['seconds']:.2f}s = {ceiling['rate']:,.0f}/s; ratio {ours['rate'] / ceiling['rate']:.2f}")
            CURVE[connections] = {"ours": ours["rate"], "ceiling": ceiling["rate"], "p99": r["p99"]}
            results.update(
                flash_sale_per_s=ours["rate"], flash_sale_ceiling_per_s=ceiling["rate"],
                flash_sale_ratio=ours["rate"] / ceiling["rate"], flash_sale_p99_ms=r["p99"],
                flash_sale_oversold=max(ours["sold_count"], ours["payments"]) - stock,
                flash_sale_refused_ok=1 if refused_ok else 0,
            )
    finally:
        gunicorn_stop(server)
    if args.flash_plot:
        _plot(Path(args.flash_plot), stock, buyers, say, before=args.flash_before)


def _plot(path: Path, stock: int, buyers: int, say, before=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = sorted(CURVE)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(cs, [CURVE[c]["ours"] for c in cs], "o-", label="purchase API (gunicorn + wrk)")
    ax.plot(cs, [CURVE[c]["ceiling"] for c in cs], "s--", color="grey", label="hand-written SQL (pgbench)")
    if before:
        bs = sorted(before)
        ax.plot(bs, [before[c] for c in bs], "x:", color="tab:red", label="before (--flash-before)")
    for c in cs:
        ax.annotate(f"{CURVE[c]['ours']:.0f}/s", (c, CURVE[c]["ours"]), textcoords="offset points", xytext=(4, 6),
                    fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.set_xlabel("connections")
    ax.set_ylabel("purchases per second until sold out")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Flash sale: stock {stock:,}, {buyers:,} buyers")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    say(f"  plot: {path} (" + ", ".join(f"{c}: {CURVE[c]['ours']:.0f}/s" for c in cs) + ")")


RESULT_NAMES = ["flash_sale_per_s", "flash_sale_ceiling_per_s", "flash_sale_ratio", "flash_sale_p99_ms",
                "flash_sale_oversold", "flash_sale_refused_ok"]
