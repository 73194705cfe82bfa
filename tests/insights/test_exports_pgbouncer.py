"""Issue 20: the CSV exports and `reconcile` behind PgBouncer in transaction mode.

A transaction pool cannot keep a server-side cursor between statements (the next FETCH may land on another
server connection), so `default` there opens none (DATABASE_POOL_MODE=transaction) and `.iterator()` streams
through the stream alias (DATABASE_STREAM_URL, a session pool). Here a real pgbouncer (Debian's, on 127.0.0.1)
serves the test database both ways, and a process with that environment exports 5,000 refunds: while it
streams, the server shows the export's cursor being fetched from on the stream pool's connection.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
from django.db import connection, connections

from bench import seed
from tests.scheduling.conftest import _database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
ROWS = 5000


@pytest.fixture
def pgbouncer():
    """A pgbouncer on 127.0.0.1:645x (one port per xdist worker) with two pools on the test database:
    `txn` in transaction mode and `stream` in session mode."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    port = 6451 + int(worker.removeprefix("gw") or 0) % 9
    s = connection.settings_dict
    server = f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} dbname={s['NAME']}"
    # Outside pytest's own (root-only) tmp tree: pgbouncer runs as postgres and writes its log here.
    tmp = tempfile.TemporaryDirectory(prefix="sa-pgbouncer-")
    tmp_path = Path(tmp.name)
    tmp_path.chmod(0o777)
    (tmp_path / "users.txt").write_text(f'"{s["USER"]}" ""\n')
    config = tmp_path / "pgbouncer.ini"
    config.write_text(f"""[databases]
txn = {server} pool_mode=transaction
stream = {server} pool_mode=session
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp_path / "users.txt"}
pool_mode = transaction
default_pool_size = 4
max_client_conn = 50
ignore_startup_parameters = extra_float_digits
logfile = {tmp_path / "pgbouncer.log"}
pidfile = {tmp_path / "pgbouncer.pid"}
""")
    for path in tmp_path.iterdir():
        path.chmod(0o666)
    # pgbouncer refuses to run as root: it drops to the postgres user.
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    output = open(tmp_path / "pgbouncer.out", "wb")
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"  # Debian puts it in sbin
    proc = subprocess.Popen([binary, *user, str(config)], stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, dbname="txn", user=s["USER"]).close()
            break
        except psycopg2.OperationalError:
            assert proc.poll() is None and time.monotonic() < deadline, (
                (tmp_path / "pgbouncer.out").read_text() or "pgbouncer did not answer in 20 s")
            time.sleep(0.2)
    try:
        yield f"postgres://{s['USER']}@127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        output.close()
        tmp.cleanup()


def _environment(pgbouncer: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"{pgbouncer}/txn",
        "DATABASE_POOL_MODE": "transaction",
        "DATABASE_STREAM_URL": f"{pgbouncer}/stream?application_name=sa_stream_probe",
        "GATEWAY_DATABASE_URL": _database_url("gateway"),
        "CONN_MAX_AGE": "0",
    }


def test_the_refunds_export_streams_through_the_session_pool_while_default_is_a_transaction_pool(pgbouncer):
    # Given 5,000 refunds in the store of the staff member `bench-staff`
    seed.reset()
    seed.seed(ids=seed.fixtures(), lo=1, hi=ROWS, kind_sql="'refunded'")
    connections.close_all()

    # When a process configured for PgBouncer in transaction mode exports them, paused after the first row
    probe = subprocess.Popen([sys.executable, "-m", "tests.insights.stream_probe", "bench-staff"],
                             cwd=ROOT, env=_environment(pgbouncer), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        lines = [probe.stdout.readline().strip(), probe.stdout.readline().strip()]
        assert lines[1] == "STREAMING", lines + [probe.stderr.read()[-3000:]]
        # Then `default` opens no server-side cursor, and the export's cursor is open on the stream pool: its
        # connection's last statement fetched the next chunk of the cursor (not the whole result at once)
        assert lines[0] == "DEFAULT_DISABLES_CURSORS True"
        s = connection.settings_dict
        with psycopg2.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, dbname=s["NAME"],
                              user=s["USER"]) as direct, direct.cursor() as cur:
            cur.execute("SELECT query FROM pg_stat_activity WHERE application_name = 'sa_stream_probe'")
            statements = [query for (query,) in cur.fetchall()]
        assert any(q.startswith("FETCH FORWARD 2000 FROM \"_django_curs_") for q in statements), statements
        probe.stdin.write("\n")
        probe.stdin.flush()
        # And every row arrives
        assert probe.stdout.readline().strip() == f"ROWS {ROWS}", probe.stderr.read()[-3000:]
        assert probe.wait(timeout=60) == 0
    finally:
        if probe.poll() is None:
            probe.kill()


def test_reconcile_runs_through_pgbouncer_in_transaction_mode(pgbouncer):
    # Given seeded wallets, refunds and the gateway's books for them
    seed.reset()
    seed.seed(ids=seed.fixtures(), lo=1, hi=500, kind_sql="CASE WHEN mod(i, 2) = 0 THEN 'refunded' ELSE 'due' END")
    connections.close_all()

    # When reconcile runs in a process whose `default` is a transaction pool
    result = subprocess.run([sys.executable, "manage.py", "reconcile"], cwd=ROOT, env=_environment(pgbouncer),
                            capture_output=True, text=True, timeout=120)

    # Then it reads its one snapshot through the stream pool and finds everything in order
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reconcile: OK — 500 wallets" in result.stdout
