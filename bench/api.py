"""The HTTP API under load: gunicorn as in production, wrk on loopback, 32 connections, bounded in time.

Each endpoint is compared with GET /api/v1/ping/ — authenticated by token like every API view, doing nothing
else — served by the same gunicorn in the same run.
"""
import os
import re
import resource
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from statistics import median

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


ROLES = {"gunicorn": "gunicorn", "postgres": "PostgreSQL", "redis-server": "Redis"}
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _own_backends() -> set[int]:
    """The PostgreSQL backends connected to the benchmark's database (the server's workers keep theirs: CONN_MAX_AGE),
    but not this process's own."""
    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return {pid for (pid,) in cur.fetchall()}


def _cpu_ticks(server=None, backends=None) -> tuple[Counter, int]:
    """CPU time used so far, in clock ticks, by the processes of each role (from /proc), and by the machine.

    With `server` (the gunicorn Popen, started in a session of its own) only that server's processes count as
    gunicorn, and with `backends` only those PostgreSQL backends: on a shared machine other sessions run
    gunicorns and databases too, and their CPU is not this server's."""
    by_role = Counter()
    session = os.getsid(server.pid) if server is not None and server.poll() is None else None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        comm, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        role = ROLES.get(comm) or ("kernel" if comm.startswith("kworker") else None)
        if role == "gunicorn" and session is not None and int(fields[3]) != session:
            continue
        if role == "PostgreSQL" and backends is not None and int(stat.parent.name) not in backends:
            continue
        if role:
            by_role[role] += int(fields[11]) + int(fields[12])  # utime + stime
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return by_role, sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait


def _wrk(script: str, data: Path, seconds: int, connections: int, port: int, *extra, until=None, server=None) -> dict:
    """One wrk run of `seconds`; with `until` (a callable), stopped early (SIGINT: wrk prints its figures) as
    soon as `until()` is true — wrk's own clock always runs the whole duration. With `server` (the gunicorn
    Popen) the gunicorn and PostgreSQL CPU is that server's and its database's backends' alone."""
    threads = min(2, os.cpu_count() or 2)
    backends = _own_backends() if server is not None else None
    roles_before, machine_before = _cpu_ticks(server, backends)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-s", str(LUA / script), f"http://127.0.0.1:{port}", "--", str(data), str(threads), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    if until is not None:
        while process.poll() is None and not until():
            time.sleep(0.2)
        time.sleep(1)  # the last answers are committed before they are sent: let wrk read them
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{out[-2000:]}\n{err[-2000:]}")
    if backends is not None:  # a worker recycled meanwhile has a new backend: count from its start (≈ exact)
        backends |= _own_backends()
    roles_after, machine_after = _cpu_ticks(server, backends)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    # Where the machine's CPU went, per request answered: the server, the database, the kernel's writeback
    # (the WAL flushed at each commit), Redis and the load generator itself.
    cpu = {role: (roles_after[role] - roles_before[role]) * TICK_MS / requests
           for role in [*ROLES.values(), "kernel"]}
    cpu["wrk"] = ((wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)) * 1000 / requests
    cpu["machine"] = (machine_after - machine_before) * TICK_MS / requests
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests,
        "cpu_ms": cpu,
        "p50": ms("50"), "p99": ms("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
        "output": out,
    }


def _pending() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM refunds_withdrawalrequest WHERE status = 'pending'")
        return cur.fetchone()[0]


def _median_run(runs: list[dict]) -> dict:
    """Each figure's median over the rounds (CPU per request too)."""
    out = {key: median(r[key] for r in runs) for key in ("rps", "p50", "p99", "requests", "non2xx")}
    out["cpu_ms"] = {role: median(r["cpu_ms"][role] for r in runs) for role in runs[0]["cpu_ms"]}
    return out


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


