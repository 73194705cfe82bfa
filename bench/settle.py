"""`make bench`'s settlement phase (issue 14): a big campaign expires, its wallets close and are paid out.

- expiry: `wallet_expire_due` over N expiring wallets in its own process, against the due sweep on the same N
  (same rows: "bought pay 80 get 100, spent 10.00"), and the broker messages it left per wallet;
- payout drain: `--drain-n` refunds waiting (committed by the expiry), the sandbox at 50 ms and 500 calls/s,
  paid by the payout workers as deployed (`--drain-pool threads`, `--drain-workers` processes of
  `--drain-concurrency`); the rate is read from the sandbox's own applied-at stamps, first to last;
- settle: `--settle-n` wallets whose `valid_until` passes a few seconds after the real beat, default worker and
  payout workers have started; the time from `valid_until` to the last payout applied at the sandbox, and the
  peak RSS of the largest process.

Called from bench/run.py (`--only settle`); prints its RESULT figures there.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection, connections
from django.utils import timezone

from bench import seed

ROOT = Path(__file__).resolve().parent.parent


def expiring(n: int, *, valid_until=None) -> None:
    """Empty the database and seed `n` open, consumed wallets (72.00 principal, 18.00 bonus) expiring at
    `valid_until` (default: a minute ago)."""
    started = time.perf_counter()
    seed.reset()
    ids = seed.fixtures()
    # History first (one refunded withdrawal per ten wallets, valid for a year): with the request and refund tables
    # empty at ANALYZE, PostgreSQL plans the deferred foreign-key checks of the new rows as sequential scans, and
    # every batch's COMMIT scans the whole table again (10,000 expiries took 5 x the sweep's time; 3,000 took
    # 8.6 s of COMMIT against 1.0 s). A database that has run for a day has those rows.
    history = max(n // 10, 100)
    seed.seed(ids=ids, lo=1, hi=history, kind_sql="'refunded'")
    seed.seed(ids=ids, lo=history + 1, hi=history + n, kind_sql="'consumed'",
              valid_until=valid_until or timezone.now() - timedelta(minutes=1))
    connection.close()
    print(f"  set-up: {n:,} expiring wallets in {time.perf_counter() - started:.1f}s (not timed)", flush=True)


def _child(args: list[str], env: dict) -> dict:
    report_path = Path(tempfile.mkstemp(prefix="settle-", suffix=".json")[1])
    out = subprocess.run([sys.executable, "-m", "bench.sweep_child", str(report_path), *args], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the sweep process failed:\n{out.stderr[-3000:]}")
    report = json.loads(report_path.read_text())
    report_path.unlink()
    return report


def _count(sql: str, params=None, using: str = "default") -> int:
    with connections[using].cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


class Processes:
    """Celery processes of the deployment (beat, default worker, payout workers), each logging to a file."""

    def __init__(self, env: dict, tmp: Path):
        self.env, self.tmp, self.procs = env, tmp, []

    def start(self, name: str, args: list[str], ready: str = " ready.") -> None:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as handle:
            popen = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", *args], cwd=ROOT, env=self.env,
                                     stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, popen, log, ready))

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for name, popen, log, ready in self.procs:
            while ready not in log.read_text(errors="replace"):
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)

    def peak_rss_mb(self) -> dict[str, float]:
        """VmHWM (peak resident set) of every process of each name, its pool children included."""
        import psutil

        out = {}
        for name, popen, _, _ in self.procs:
            try:
                family = [psutil.Process(popen.pid)] + psutil.Process(popen.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for proc in family:
                try:
                    with open(f"/proc/{proc.pid}/status") as status:
                        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
                except (OSError, StopIteration):
                    continue
                out[f"{name}:{proc.pid}"] = hwm / 1024
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU used so far by every process and its pool children."""
        import psutil

        total = 0.0
        for _, popen, _, _ in self.procs:
            try:
                family = [psutil.Process(popen.pid)] + psutil.Process(popen.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for proc in family:
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
        return total

    def stop(self) -> None:
        for _, popen, _, _ in self.procs:
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, popen, _, _ in self.procs:
            try:
                popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            popen.wait()


def payout_workers(procs: Processes, args, queue: str) -> None:
    for n in range(args.drain_workers):
        if args.drain_pool == "prefork":
            pool = ["--pool", "prefork", "--concurrency", str(args.drain_concurrency)]
        else:
            pool = ["--pool", args.drain_pool, "--concurrency", str(args.drain_concurrency)]
        procs.start(f"payouts{n + 1}", ["worker", "-Q", queue, *pool, "--loglevel", "WARNING", "--hostname",
                                        f"bench-payouts{n + 1}@%h", "--without-mingle", "--without-gossip"],
                    ready="")  # at WARNING Celery says nothing when ready; the timing never depends on it


GATEWAY = {"SANDBOX_GATEWAY_LATENCY_MS": "50", "SANDBOX_GATEWAY_RATE_LIMIT": "500", "PAYOUT_RATE_LIMIT": "500",
           "LOG_LEVEL": "WARNING"}


def phase_expiry(args, results: dict, say, bench_env, broker_flush) -> None:
    n = args.expiry_n or args.n
    say(f"\n== 4. Mass expiry: {n:,} wallets past valid_until, against the due sweep on the same N "
        f"({args.expiry_rounds} interleaved rounds: this machine's commit latency drifts by seconds) ==")
    expiry_rates, sweep_rates, ratios = [], [], []
    for round_ in range(args.expiry_rounds):
        expiring(n)
        broker_flush()
        report = _child(["expiry"], bench_env())
        rate = report["refunded"] / report["seconds"]
        handoffs = report["handoffs"]
        messages = handoffs.pop("messages")
        fp = seed.fingerprint()
        say(f"  wallet_expire_due: {report['refunded']:,} closed in {report['seconds']:.2f}s = {rate:,.0f}/s, peak RSS "
            f"{report['peak_rss_mb']:.0f} MB; broker got {messages:,} messages ("
            + ", ".join(f"{v:,} {k}" for k, v in sorted(handoffs.items())) + ")")
        if report["refunded"] != n or fp["drift"] != [(0,)] or _count(
                "SELECT count(*) FROM refunds_refund WHERE kind = 'expiry'") != n:
            raise SystemExit(f"the expiry did not close everything cleanly: {report} {fp}")
        broker_flush()
        HOOKS["fresh"](n)
        sweep_rate = HOOKS["sweep_ours"](f"the due sweep on the same {n:,}")["rate"]
        expiry_rates.append(rate)
        sweep_rates.append(sweep_rate)
        ratios.append(rate / sweep_rate)
        say(f"  round {round_ + 1}: expiry / sweep = {rate:,.0f} / {sweep_rate:,.0f} = {rate / sweep_rate:.2f}")
    results.update(expiry_per_s=statistics.median(expiry_rates), expiry_ratio=statistics.median(ratios),
                   expiry_broker_messages_per_wallet=messages / n, expiry_peak_rss_mb=report["peak_rss_mb"])


def phase_drain(args, results: dict, say, bench_env, broker_flush) -> None:
    n = args.drain_n
    batch = f", gateway batches of at most {args.drain_batch_size}" if args.drain_batch_size else ""
    say(f"\n== 5. Payout drain: {n:,} refunds waiting, sandbox 50 ms and 500 calls/s, payout workers "
        f"{args.drain_workers} x {args.drain_pool} {args.drain_concurrency}{batch} ==")
    expiring(n)
    env = bench_env(**GATEWAY, **({"PAYOUT_BATCH_SIZE": str(args.drain_batch_size)} if args.drain_batch_size else {}))
    _child(["expiry"], env)  # commits the refunds; their hand-off messages are dropped below
    broker_flush()
    queue = "payouts"
    # The refunds' payout messages wait on the queue before the workers start (publishing is not timed), one per
    # sweep batch as the expiry hands them off.
    from django.conf import settings

    from refunds.payouts import payout_enqueue

    ids = list(seed_refund_ids())
    for start in range(0, len(ids), settings.SWEEP_BATCH_SIZE):
        payout_enqueue(ids[start:start + settings.SWEEP_BATCH_SIZE])
    drain_started = timezone.now()  # the set-up's history rows were applied earlier: only later rows count
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        procs = Processes(env, Path(tmp))
        payout_workers(procs, args, queue)
        try:
            started = time.monotonic()
            while _count("SELECT count(*) FROM refunds_refund WHERE payout_status = 'processing'"):
                if time.monotonic() - started > args.drain_max_seconds:
                    say(f"  stopped after {args.drain_max_seconds}s")
                    break
                time.sleep(0.5)
            rss = procs.peak_rss_mb()
            cpu = procs.cpu_seconds()
        finally:
            procs.stop()
    with connections["gateway"].cursor() as cur:  # the sandbox's books: a database of their own (core/db.py)
        cur.execute("SELECT count(*), count(DISTINCT key), extract(epoch FROM max(created_at) - min(created_at))"
                    " FROM refunds_sandboxpayout WHERE created_at >= %s", [drain_started])
        applied, keys, span = cur.fetchone()
        cur.execute("SELECT max(c) FROM (SELECT count(*) c FROM refunds_sandboxpayout WHERE created_at >= %s"
                    " GROUP BY date_trunc('second', created_at)) s", [drain_started])
        busiest = cur.fetchone()[0]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE payout_attempts > 1), count(*) FILTER (WHERE payout_status"
                    " = 'needs_attention') FROM refunds_refund")
        retried, attention = cur.fetchone()
    rate = (applied - 1) / float(span) if span else 0
    say(f"  {applied:,} applied ({keys:,} keys, {applied - keys} doubles) in {float(span or 0):.1f}s = {rate:,.0f}/s;"
        f" busiest second {busiest}; {retried} retried, {attention} need attention; peak RSS per payout process "
        f"{max(rss.values(), default=0):.0f} MB; payout workers' CPU {cpu * 1000 / max(applied, 1):.1f} ms per payout;"
        f" load average {os.getloadavg()[0]:.1f}")
    if applied != keys or attention:
        raise SystemExit("the drain paid something twice or gave up on a payout")
    results.update(payout_drain_per_s=rate, payout_drain_ratio=rate / 500)


