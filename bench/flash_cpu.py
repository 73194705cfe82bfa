"""CPU per flash-sale request in one process (no HTTP server, no wrk): the purchase POST as the bench's buyers
send it (token, `Idempotency-Key`, body `{}`), through Django's WSGI handler under the production settings,
one buyer after another. Prints the process CPU (time.process_time: this Python's own work, not PostgreSQL's)
per sale (201) and per refusal (409 out_of_stock) separately, and the database round trips of each. Run from a
checkout, on a database of your own (BENCH_DATABASE_URL; it is emptied):

    python -m bench.flash_cpu BUYERS STOCK [--profile sale|refusal] [--repeat N]

With --profile, cProfile covers only the sales or only the refusals and prints the top of the cumulative list.
--repeat N runs the whole set-up + sale N times and prints each run's figures (the machine is noisy).
"""
import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "bench-only-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sa_bench"),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"),
    "THROTTLE_MONEY_RATE": "10000000/min",
    "CONN_MAX_AGE": "600",
    "LOG_LEVEL": "WARNING",
})
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402


def _environ(token: str, campaign_id: int, key: str) -> dict:
    body = b"{}"
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": f"/api/v1/campaigns/{campaign_id}/purchase/", "SCRIPT_NAME": "",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": f"Token {token}", "HTTP_IDEMPOTENCY_KEY": key,
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }


class _Queries:
    """Counts the statements the connection runs (an execute wrapper: no DEBUG needed)."""

    def __init__(self):
        self.count = 0
        self.sql = []

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        self.sql.append(sql)
        return execute(sql, params, many, context)


def run(buyers: int, stock: int, profile: str | None, show_sql: bool = False, calls: bool = False) -> dict:
    from bench import flash

    fx = flash._setup(buyers, stock)
    app = WSGIHandler()
    statuses = {}
    cpu = {"sale": [], "refusal": [], "other": []}
    queries = {"sale": [], "refusal": [], "other": []}
    function_calls = {"sale": [], "refusal": [], "other": []}
    profiler = cProfile.Profile(time.process_time) if profile else None
    counter = _Queries()
    warm = fx["rows"][:0]
    with connection.execute_wrapper(counter):
        for token, cid in warm + fx["rows"]:
            environ = _environ(token, fx["flash_id"], f"flash-{cid}")
            sold_out = flash_sold_out(fx["flash_id"]) if profile else None
            counter.count = 0
            counter.sql = []
            profiling = profiler is not None and (
                (profile == "sale" and not sold_out) or (profile == "refusal" and sold_out))
            if profiling:
                profiler.enable()
            counting = cProfile.Profile() if calls else None
            if counting:
                counting.enable()
            t0 = time.process_time()
            response = app(environ, lambda status, headers: None)
            body = b"".join(response)
            response.close()
            spent = time.process_time() - t0
            if counting:
                counting.disable()
                counting.create_stats()
                n_calls = sum(nc for (cc, nc, tt, ct, callers) in counting.stats.values())
            if profiling:
                profiler.disable()
            status = response.status_code
            statuses[status] = statuses.get(status, 0) + 1
            kind = "sale" if status == 201 else "refusal" if status == 409 and b"out_of_stock" in body else "other"
            if kind == "other" and len(cpu["other"]) < 3:
                print("unexpected", status, body[:300], file=sys.stderr)
            cpu[kind].append(spent)
            if counting:
                function_calls[kind].append(n_calls)
            if show_sql and len(cpu[kind]) == 2:
                print(f"-- the statements of a {kind}:", *counter.sql, sep="\n  ", file=sys.stderr)
            queries[kind].append(counter.count)
    out = flash._outcome(fx["flash_id"], __import__("datetime").datetime.now(__import__("datetime").timezone.utc))
    flash._check("in-process sale", out)
    if profiler is not None:
        profiler.dump_stats(f"/tmp/flash_cpu_{profile}.prof")
        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats("cumulative").print_stats(60)
        print(s.getvalue())
        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats("tottime").print_stats(30)
        print(s.getvalue())
    return {"statuses": statuses, "cpu": cpu, "queries": queries, "calls": function_calls}


def flash_sold_out(campaign_id: int) -> bool:
    # Only used to choose what to profile; read outside the profiled window.
    with connection.cursor() as cur:
        cur.execute("SELECT sold_count >= stock FROM allowance_campaign WHERE id = %s", [campaign_id])
        return cur.fetchone()[0]


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("buyers", type=int)
    parser.add_argument("stock", type=int)
    parser.add_argument("--profile", choices=["sale", "refusal"])
    parser.add_argument("--calls", action="store_true",
                        help="count Python function calls per sale and per refusal (cProfile; deterministic, unlike CPU time)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sql", action="store_true", help="print the statements of the second sale and refusal")
    args = parser.parse_args()
    reset_queries()
    for _ in range(args.repeat):
        r = run(args.buyers, args.stock, args.profile, args.sql, args.calls)
        parts = []
        for kind in ("sale", "refusal", "other"):
            xs = r["cpu"][kind]
            if xs:
                parts.append(f"{kind} n={len(xs)} mean {1000 * sum(xs) / len(xs):.2f} ms median "
                             f"{1000 * _median(xs):.2f} ms, {sum(r['queries'][kind]) / len(xs):.1f} queries"
                             + (f", {_median(r['calls'][kind]):,} function calls" if r["calls"][kind] else ""))
        print(f"CPU per request: {'; '.join(parts)}; statuses {r['statuses']}", flush=True)


if __name__ == "__main__":
    main()
