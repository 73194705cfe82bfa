#!/usr/bin/env python
"""Run web, Celery worker, payout worker and Celery beat in the foreground (`make run`); Ctrl-C stops them all.

A tiny supervisor so that `make run` needs nothing beyond requirements-dev.txt:

1. With no DATABASE_URL / REDIS_URL / CELERY_BROKER_URL it starts an embedded PostgreSQL and Redis
   (scripts/embedded.py, data under var/embedded/run/); an explicit URL always wins.
2. Migrates, seeds the demo and compiles the translations (if gettext's msgfmt is there).
3. Starts the four processes (web, worker, payout worker, beat), each in its own process group, its output
   prefixed with its name. When one of them (or an embedded server) exits, it says which, how (exit code or
   signal) and its last lines of output, and stops the rest; Ctrl-C does the same. SIGTERM first, SIGKILL after a grace period, the servers last:
   nothing is left behind (and the servers die with this process even if it is SIGKILLed).

The same commands are in the Procfile for honcho/foreman users and in docker-compose.yml.
"""
import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LAST_LINES = 30
COLOURS = {"web": "\033[36m", "worker": "\033[33m", "payouts": "\033[32m", "beat": "\033[35m"}
RESET = "\033[0m"
# What the start and stop messages name: every process commands() starts.
PROCESS_NAMES = "web, worker, payout worker and beat"


