"""The HA pieces of `make failover-smoke`, on 127.0.0.1 from Debian's packages: a pg_auto_failover formation
(monitor + two PostgreSQL 15 nodes, synchronous replication), one PgBouncer per node in transaction mode, and a
Redis master + replica watched by three Sentinels.

    monitor :6432   node1 :6433  node2 :6434        (pg_autoctl, as the `postgres` user, data in BASE)
    pgbouncer1 :6441 → node1     pgbouncer2 :6442 → node2   (transaction pooling)
    redis :6391 (master) :6392 (replica)   sentinels :26391 :26392 :26393 (quorum 2), master name "sa-redis"

The PgBouncers pool in transaction mode; their database `sa_failover_session` is the same database in session mode,
for the server-side cursors of the streaming exports (DATABASE_STREAM_URL). The product reaches the primary with
libpq multi-host through the PgBouncers:
`postgres://postgres@/DB?host=127.0.0.1,127.0.0.1&port=6441,6442&target_session_attrs=read-write` — libpq tries
each PgBouncer and keeps the one whose server takes writes. A PgBouncer sits on its node (as it would on the
node's machine), so a node that dies takes its PgBouncer with it and libpq moves on.

The trap, found by the first run: PgBouncer hands every client the startup parameters it cached from the node
when its pool first connected — `in_hot_standby` and `default_transaction_read_only` among them — and libpq
(≥ 14) decides `target_session_attrs` from those when they are there. After a promotion or a demotion the cache
says the opposite of the truth: the promoted node's PgBouncer still says "standby" (refused), the demoted one's
says "primary" (chosen, then every write fails read-only). So a follower (`BouncerFollower`, what a
pg_auto_failover state hook would do in production) asks each node whether it takes writes (not in recovery, not
`default_transaction_read_only`) every 0.25 s and restarts the node's PgBouncer when the answer flips; the
restarted PgBouncer caches the new truth.

Every process is started here in its own session and stopped through its recorded pid, never by name.
"""
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from chaos.stack import Proc, port_free, wait_for_port

