"""The HTTP API under load: gunicorn as in production, wrk on loopback, 32 connections, bounded in time.

Each endpoint is compared with GET /api/v1/ping/ — authenticated by token like every API view, doing nothing
else — served by the same gunicorn in the same run.
"""
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.db import connection

from bench import seed

LUA = Path(__file__).resolve().parent / "lua"


def _api_fixtures(users: int, fresh) -> dict:
    with connection.cursor() as cur:
        cur.execute("SELECT s.id, c.id, m.user_id FROM merchants_store s JOIN allowance_campaign c ON c.store_id = s.id"
                    " JOIN merchants_storemembership m ON m.store_id = s.id WHERE s.name = 'Bench Store'")
        row = cur.fetchone()
    if row is None:
        seed.reset()
        ids = seed.fixtures()
    else:
        ids = {"store_id": row[0], "campaign_id": row[1], "staff_id": row[2]}
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM consumers_consumer")
        start = cur.fetchone()[0] + 1
    # Consumed, active wallets (bought, spent 10.00, no withdrawal): what a withdrawal is asked on.
    seed.seed(ids=ids, lo=start, hi=start + users - 1, kind_sql="'consumed'", prefix="apiuser")
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO authtoken_token (key, created, user_id) SELECT md5('bench' || u.id) || substr(md5(u.id::text), 1, 8),"
            " now(), u.id FROM auth_user u WHERE u.username LIKE 'apiuser%%' ON CONFLICT DO NOTHING"
        )
        cur.execute(
            "SELECT t.key, w.id FROM authtoken_token t JOIN consumers_consumer c ON c.user_id = t.user_id"
            " JOIN allowance_wallet w ON w.consumer_id = c.id WHERE c.account_name LIKE 'apiuser%%'"
            " AND w.status = 'active' ORDER BY w.id"
        )
        rows = cur.fetchall()
    connection.close()
    return {**ids, "rows": rows}


def _wrk(script: str, data: Path, seconds: int, connections: int, port: int, *extra) -> dict:
    threads = min(2, os.cpu_count() or 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-s", str(LUA / script), f"http://127.0.0.1:{port}", "--", str(data), str(threads), *extra],
        capture_output=True, text=True, check=True,
    ).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": ms("50"), "p99": ms("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def _wait_until_up(port: int, process) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited at start")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ping/", timeout=2)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and refusing a request without a token
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer within 60 s")


def phase_api(args, results: dict, fresh, say, bench_env) -> None:
    from bench.run import BASE_PORT

    connections, seconds = args.api_connections, args.api_seconds
    # gunicorn as production runs it: config/gunicorn.py, with its defaults unless the flags say otherwise.
    workers = args.api_workers or 2 * (os.cpu_count() or 1) + 1
    worker_class, threads = args.api_worker_class, args.api_threads
    users = args.api_users
    kind = f"{workers} {worker_class} workers" + (f" x {threads} threads" if worker_class == "gthread" else "")
    say(f"\n== 4. API: gunicorn -c config/gunicorn.py ({kind}, config.settings.production), wrk on loopback, "
        f"{connections} connections, {seconds}s per endpoint ==")
    started = time.perf_counter()
    fx = _api_fixtures(users, fresh)
    say(f"  set-up: {users:,} consumers with a consumed wallet and a token in {time.perf_counter() - started:.1f}s (not timed)")
    rows = fx["rows"]
    half = len(rows) // 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    withdraw_data, other_data = tmp / "withdraw.txt", tmp / "others.txt"
    withdraw_data.write_text("".join(f"{t} {w}\n" for t, w in rows[:half]))
    other_data.write_text("".join(f"{t} {w}\n" for t, w in rows[half:]))

    port = BASE_PORT
    env = bench_env(THROTTLE_MONEY_RATE="10000000/min", CONN_MAX_AGE="600", WEB_CONCURRENCY=str(workers),
                    WEB_WORKER_CLASS=worker_class,
                    WEB_THREADS=str(threads if worker_class == "gthread" else 1),  # sync with threads > 1 is gthread
                    WEB_BIND=f"127.0.0.1:{port}", WEB_LOG_LEVEL="warning", WEB_TIMEOUT="60")
    server = subprocess.Popen(
        [str(Path(os.sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "config.wsgi:application"],
        env=env, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, stderr=tmp.joinpath("gunicorn.log").open("w"),
        start_new_session=True,
    )
    try:
        _wait_until_up(port, server)
        _wrk("ping.lua", other_data, 3, connections, port)  # warm every worker's connection and imports
        figures = {}
        for name, script, data, extra in [
            ("trivial GET /api/v1/ping/", "ping.lua", other_data, ()),
            ("GET /api/v1/wallets/", "wallets.lua", other_data, ()),
            ("POST /api/v1/orders/", "orders.lua", other_data, (str(fx["store_id"]), str(int(time.time())))),
            ("POST /api/v1/wallets/ID/withdrawals/", "withdraw.lua", withdraw_data, ()),
        ]:
            r = _wrk(script, data, seconds, connections, port, *extra)
            figures[name] = r
            bad = f", {r['non2xx']} non-2xx" if r["non2xx"] else ""
            bad += f", socket errors {r['socket_errors']}" if r["socket_errors"] else ""
            say(f"  {name:40} {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
                f"({r['requests']:,} requests{bad})")
        withdraw, trivial = figures["POST /api/v1/wallets/ID/withdrawals/"], figures["trivial GET /api/v1/ping/"]
        if withdraw["requests"] > half:
            say(f"  note: more withdrawals were sent than wallets prepared ({half:,}); raise --api-users")
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM refunds_withdrawalrequest r JOIN allowance_wallet w ON w.id = r.wallet_id"
                        " JOIN consumers_consumer c ON c.id = w.consumer_id"
                        " WHERE c.account_name LIKE 'apiuser%%' AND r.status = 'pending'")
            pending = cur.fetchone()[0]
        say(f"  check: {pending:,} withdrawal requests now pending for {withdraw['requests'] - withdraw['non2xx']:,} "
            f"2xx answers")
        results.update(
            api_withdraw_per_s=withdraw["rps"], api_trivial_per_s=trivial["rps"],
            api_withdraw_ratio=withdraw["rps"] / trivial["rps"], api_withdraw_p99_ms=withdraw["p99"],
            api_withdraw_p50_ms=withdraw["p50"],
            api_orders_per_s=figures["POST /api/v1/orders/"]["rps"],
            api_wallets_per_s=figures["GET /api/v1/wallets/"]["rps"],
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