def commands(args) -> dict[str, list[str]]:
    python = sys.executable
    if args.server == "gunicorn":
        web = [python, "-m", "gunicorn", "config.wsgi", "--bind", f"{args.host}:{args.port}", "--workers", "2",
               "--access-logfile", "-"]
    else:
        web = [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"]
    return {
        "web": web,
        "worker": [python, "-m", "celery", "-A", "config", "worker", "-Q", "celery", "--loglevel", "INFO",
                   "--concurrency", str(args.concurrency), "--hostname", "worker@%h"],
        # Payout calls wait on the gateway: a thread pool on their own queue (PAYOUT_CONCURRENCY in flight).
        "payouts": [python, "-m", "celery", "-A", "config", "worker", "-Q", os.environ.get("PAYOUT_QUEUE", "payouts"),
                    "--pool", "threads", "--concurrency", os.environ.get("PAYOUT_CONCURRENCY", "16"),
                    "--loglevel", "INFO", "--hostname", "payouts@%h"],
        # One beat only (Celery's rule); the tasks it sends are idempotent, so a second one would do no harm.
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }


def pump(name: str, stream, colour: bool, tail: collections.deque) -> None:
    prefix = f"{COLOURS[name]}{name:>6} |{RESET} " if colour else f"{name:>6} | "
    for line in iter(stream.readline, b""):
        text = line.decode(errors="replace")
        tail.append(text)
        sys.stdout.write(prefix + text)
        sys.stdout.flush()


def how(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def report_death(name: str, pid: int, returncode: int, tail) -> None:
    bar = "!" * 78
    lines = [bar, f"  run | {name} (pid {pid}) {how(returncode)} — stopping the others.",
             f"  run | its last {len(tail)} lines of output:"] + [f"  run |   {line.rstrip()}" for line in tail] + [bar]
    print("\n".join(lines), flush=True)


def prepare(env: dict, stopping: threading.Event) -> int:
    """Migrate, seed the demo, compile translations; 0 when all went well."""
    python = sys.executable
    # --force: `make run` is the demo and runs with DEBUG off (the visitor's error pages); seeding its demo
    # accounts is what it is for, as it was when it ran with DEBUG on.
    steps = [[python, "manage.py", "migrate", "--noinput"], [python, "manage.py", "seed_demo", "--force"]]
    if shutil.which("msgfmt"):
        steps.append([python, "manage.py", "compilemessages", "--ignore=.venv", "--ignore=var",
                      "--ignore=node_modules", "-v0"])
    else:
        print("  run | msgfmt (gettext) not found: using the translations as committed", flush=True)
    for step in steps:
        if stopping.is_set():
            return 130
        result = subprocess.run(step, cwd=ROOT, env=env)
        if result.returncode != 0:
            print(f"  run | {' '.join(step[1:3])} {how(result.returncode)}", flush=True)
            return result.returncode or 1
    return 0


def stop(processes: dict[str, subprocess.Popen], grace: float = 10.0) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            try:
                # The main process only: Celery and gunicorn stop their own children (a warm shutdown).
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in processes.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything its children left behind
        except (ProcessLookupError, PermissionError):
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    parser.add_argument("--server", choices=["runserver", "gunicorn"], default=os.environ.get("WEB_SERVER", "runserver"))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "2")))
    parser.add_argument("--no-prepare", action="store_true", help="skip migrate, seed_demo and compilemessages")
    args = parser.parse_args()

    colour = sys.stdout.isatty()
    processes: dict[str, subprocess.Popen] = {}
    tails: dict[str, collections.deque] = {}
    stopping = threading.Event()
    servers = None

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_code = 0
    try:
        from scripts.embedded import start_missing
        from scripts.run_urls import urls_remove, urls_write

        servers = start_missing("run", durable=True)
        if servers is not None:
            where = "var/embedded/run/" + (f", PostgreSQL's (run as root) {servers.pg_home}/" if servers.pg_home else "")
            print(f"  run | embedded servers (data under {where}): pids {servers.pids()}; "
                  + " ".join(f"{k}={v}" for k, v in sorted(servers.env.items())), flush=True)
            if servers._private is None:  # the main data directory is ours, so is its urls.json
                print(f"  run | `python manage.py reconcile` (or `make reconcile`) in another terminal uses these "
                      f"servers while this runs ({urls_write()})", flush=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        # The demo shows what a visitor sees: the product's own 403/404/500 pages, not Django's debug pages
        # (DEBUG=1 make run brings those back); static files are served either way (config/settings/local.py).
        env.setdefault("DEBUG", "0")
        if not args.no_prepare:
            exit_code = prepare(env, stopping)
            if exit_code:
                return exit_code
        for name, cmd in commands(args).items():
            if stopping.is_set():
                break
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # own group: Ctrl-C reaches us, we stop them
            processes[name] = proc
            tails[name] = collections.deque(maxlen=LAST_LINES)
            threading.Thread(target=pump, args=(name, proc.stdout, colour, tails[name]), daemon=True).start()
            print(f"  run | started {name} (pid {proc.pid}): {' '.join(cmd)}", flush=True)
        print(f"  run | the demo is at http://{args.host}:{args.port}/ — Ctrl-C stops {PROCESS_NAMES}",
              flush=True)
        while not stopping.is_set():
            ended = [(name, proc) for name, proc in processes.items() if proc.poll() is not None]
            if ended:
                name, proc = ended[0]
                time.sleep(0.3)  # let its last lines through the pump
                report_death(name, proc.pid, proc.returncode, tails[name])
                exit_code = proc.returncode if proc.returncode > 0 else 1
                break
            dead_servers = [name for name in ("postgres", "redis")
                            if servers is not None and name in servers._procs and servers._procs[name].poll() is not None]
            if dead_servers:
                name = dead_servers[0]
                proc = servers._procs[name]
                report_death(f"embedded {name}", proc.pid, proc.returncode,
                             collections.deque([f"(its log is under "
                                                f"{servers.pg_home if name == 'postgres' and servers.pg_home else 'var/embedded/run'}"
                                                f"/{name}*.log)"]))
                exit_code = 1
                break
            stopping.wait(0.5)
    finally:
        print(f"  run | stopping {PROCESS_NAMES} …", flush=True)
        stop(processes)
        if servers is not None:
            urls_remove()
            print("  run | stopping the embedded PostgreSQL and Redis …", flush=True)
            servers.stop()
        print("  run | stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
