"""`make bench`: the refund sweep, the API, merchant search and campaign insights, each against its ceiling or target.

    python -m bench.run [--n 100000] [--flat-due 10000] [--flat-background 1000000] [--rss-n 100000]
                        [--api-seconds 15] [--only sweep,flat,search,insights,api,rss,settle,flash]
                        [--drain-n 20000] [--settle-n 100000] [--settle-curve 10000,1000000]   (bench/settle.py)
                        [--flash-buyers 20000] [--flash-stock 5000] [--flash-connections 32,64]   (bench/flash.py)

Needs PostgreSQL (BENCH_DATABASE_URL, default the `sa_bench` database) and Redis (BENCH_REDIS_URL, default DB 5).
The benchmark owns that database: it empties it between variants. Set-up is never timed. Ends with one
`RESULT <name> <value>` line per figure.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sa_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
BASE_PORT = int(os.environ.get("BENCH_PORT", "8043"))


def bench_env(**extra) -> dict:
    """The production settings, pointed at the benchmark's own database and Redis DB."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


os.environ.update(bench_env())
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import ceiling, seed  # noqa: E402

RESULTS: dict[str, float] = {}
NOTES: list[str] = []


def say(*args) -> None:
    print(*args, flush=True)


def dsn() -> str:
    s = connection.settings_dict
    return f"dbname={s['NAME']} user={s['USER']} host={s['HOST']} port={s['PORT'] or 5432}"


def broker_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # DB 5 is the benchmark's own


def fresh(n_due: int, *, background: int = 0) -> dict:
    """Empty the database and seed `n_due` due requests (and `background` rows that are not due)."""
    started = time.perf_counter()
    seed.reset()
    ids = seed.fixtures()
    if background:
        every = (n_due + background) // n_due
        seed.seed(ids=ids, lo=1, hi=n_due * every, kind_sql=seed.kind_by_modulus(every))
    else:
        seed.seed(ids=ids, lo=1, hi=n_due, kind_sql=seed.kind_by_modulus(1))
    connection.close()
    say(f"  set-up: {n_due:,} due + {background:,} not due in {time.perf_counter() - started:.1f}s (not timed)")
    broker_flush()
    return ids