BASE = Path(os.environ.get("FAILOVER_DIR", "/var/tmp/sa-failover"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
MONITOR_PORT, NODE_PORTS, BOUNCER_PORTS = 6432, {"node1": 6433, "node2": 6434}, {"node1": 6441, "node2": 6442}
REDIS_PORTS, SENTINEL_PORTS = (6391, 6392), (26391, 26392, 26393)
REDIS_MASTER = "sa-redis"
DATABASE = "sa_failover"

# The monitor's health checks and the keepers' timeouts, shortened from pg_auto_failover's defaults (5 s checks,
# 20 s before a node is unhealthy, 30 s before a primary that does not answer is given up on) so that a failover
# fits in the smoke's 30 s budget. The keeper's partition timeout stays below the monitor's demote timeout: an
# isolated primary demotes itself before the monitor promotes the standby (no split brain).
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": 1000, "pgautofailover.health_check_timeout": 1000,
    "pgautofailover.health_check_max_retries": 1, "pgautofailover.health_check_retry_delay": 500,
    "pgautofailover.node_considered_unhealthy_timeout": 2000, "pgautofailover.primary_demote_timeout": 6000,
}
KEEPER_SETTINGS = {"timeout.network_partition_timeout": 4, "timeout.prepare_promotion_catchup": 10,
                   "timeout.prepare_promotion_walreceiver": 2, "timeout.postgresql_restart_failure_timeout": 10}


def say(*args) -> None:
    print("failover |", *args, flush=True)


class Cluster:
    def __init__(self, base: Path = BASE):
        self.base = base
        self.procs: dict[str, Proc] = {}
        self.sentinel_failovers_seen = 0
        self.bouncer_lock = threading.RLock()
        self.follower = BouncerFollower(self)

    # --- environment -----------------------------------------------------------------------

    def pg_env(self) -> dict:
        """pg_autoctl's files (config, state, runtime) under BASE, sockets there too: nothing in $HOME or /run."""
        b = str(self.base)
        return {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": b, "XDG_CONFIG_HOME": f"{b}/config",
                "XDG_DATA_HOME": f"{b}/data", "XDG_RUNTIME_DIR": f"{b}/run", "PGHOST": b, "PG_REGRESS_SOCK_DIR": b,
                "LANG": "C.UTF-8"}

    def _proc(self, name: str, argv: list, *, user: str | None = PG_USER, env: dict | None = None) -> Proc:
        proc = Proc(name, argv, env or self.pg_env(), self.base / f"{name}.log", user=user)
        self.procs[name] = proc
        return proc

    def autoctl(self, *args, check=True) -> subprocess.CompletedProcess:
        return subprocess.run(["pg_autoctl", *args], env=self.pg_env(), user=PG_USER, group=PG_USER, extra_groups=[],
                              cwd=self.base, capture_output=True, text=True, check=check, timeout=60)

    def psql(self, port: int, sql: str, *, db: str = "postgres", timeout: float = 10) -> str:
        result = subprocess.run([PG_BIN / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", db,
                                 "-XAtq", "-c", sql], capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise RuntimeError(f"psql :{port}: {result.stderr.strip()}")
        return result.stdout.strip()

    # --- PostgreSQL: monitor and nodes --------------------------------------------------------

    @property
    def monitor_uri(self) -> str:
        return f"postgres://autoctl_node@127.0.0.1:{MONITOR_PORT}/pg_auto_failover?sslmode=disable"

    def start(self) -> None:
        ports = [MONITOR_PORT, *NODE_PORTS.values(), *BOUNCER_PORTS.values(), *REDIS_PORTS, *SENTINEL_PORTS]
        taken = [p for p in ports if not port_free(p)]
        if taken:
            raise RuntimeError(f"ports {taken} are taken: is another failover run still up?")
        if self.base.exists():
            shutil.rmtree(self.base)
        (self.base / "run").mkdir(parents=True)
        shutil.chown(self.base, PG_USER, PG_USER)
        shutil.chown(self.base / "run", PG_USER, PG_USER)
        started = time.monotonic()
        self.redis_start()
        self.monitor_start()
        self.node_create("node1")
        self.wait_state({"node1": "single"}, timeout=60)
        self.node_create("node2")
        self.wait_state({"node1": "primary", "node2": "secondary"}, timeout=90, checkpoint="node1")
        # Only now: `config set` signals the running keeper to reload, and a SIGHUP kills a pg_basebackup under way.
        for name in NODE_PORTS:
            for key, value in KEEPER_SETTINGS.items():
                self.autoctl("config", "set", "--pgdata", str(self.base / name), key, str(value), check=False)
        for name in NODE_PORTS:
            self.bouncer_start(name)
        self.follower.start()
        say(f"cluster up in {time.monotonic() - started:.0f}s: {self.describe()}")

    def monitor_start(self) -> None:
        self._proc("monitor", [
            "pg_autoctl", "create", "monitor", "--pgdata", str(self.base / "monitor"), "--pgport", str(MONITOR_PORT),
            "--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--auth", "trust", "--no-ssl",
            "--pgctl", str(PG_BIN / "pg_ctl"), "--run"]).start()
        self._wait(lambda: self.psql(MONITOR_PORT, "select 1", db="pg_auto_failover") == "1", 60, "the monitor")
        for name, value in MONITOR_SETTINGS.items():
            self.psql(MONITOR_PORT, f"alter system set {name} = {value}", db="pg_auto_failover")
        self.psql(MONITOR_PORT, "select pg_reload_conf()", db="pg_auto_failover")

    def node_create(self, name: str) -> None:
        proc = self._proc(name, [
            "pg_autoctl", "create", "postgres", "--pgdata", str(self.base / name), "--pgport", str(NODE_PORTS[name]),
            "--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--name", name, "--auth", "trust", "--no-ssl",
            "--dbname", DATABASE, "--pgctl", str(PG_BIN / "pg_ctl"), "--monitor", self.monitor_uri, "--run"])
        proc.start()
        self._wait(lambda: (self.base / name / "pg_autoctl.cfg").exists() or self._cfg(name).exists(), 60,
                   f"{name}'s configuration")
        proc.argv = ["pg_autoctl", "run", "--pgdata", str(self.base / name)]  # from now on a restart just runs it

    def _cfg(self, name: str) -> Path:
        return self.base / "config" / "pg_autoctl" / str(self.base / name).lstrip("/") / "pg_autoctl.cfg"

    def states(self) -> dict[str, tuple[str, str]]:
        """node name → (reported state, assigned state), from the monitor."""
        rows = self.psql(MONITOR_PORT, "select nodename, reportedstate, goalstate from pgautofailover.node",
                         db="pg_auto_failover")
        return {r.split("|")[0]: tuple(r.split("|")[1:]) for r in rows.splitlines() if r}

    def wait_state(self, wanted: dict[str, str], timeout: float, checkpoint: str | None = None) -> None:
        """Wait until the monitor reports and assigns these states. `checkpoint`: a node on which to ask for an
        immediate checkpoint meanwhile — pg_basebackup waits for a spread one, which took minutes here."""
        def ok():
            if checkpoint:
                try:
                    self.psql(NODE_PORTS[checkpoint], "checkpoint", timeout=30)
                except Exception:  # noqa: BLE001 — not up, or not the primary: the state tells
                    pass
            states = self.states()
            return all(states.get(n, ("", ""))[0] == s and states[n][1] == s for n, s in wanted.items())
        self._wait(ok, timeout, f"states {wanted}")

    def primary(self) -> str | None:
        for name, (reported, assigned) in self.states().items():
            if reported in ("primary", "wait_primary", "single") and assigned == reported:
                return name
        return None

    def standby(self) -> str:
        return next(n for n in NODE_PORTS if n != self.primary())

    def describe(self) -> str:
        return ", ".join(f"{n} {r}/{a}" for n, (r, a) in sorted(self.states().items()))

    def sync_settings(self, name: str) -> str:
        port = NODE_PORTS[name]
        return (f"synchronous_standby_names='{self.psql(port, 'show synchronous_standby_names')}' "
                f"synchronous_commit={self.psql(port, 'show synchronous_commit')}")

    def postmaster_pid(self, name: str) -> int | None:
        """The node's running postmaster (checked against /proc: a stale pid file never names someone else's)."""
        try:
            pid = int((self.base / name / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if str(self.base / name) in cmdline else None

    def kill_postmaster(self, name: str) -> int | None:
        """SIGKILL the node's postmaster alone: its keeper starts it again (crash recovery, same role)."""
        pid = self.postmaster_pid(name)
        _sigkill(pid)
        return pid

    def kill_node(self, name: str) -> int | None:
        """The node's machine is lost: SIGKILL of its postmaster, its keeper and its PgBouncer together."""
        pid = self.postmaster_pid(name)
        _sigkill(pid)
        self.procs[name].kill()
        with self.bouncer_lock:
            self.procs[f"pgbouncer-{name}"].kill()
        self._kill_orphans(name)
        return pid

    def _kill_orphans(self, name: str) -> None:
        """Backends of a SIGKILLed postmaster exit by themselves; wait until the port is free for a restart."""
        self._wait(lambda: port_free(NODE_PORTS[name]), 20, f"{name}'s port to close")

    def node_rejoin(self, name: str) -> None:
        """The lost node comes back: its keeper asks the monitor, rewinds if needed and follows the new primary."""
        self.procs[name].start()
        self.bouncer_start(name)

    def switchover(self) -> None:
        self.autoctl("perform", "switchover", "--pgdata", str(self.base / "monitor"), "--formation", "default")

    # --- PgBouncer ------------------------------------------------------------------------------

    def bouncer_start(self, name: str) -> None:
        port = BOUNCER_PORTS[name]
        ini = self.base / f"pgbouncer-{name}.ini"
        if not ini.exists():
            (self.base / "userlist.txt").write_text(f'"{PG_USER}" ""\n')
            ini.write_text(f"""[databases]
{DATABASE}_session = host=127.0.0.1 port={NODE_PORTS[name]} dbname={DATABASE} pool_mode=session
* = host=127.0.0.1 port={NODE_PORTS[name]}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {self.base}/userlist.txt
admin_users = {PG_USER}
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
server_connect_timeout = 2
server_login_retry = 1
query_wait_timeout = 15
server_check_delay = 1
""")
            shutil.chown(ini, PG_USER, PG_USER)
        with self.bouncer_lock:
            proc = self.procs.get(f"pgbouncer-{name}") or self._proc(f"pgbouncer-{name}",
                                                                      ["/usr/sbin/pgbouncer", str(ini)])
            if proc.alive():
                return
            proc.start()
            wait_for_port(port)

    def bouncer_restart(self, name: str, *, only_if_running: bool = False) -> None:
        """PgBouncer crashes and comes back: every client connection through it is cut and must reconnect."""
        with self.bouncer_lock:
            proc = self.procs[f"pgbouncer-{name}"]
            if only_if_running and not proc.alive():
                return
            proc.kill()
            self.bouncer_start(name)

    # --- Redis and Sentinel ----------------------------------------------------------------------

    def redis_start(self) -> None:
        master, replica = REDIS_PORTS
        for port in REDIS_PORTS:
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(self.base), "--protected-mode", "no"]
            if port == replica:
                argv += ["--replicaof", "127.0.0.1", str(master)]
            self._proc(f"redis-{port}", argv, user=None, env=dict(os.environ)).start()
            wait_for_port(port)
        for port in SENTINEL_PORTS:
            conf = self.base / f"sentinel-{port}.conf"
            conf.write_text(f"""port {port}
bind 127.0.0.1
protected-mode no
dir {self.base}
sentinel monitor {REDIS_MASTER} 127.0.0.1 {master} 2
sentinel down-after-milliseconds {REDIS_MASTER} 1500
sentinel failover-timeout {REDIS_MASTER} 10000
sentinel parallel-syncs {REDIS_MASTER} 1
""")
            self._proc(f"sentinel-{port}", ["redis-server", str(conf), "--sentinel"], user=None,
                       env=dict(os.environ)).start()
            wait_for_port(port)

    def redis_master(self) -> int | None:
        """The master's port, as the Sentinels say now (None if none answers)."""
        import redis

        for port in SENTINEL_PORTS:
            try:
                host, master = redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(REDIS_MASTER)
                return int(master)
            except Exception:  # noqa: BLE001 — that Sentinel is down or busy: ask the next
                continue
        return None

    def kill_redis_master(self) -> int:
        """SIGKILL the Redis master; the Sentinels promote the replica. Returns the old master's port."""
        port = self.redis_master()
        self.procs[f"redis-{port}"].kill()
        return port

    def wait_redis_failover(self, old: int, timeout: float = 30) -> float:
        started = time.monotonic()
        self._wait(lambda: self.redis_master() not in (None, old), timeout, "the Sentinels' failover")
        self.sentinel_failovers_seen += 1
        return time.monotonic() - started

    def redis_rejoin(self, port: int) -> None:
        """The old master comes back empty; the Sentinels make it a replica of the new master."""
        self.procs[f"redis-{port}"].start()
        wait_for_port(port)

    # --- both ------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.follower.stop.set()
        for proc in self.procs.values():
            proc.closed = True
        order = [n for n in self.procs if n.startswith("pgbouncer")] + list(NODE_PORTS) + ["monitor"]
        order += [n for n in self.procs if n not in order]
        for name in order:
            proc = self.procs.get(name)
            if proc is not None:
                proc.stop(timeout=20)
        for name in [*NODE_PORTS, "monitor"]:  # a postmaster that outlived its keeper (started by pg_ctl by hand)
            _sigkill(self.postmaster_pid(name))

    def remove(self, *, keep_logs_in: Path) -> None:
        """After stop(): the logs to `keep_logs_in`, the data directories (a few hundred MB) away."""
        keep_logs_in.mkdir(parents=True, exist_ok=True)
        for log in self.base.glob("*.log"):
            shutil.copy(log, keep_logs_in / log.name)
        shutil.rmtree(self.base, ignore_errors=True)

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except Exception as exc:  # noqa: BLE001 — not up yet
                last = exc
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}{f': {last}' if last else ''}")


def _sigkill(pid: int | None) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class BouncerFollower(threading.Thread):
    """Restarts a node's PgBouncer when the node's role flips (see the module's docstring for why)."""

    def __init__(self, cluster: Cluster):
        super().__init__(name="bouncer-follower", daemon=True)
        self.cluster = cluster
        self.stop = threading.Event()
        self.in_recovery: dict[str, bool] = {}
        self.restarts = 0

    def _in_recovery(self, name: str) -> bool | None:
        import psycopg2

        try:
            conn = psycopg2.connect(host="127.0.0.1", port=NODE_PORTS[name], user=PG_USER, dbname="postgres",
                                    connect_timeout=1)
        except psycopg2.Error:
            return None  # down or starting: nothing to learn
        try:
            with conn.cursor() as cur:
                # Promoted but not yet writable counts as read-only: pg_auto_failover keeps a promoted standby on
                # default_transaction_read_only until the monitor confirms the old primary is gone (stop_replication).
                cur.execute("select pg_is_in_recovery() or current_setting('default_transaction_read_only')::bool")
                return cur.fetchone()[0]
        except psycopg2.Error:
            return None
        finally:
            conn.close()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            for name in NODE_PORTS:
                now = self._in_recovery(name)
                if now is None:
                    continue
                before = self.in_recovery.get(name)
                self.in_recovery[name] = now
                if before is not None and before != now:
                    say(f"{name} now {'refuses' if now else 'takes'} writes: its PgBouncer restarts")
                    self.restarts += 1
                    try:
                        self.cluster.bouncer_restart(name, only_if_running=True)
                    except Exception as exc:  # noqa: BLE001 — it tries again on the next flip; say so
                        say(f"restarting {name}'s PgBouncer failed: {exc}")
