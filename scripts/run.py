#!/usr/bin/env python
"""Run web + Celery worker + Celery beat together in the foreground (`make run`); Ctrl-C stops all three.

A tiny supervisor so that `make run` needs nothing beyond requirements.txt: each process runs in its own
process group, its output is prefixed with its name, and when one of them exits (or you press Ctrl-C) the
others are stopped too — SIGTERM first, SIGKILL after a grace period — so nothing is left behind.
The same three commands are in the Procfile for honcho/foreman users and in docker-compose.yml.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLOURS = {"web": "\033[36m", "worker": "\033[33m", "payouts": "\033[32m", "beat": "\033[35m"}
RESET = "\033[0m"


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
                    "--pool", "threads", "--concurrency", os.environ.get("PAYOUT_CONCURRENCY", "32"),
                    "--loglevel", "INFO", "--hostname", "payouts@%h"],
        # One beat only (Celery's rule); the tasks it sends are idempotent, so a second one would do no harm.
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }


def pump(name: str, stream, colour: bool) -> None:
    prefix = f"{COLOURS[name]}{name:>6} |{RESET} " if colour else f"{name:>6} | "
    for line in iter(stream.readline, b""):
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


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
    args = parser.parse_args()

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    colour = sys.stdout.isatty()
    processes: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name, cmd in commands(args).items():
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # own group: Ctrl-C reaches us, we stop them
            processes[name] = proc
            threading.Thread(target=pump, args=(name, proc.stdout, colour), daemon=True).start()
            print(f"  run | started {name} (pid {proc.pid}): {' '.join(cmd)}", flush=True)
        print(f"  run | the demo is at http://{args.host}:{args.port}/ — Ctrl-C stops web, worker and beat",
              flush=True)
        exit_code = 0
        while not stopping.is_set():
            ended = [(name, proc.returncode) for name, proc in processes.items() if proc.poll() is not None]
            if ended:
                name, exit_code = ended[0]
                print(f"  run | {name} exited with {exit_code}; stopping the others", flush=True)
                exit_code = exit_code or 1
                break
            stopping.wait(0.5)
    finally:
        print("  run | stopping web, worker and beat …", flush=True)
        stop(processes)
        print("  run | stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