def seed_refund_ids():
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM refunds_refund WHERE payout_status = 'processing' ORDER BY id")
        for (refund_id,) in cur.fetchall():
            yield refund_id


def phase_settle(args, results: dict, say, bench_env, broker_flush, n: int | None = None) -> float:
    n = n or args.settle_n
    lead = args.settle_lead
    say(f"\n== 6. Settlement: {n:,} wallets pass valid_until {lead}s after beat, worker and payout workers start "
        f"(SWEEP_INTERVAL_SECONDS {args.settle_interval}) until the last payout is applied ==")
    valid_until = timezone.now() + timedelta(seconds=lead + 600)  # moved to its real time once the set-up is done
    expiring(n, valid_until=valid_until)
    broker_flush()
    env = bench_env(**GATEWAY, SWEEP_INTERVAL_SECONDS=str(args.settle_interval))
    with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp:
        procs = Processes(env, Path(tmp))
        procs.start("worker", ["worker", "-Q", "celery", "--concurrency", "2", "--loglevel", "WARNING",
                               "--hostname", "bench-worker@%h", "--without-mingle", "--without-gossip"], ready="")
        payout_workers(procs, args, "payouts")
        valid_until = timezone.now() + timedelta(seconds=lead)
        with connection.cursor() as cur:
            cur.execute("UPDATE allowance_wallet SET valid_until = %s WHERE status <> 'closed'", [valid_until])
        procs.start("beat", ["beat", "--loglevel", "INFO", "--schedule", str(Path(tmp) / "beat-schedule")],
                    ready="beat: Starting")
        try:
            procs.wait_ready()
            while _count("SELECT count(*) FROM refunds_sandboxpayout WHERE created_at >= %s", [valid_until],
                         using="gateway") < n:
                if (timezone.now() - valid_until).total_seconds() > args.settle_max_seconds:
                    say(f"  stopped after {args.settle_max_seconds}s")
                    break
                time.sleep(1)
            rss = procs.peak_rss_mb()
        finally:
            procs.stop()
    with connections["gateway"].cursor() as cur:
        # The set-up's history (one refunded withdrawal per ten wallets) was applied before: only later rows count.
        cur.execute("SELECT count(*), count(DISTINCT key), max(created_at), min(created_at) FROM refunds_sandboxpayout"
                    " WHERE created_at >= %s", [valid_until])
        applied, keys, last, first = cur.fetchone()
    with connection.cursor() as cur:
        cur.execute("SELECT min(closed_at), max(closed_at) FROM allowance_wallet WHERE closed_at >= %s", [valid_until])
        closed_first, closed_last = cur.fetchone()
    seconds = (last - valid_until).total_seconds() if last else float("inf")
    peak = max(rss.values(), default=0)
    say(f"  {applied:,} payouts applied ({applied - keys} doubles): first {(first - valid_until).total_seconds():.1f}s,"
        f" last {seconds:.1f}s after valid_until; wallets closed from "
        f"{(closed_first - valid_until).total_seconds():.1f}s to {(closed_last - valid_until).total_seconds():.1f}s;"
        f" ideal {n / 500:.0f}s; peak RSS of the largest process {peak:.0f} MB ("
        + ", ".join(f"{k.split(':')[0]} {v:.0f}" for k, v in sorted(rss.items(), key=lambda kv: -kv[1])[:4]) + ")")
    if applied != keys:
        raise SystemExit("settlement paid something twice")
    results[f"settle_{n // 1000}k_seconds"] = seconds
    if n == args.settle_n:
        # settle_ratio and the peak RSS are the --settle-n run's (100,000 by default).
        results.update(settle_ratio=seconds / (n / 500), settle_peak_rss_mb=peak)
    return seconds


