"""CPU per API request in-process: the WSGI application gunicorn runs (config.wsgi, production settings, the
bench's database and Redis DB), called directly — no HTTP, no other process — so the figure is the Python side
of one request (plus psycopg2's and redis-py's client side), free of wrk and of the machine's other load.

    python -m bench.api_cpu [--n 2000] [--rounds 3] [--profile cprofile.out] [--only withdraw]

Each round times `--n` GET /api/v1/ping/ then `--n` POST /api/v1/wallets/<id>/withdrawals/ (each on a consumed
wallet of its own, as bench/api.py does) with time.process_time and perf_counter, and prints the per-request
CPU and wall time, and the CPU of its PostgreSQL backend (from /proc; the connection is persistent as in
gunicorn); medians over the rounds. `--profile` writes a cProfile of the withdrawals of the last round.
"""
import argparse
import io
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from statistics import median

from bench.run import DATABASE_URL  # production settings on the bench database, django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _environ(method: str, path: str, token: str, body: bytes = b"", extra: dict | None = None) -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000", "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    if body or method == "POST":
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(extra or {})
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--body", default="{}")
    parser.add_argument("--profile", help="write a cProfile of the last round's withdrawals here")
    parser.add_argument("--stacks", help="write CPU-time samples (ITIMER_PROF, every 0.5 ms of CPU) of the last "
                        "round as collapsed stacks ('f;g;h count' lines, flamegraph.pl's input) here")
    parser.add_argument("--only", default="ping,withdraw")
    parser.add_argument("--queries", action="store_true", help="print the SQL of one withdrawal")
    args = parser.parse_args()

    from core.management.commands.migrate import database_ensure

    print(f"database {DATABASE_URL}, load average {os.getloadavg()[0]:.1f}", flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    database_ensure("gateway")
    call_command("migrate", verbosity=0, interactive=False, database="gateway")
    from bench.api import _api_fixtures

    need = args.n * (args.rounds + 1) + 200
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM allowance_wallet w JOIN consumers_consumer c ON c.id = w.consumer_id"
                    " WHERE c.account_name LIKE 'apiuser%%' AND w.status = 'active'")
        have = cur.fetchone()[0]
    fx = _api_fixtures(max(need - have, 1), None)
    rows = iter(fx["rows"])
    connection.close()

    from config.wsgi import application

    status_seen = {}

    def start_response(status, headers, exc_info=None):
        status_seen[status] = status_seen.get(status, 0) + 1

    def call(env):
        body = b"".join(application(env, start_response))
        return body

    token0 = fx["rows"][-1][0]
    body = args.body.encode()

    def ping_batch(n):
        for _ in range(n):
            call(_environ("GET", "/api/v1/ping/", token0))

    def withdraw_batch(n):
        for _ in range(n):
            token, wallet = next(rows)
            call(_environ("POST", f"/api/v1/wallets/{wallet}/withdrawals/", token, body))

    # warm-up: imports, the connection, URL resolver caches
    ping_batch(200)
    withdraw_batch(100)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]

    def _backend_ticks() -> int:
        """CPU ticks (utime + stime) of this process's PostgreSQL backend (same machine: /proc is readable)."""
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    if args.queries:
        from django.db import reset_queries
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            withdraw_batch(1)
        for q in ctx.captured_queries:
            print(q["sql"])
        reset_queries()
    status_seen.clear()

    stacks: Counter = Counter()

    def sample(signum, frame):
        names = []
        while frame is not None:
            code = frame.f_code
            names.append(f"{code.co_name} ({code.co_filename.replace(site, '')}:{frame.f_lineno})")
            frame = frame.f_back
        stacks[";".join(reversed(names))] += 1

    site = sys.modules["django"].__file__.rsplit("django/", 1)[0]
    results: dict[str, list[tuple[float, float]]] = {"ping": [], "withdraw": []}
    only = args.only.split(",")
    for r in range(args.rounds):
        for name, fn in (("ping", ping_batch), ("withdraw", withdraw_batch)):
            if name not in only:
                continue
            profiler = None
            if args.profile and r == args.rounds - 1 and name == "withdraw":
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            if args.stacks and r == args.rounds - 1:
                signal.signal(signal.SIGPROF, sample)
                signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)
            p0 = _backend_ticks()
            c0, w0 = time.process_time(), time.perf_counter()
            fn(args.n)
            cpu, wall = (time.process_time() - c0) * 1000 / args.n, (time.perf_counter() - w0) * 1000 / args.n
            pg = (_backend_ticks() - p0) * TICK_MS / args.n
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            if args.stacks and r == args.rounds - 1:
                signal.setitimer(signal.ITIMER_PROF, 0, 0)
            results[name].append((cpu, wall, pg))
            print(f"round {r + 1} {name:8} cpu {cpu:.3f} ms/request  wall {wall:.3f} ms/request  "
                  f"PostgreSQL backend cpu {pg:.3f} ms/request", flush=True)
    print("statuses:", status_seen)
    if args.stacks:
        with open(args.stacks, "w") as out:
            for stack, count in stacks.items():
                out.write(f"{stack} {count}\n")
    for name, rs in results.items():
        if rs:
            print(f"median {name:8} cpu {median(r[0] for r in rs):.3f} ms  wall {median(r[1] for r in rs):.3f} ms  "
                  f"PostgreSQL backend {median(r[2] for r in rs):.3f} ms")
    if results["ping"] and results["withdraw"]:
        print(f"withdraw cpu / ping cpu = {median(r[0] for r in results['withdraw']) / median(r[0] for r in results['ping']):.2f}")


if __name__ == "__main__":
    main()