def gunicorn_start(args, bench_env, *, port: int, log: Path, extra=(), **env_extra):
    """gunicorn as production runs it (config/gunicorn.py), with the worker flags, on `port`, in its own session."""
    workers = args.api_workers or 2 * (os.cpu_count() or 1) + 1
    env = bench_env(THROTTLE_MONEY_RATE="10000000/min", CONN_MAX_AGE="600", WEB_CONCURRENCY=str(workers),
                    WEB_WORKER_CLASS=args.api_worker_class,
                    # sync with threads > 1 is gthread
                    WEB_THREADS=str(args.api_threads if args.api_worker_class == "gthread" else 1),
                    WEB_BIND=f"127.0.0.1:{port}", WEB_LOG_LEVEL="warning", WEB_TIMEOUT="60", **env_extra)
    return subprocess.Popen(
        [str(Path(os.sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", *extra, "config.wsgi:application"],
        env=env, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, stderr=log.open("w"),
        start_new_session=True,
    )


def gunicorn_stop(server) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def phase_api(args, results: dict, fresh, say, bench_env) -> None:
    from bench.run import BASE_PORT

    connections, seconds = args.api_connections, args.api_seconds
    # gunicorn as production runs it: config/gunicorn.py, with its defaults unless the flags say otherwise.
    workers = args.api_workers or 2 * (os.cpu_count() or 1) + 1
    worker_class, threads = args.api_worker_class, args.api_threads
    users = args.api_users
    kind = f"{workers} {worker_class} workers" + (f" x {threads} threads" if worker_class == "gthread" else "")
    say(f"\n== 4. API: gunicorn -c config/gunicorn.py ({kind}, config.settings.production), wrk on loopback, "
        f"{connections} connections, {seconds}s per endpoint, {args.api_rounds} rounds ==")
    started = time.perf_counter()
    fx = _api_fixtures(users, fresh)
    say(f"  set-up: {users:,} consumers with a consumed wallet and a token in {time.perf_counter() - started:.1f}s (not timed)")
    rows = fx["rows"]
    rounds = args.api_rounds
    half = len(rows) // 2
    per_round = half // rounds
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    other_data = tmp / "others.txt"
    other_data.write_text("".join(f"{t} {w}\n" for t, w in rows[half:]))
    # Each round withdraws from wallets of its own: a wallet asked once is frozen.
    withdraw_data = [tmp / f"withdraw-{n}.txt" for n in range(rounds)]
    for n, path in enumerate(withdraw_data):
        path.write_text("".join(f"{t} {w}\n" for t, w in rows[n * per_round : (n + 1) * per_round]))

    port = BASE_PORT
    server = gunicorn_start(args, bench_env, port=port, log=tmp / "gunicorn.log")
    pending_before = _pending()
    try:
        _wait_until_up(port, server)
        _wrk("ping.lua", other_data, 3, connections, port)  # warm every worker's connection and imports
        # Rounds, each endpoint once per round, ping right before the withdrawals: this shared machine's speed
        # drifts by 10-30 % over minutes, so each ratio is taken within a round and the medians are reported.
        runs: dict[str, list[dict]] = {}
        for n in range(rounds):
            say(f"  round {n + 1} of {rounds}:")
            for name, script, data, extra in [
                ("GET /api/v1/wallets/", "wallets.lua", other_data, ()),
                ("POST /api/v1/orders/", "orders.lua", other_data, (str(fx["store_id"]), f"{int(time.time())}{n}")),
                ("trivial GET /api/v1/ping/", "ping.lua", other_data, ()),
                ("POST /api/v1/wallets/ID/withdrawals/", "withdraw.lua", withdraw_data[n], ()),
            ]:
                r = _wrk(script, data, seconds, connections, port, *extra, server=server)
                runs.setdefault(name, []).append(r)
                bad = f", {r['non2xx']} non-2xx" if r["non2xx"] else ""
                bad += f", socket errors {r['socket_errors']}" if r["socket_errors"] else ""
                say(f"  {name:40} {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
                    f"({r['requests']:,} requests{bad})")
                say("  " + " " * 40 + " CPU per request: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms"].items()) + " ms")
                if script == "withdraw.lua" and r["requests"] > per_round:
                    say(f"  note: more withdrawals were sent than wallets prepared ({per_round:,}); raise --api-users")
        figures = {name: _median_run(rs) for name, rs in runs.items()}
        withdraw, trivial = figures["POST /api/v1/wallets/ID/withdrawals/"], figures["trivial GET /api/v1/ping/"]
        ratios = sorted(w["rps"] / t["rps"] for w, t in zip(runs["POST /api/v1/wallets/ID/withdrawals/"],
                                                            runs["trivial GET /api/v1/ping/"]))
        say(f"  medians of {rounds} rounds:")
        for name, r in figures.items():
            say(f"  {name:40} {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms")
        say(f"  withdrawal / ping within each round: {', '.join(f'{x:.3f}' for x in ratios)}")
        answered = sum(r["requests"] - r["non2xx"] for r in runs["POST /api/v1/wallets/ID/withdrawals/"])
        say(f"  check: {_pending() - pending_before:,} withdrawal requests made pending for {answered:,} 2xx answers")
        wc, tc = withdraw["cpu_ms"], trivial["cpu_ms"]
        say(f"  machine CPU per request: withdrawal {wc['machine']:.2f} ms (of which PostgreSQL and the kernel's "
            f"writeback {wc['PostgreSQL'] + wc['kernel']:.2f}), ping {tc['machine']:.2f} ms: at a ratio of 0.5 the "
            f"withdrawal may cost {2 * tc['machine']:.2f} ms in all")
        results.update(
            api_withdraw_cpu_ms=wc["machine"], api_trivial_cpu_ms=tc["machine"],
            api_withdraw_per_s=withdraw["rps"], api_trivial_per_s=trivial["rps"],
            api_withdraw_ratio=median(ratios), api_withdraw_p99_ms=withdraw["p99"],
            api_withdraw_p50_ms=withdraw["p50"],
            api_orders_per_s=figures["POST /api/v1/orders/"]["rps"],
            api_wallets_per_s=figures["GET /api/v1/wallets/"]["rps"],
        )
    finally:
        gunicorn_stop(server)