def sweep_ours(label: str, profile: str | None = None) -> dict:
    """Time `refunds.services.withdrawal_refund_due` in its own process (so its peak RSS is its own)."""
    report_path = Path(tempfile.mkstemp(prefix="sweep-", suffix=".json")[1])
    cmd = [sys.executable, "-m", "bench.sweep_child", str(report_path)]
    if profile:
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "-o", profile, "-f", "raw",
               "-r", "200", "--"] + cmd
    out = subprocess.run(cmd, env=bench_env(), cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the sweep process failed:\n{out.stderr[-3000:]}")
    report = json.loads(report_path.read_text())
    report_path.unlink()
    rate = report["refunded"] / report["seconds"]
    handoffs = report["handoffs"]
    say(f"  {label}: {report['refunded']:,} refunded in {report['seconds']:.2f}s = {rate:,.0f}/s, "
        f"peak RSS {report['peak_rss_mb']:.0f} MB; broker got {handoffs.pop('messages'):,} messages for "
        + ", ".join(f"{v:,} {k}" for k, v in sorted(handoffs.items())))
    report["rate"] = rate
    broker_flush()
    return report


def phase_sweep(args) -> None:
    n = args.n
    say(f"\n== 1. Auto-refund sweep: {n:,} due requests on consumed wallets ==")
    fresh(n)
    ours = sweep_ours("ours (withdrawal_refund_due, batch 500, Redis hand-off)", args.profile)
    fp_ours = seed.fingerprint()
    payouts = ours["handoffs"].get("refund_payouts", 0)
    if ours["refunded"] != n or payouts != n or fp_ours["drift"] != [(0,)]:
        raise SystemExit(f"the sweep did not refund everything cleanly: {ours} {fp_ours}")

    fresh(n)
    done, seconds = ceiling.sweep(dsn=dsn(), now=timezone.now(), limit=1, max_seconds=args.one_max_seconds)
    one_rate = done / seconds
    capped = done < n
    say(f"  ceiling, SQL one refund per transaction: {done:,} in {seconds:.2f}s = {one_rate:,.0f}/s"
        + (f" (stopped after {args.one_max_seconds}s)" if capped else ""))
    if not capped and seed.fingerprint() != fp_ours:
        raise SystemExit("the one-per-transaction ceiling did not have the same effect as the sweep")

    fresh(n)
    done, seconds = ceiling.sweep(dsn=dsn(), now=timezone.now(), limit=500)
    batched_rate = done / seconds
    say(f"  ceiling, SQL batches of 500 with FOR UPDATE SKIP LOCKED: {done:,} in {seconds:.2f}s = {batched_rate:,.0f}/s")
    if seed.fingerprint() != fp_ours:
        raise SystemExit(f"the batched ceiling did not have the same effect as the sweep:\n{seed.fingerprint()}\n{fp_ours}")
    say("  effect check: ours and the SQL ceilings leave identical requests, refunds, allocations, payments, "
        "wallets and ledger sums; no wallet drifts from its entries")
    RESULTS.update(sweep_per_s=ours["rate"], sweep_ceiling_one_per_s=one_rate,
                   sweep_ceiling_batched_per_s=batched_rate, sweep_ratio=ours["rate"] / batched_rate)
    RESULTS.setdefault("sweep_peak_rss_mb", ours["peak_rss_mb"])
    CURVE[n] = ours["seconds"]


def phase_flat(args) -> None:
    due, background = args.flat_due, args.flat_background
    say(f"\n== 2. Sweep cost vs. table size: {due:,} due alone, then among {background:,} not due ==")
    fresh(due)
    small = sweep_ours(f"{due:,} due alone")
    CURVE.setdefault(due, small["seconds"])
    if not args.no_flat_ceiling:
        # The same measure for the hand-written SQL: how much of the growth is the database's own (bigger indexes,
        # one due row per page instead of hundreds) rather than the sweep's.
        fresh(due)
        _, ceiling_small = ceiling.sweep(dsn=dsn(), now=timezone.now(), limit=500)
        fresh(due, background=background)
        _, ceiling_big = ceiling.sweep(dsn=dsn(), now=timezone.now(), limit=500)
        RESULTS["sweep_ceiling_flatness"] = ceiling_big / ceiling_small
        say(f"  ceiling (SQL, batches of 500): {ceiling_small:.2f}s alone, {ceiling_big:.2f}s among "
            f"{background:,}: flatness {RESULTS['sweep_ceiling_flatness']:.2f}")
    fresh(due, background=background)
    big = sweep_ours(f"{due:,} due among {background:,} held/cancelled/refunded")
    RESULTS["sweep_flatness"] = big["seconds"] / small["seconds"]
    say(f"  flatness (time among many / time alone) = {RESULTS['sweep_flatness']:.2f}")


def phase_rss(args) -> None:
    n = args.rss_n
    if n == args.n and "sweep_peak_rss_mb" in RESULTS and n not in args.curve_extra:
        say(f"\n== 3. Sweep memory: peak RSS at {n:,} due (measured in part 1) = {RESULTS['sweep_peak_rss_mb']:.0f} MB ==")
        return
    say(f"\n== 3. Sweep memory: peak RSS of the sweeping process at {n:,} due requests ==")
    fresh(n)
    report = sweep_ours(f"{n:,} due")
    RESULTS["sweep_peak_rss_mb"] = report["peak_rss_mb"]
    CURVE[n] = report["seconds"]
    NOTES.append(f"sweep_peak_rss_mb measured at {n:,} due requests")


CURVE: dict[int, float] = {}


def plot_curve(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(CURVE)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ns, [CURVE[k] for k in ns], "o-", label="withdrawal_refund_due")
    if len(ns) > 1:
        per = CURVE[ns[0]] / ns[0]
        ax.plot(ns, [per * k for k in ns], ":", color="grey", label="linear from the smallest N")
    for k in ns:
        ax.annotate(f"{CURVE[k]:.1f}s", (k, CURVE[k]), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("due requests (N)")
    ax.set_ylabel("sweep time (s)")
    ax.set_title("Auto-refund sweep time against N")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    say(f"  plot: {path} ({', '.join(f'{k:,}: {CURVE[k]:.1f}s' for k in ns)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="due requests in the sweep benchmark")
    parser.add_argument("--one-max-seconds", type=float, default=30,
                        help="stop the one-refund-per-transaction ceiling after this long (its rate is what counts)")
    parser.add_argument("--flat-due", type=int, default=10_000)
    parser.add_argument("--flat-background", type=int, default=1_000_000)
    parser.add_argument("--no-flat-ceiling", action="store_true",
                        help="skip the SQL ceiling's own flatness (saves one large set-up)")
    parser.add_argument("--rss-n", type=int, default=100_000, help="due requests for the peak-RSS run (1000000 for the target)")
    parser.add_argument("--curve-extra", type=lambda s: [int(x) for x in s.split(",") if x], default=[],
                        help="extra N values for the sweep-time plot, e.g. 1000000")
    parser.add_argument("--search-consumers", type=int, default=1_000_000,
                        help="consumers with wallets in the store for search (taken from the flatness data when equal)")
    parser.add_argument("--search-samples", type=int, default=300)
    parser.add_argument("--api-seconds", type=int, default=10)
    parser.add_argument("--api-rounds", type=int, default=3, help="API runs per endpoint, interleaved; medians reported")
    parser.add_argument("--api-connections", type=int, default=32)
    parser.add_argument("--api-workers", type=int, default=0, help="gunicorn workers (default: config/gunicorn.py's)")
    parser.add_argument("--api-worker-class", default="sync", help="gunicorn worker class: sync or gthread")
    parser.add_argument("--api-threads", type=int, default=8, help="threads per gthread worker")
    parser.add_argument("--api-users", type=int, default=90_000, help="consumers prepared for the API load")
    parser.add_argument("--insights-wallets", type=int, default=1_000_000,
                        help="wallets in the store for insights (taken from the search data when equal)")
    parser.add_argument("--insights-samples", type=int, default=30)
    parser.add_argument("--insights-hot-wallets", type=int, default=1_000_000,
                        help="wallets whose purchase, spend and refund all happened in the current hour (phase 6b)")
    parser.add_argument("--only", default="sweep,flat,search,insights,api,rss,settle,flash")
    parser.add_argument("--profile", help="record a py-spy profile of our sweep to this file")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "sweep_vs_n.png"))
    parser.add_argument("--keep", action="store_true", help="leave the data in the database afterwards")
    from bench import flash, settle

    settle.add_arguments(parser)
    flash.add_arguments(parser)
    parser.set_defaults(flash_plot=str(ROOT / "docs" / "flash_vs_connections.png"))
    args = parser.parse_args()
    phases = args.only.split(",")

    from django.core.management import call_command
    from django.db import connection as c

    from core.management.commands.migrate import database_ensure

    call_command("migrate", verbosity=0, interactive=False)
    database_ensure("gateway")  # the sandbox's books: sa_bench_gateway unless GATEWAY_DATABASE_URL says otherwise
    call_command("migrate", verbosity=0, interactive=False, database="gateway")

    with c.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    say(f"machine: {os.cpu_count()} CPUs, {mem_gb:.0f} GB, PostgreSQL {pg}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} (shared machine: figures are noisy)")
    started = time.perf_counter()
    if "sweep" in phases:
        phase_sweep(args)
    if "flat" in phases:
        phase_flat(args)
    if "search" in phases:
        from bench import search

        search.phase_search(args, RESULTS, fresh, say)
    if "insights" in phases:
        from bench import insights

        insights.phase_insights(args, RESULTS, fresh, say)
        insights.phase_insights_hot_hour(args, RESULTS, say)
    if "api" in phases:
        from bench import api

        api.phase_api(args, RESULTS, fresh, say, bench_env)
    if "rss" in phases:
        phase_rss(args)
        for n in args.curve_extra:
            if n not in CURVE:
                say(f"\n== sweep time at N = {n:,} (for the plot) ==")
                fresh(n)
                CURVE[n] = sweep_ours(f"{n:,} due")["seconds"]
    if "settle" in phases:
        settle.phase(args, RESULTS, say, bench_env, broker_flush, fresh, sweep_ours)
    if "flash" in phases:
        flash.phase_flash(args, RESULTS, say, bench_env)
    if CURVE:
        say("\n== plot ==")
        plot_curve(Path(args.plot))
    if not args.keep:
        seed.reset()
        with c.cursor() as cur:
            cur.execute("VACUUM")
    say(f"\ntotal {time.perf_counter() - started:.0f}s" + "".join(f"; {note}" for note in NOTES))
    for name in ["sweep_per_s", "sweep_ceiling_one_per_s", "sweep_ceiling_batched_per_s", "sweep_ratio",
                 "sweep_flatness", "sweep_ceiling_flatness", "sweep_peak_rss_mb", "api_withdraw_per_s", "api_trivial_per_s",
                 "api_withdraw_ratio", "api_withdraw_p99_ms", "api_withdraw_cpu_ms", "api_trivial_cpu_ms", "search_exact_p95_ms", "search_prefix_p95_ms",
                 "insights_p95_ms", "insights_first_ms", "insights_hot_hour_p95_ms", "insights_hot_rollup_ms",
                 "insights_hot_live_ms"] + settle.RESULT_NAMES + flash.RESULT_NAMES:
        if name in RESULTS:
            value = RESULTS[name]
            say(f"RESULT {name} {value:.3f}" if value < 10 else f"RESULT {name} {value:.0f}")


if __name__ == "__main__":
    main()