SETTLE_CURVE: dict[int, float] = {}


HOOKS: dict = {}


def phase(args, results: dict, say, bench_env, broker_flush, fresh, sweep_ours) -> None:
    HOOKS.update(fresh=fresh, sweep_ours=sweep_ours)
    parts = args.settle_parts.split(",")
    if "expiry" in parts:
        phase_expiry(args, results, say, bench_env, broker_flush)
    if "drain" in parts:
        phase_drain(args, results, say, bench_env, broker_flush)
    if "settle" in parts:
        for n in sorted({*args.settle_curve, args.settle_n}):
            SETTLE_CURVE[n] = phase_settle(args, results, say, bench_env, broker_flush, n)
        plot(Path(args.settle_plot), say)


def plot(path: Path, say) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(SETTLE_CURVE)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ns, [SETTLE_CURVE[k] for k in ns], "o-", label="valid_until → last payout applied")
    ax.plot(ns, [k / 500 for k in ns], ":", color="grey", label="N ÷ rate limit (500/s)")
    for k in ns:
        ax.annotate(f"{SETTLE_CURVE[k]:.0f}s", (k, SETTLE_CURVE[k]), textcoords="offset points", xytext=(4, -12),
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("expiring wallets (N)")
    ax.set_ylabel("settlement time (s)")
    ax.set_title("Mass expiry to last payout, against N")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    say(f"  plot: {path} ({', '.join(f'{k:,}: {SETTLE_CURVE[k]:.0f}s' for k in ns)})")


def add_arguments(parser) -> None:
    parser.add_argument("--settle-parts", default="expiry,drain,settle")
    parser.add_argument("--expiry-n", type=int, default=0, help="expiring wallets for the expiry rate (default --n)")
    parser.add_argument("--expiry-rounds", type=int, default=3, help="interleaved expiry / sweep rounds (median)")
    parser.add_argument("--drain-n", type=int, default=20_000, help="refunds waiting for the payout drain")
    parser.add_argument("--drain-pool", default="threads", help="payout worker pool: threads or prefork")
    parser.add_argument("--drain-workers", type=int, default=2, help="payout worker processes")
    parser.add_argument("--drain-concurrency", type=int, default=16, help="threads (or processes) per payout worker")
    parser.add_argument("--drain-batch-size", type=int, default=0,
                        help="PAYOUT_BATCH_SIZE of the payout workers (default: the setting; 1 = one payout per call)")
    parser.add_argument("--drain-max-seconds", type=float, default=600)
    parser.add_argument("--settle-n", type=int, default=100_000)
    parser.add_argument("--settle-curve", type=lambda s: [int(x) for x in s.split(",") if x], default=[10_000],
                        help="other N for the settlement plot, e.g. 10000,1000000")
    parser.add_argument("--settle-lead", type=float, default=5, help="seconds from start-up to valid_until")
    parser.add_argument("--settle-interval", type=int, default=10, help="SWEEP_INTERVAL_SECONDS of the beat")
    parser.add_argument("--settle-max-seconds", type=float, default=1800)
    parser.add_argument("--settle-plot", default=str(ROOT / "docs" / "settle_vs_n.png"))


RESULT_NAMES = ["expiry_per_s", "expiry_ratio", "expiry_broker_messages_per_wallet", "payout_drain_per_s",
                "payout_drain_ratio", "settle_10k_seconds", "settle_100k_seconds", "settle_1000k_seconds", "settle_ratio",
                "settle_peak_rss_mb"]
