"""The embedded servers start for root wherever the checkout is (issue 18): a clone in a directory only its owner
can enter (mode 0700, like /root or a `mktemp -d`), with the pgserver binaries inside it too, as a venv there has.

As root, PostgreSQL runs as the unprivileged `sa-postgres`, which cannot enter such a directory: the binaries and
the data must be placed where it can reach them, without opening the owner's directories to everyone.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scripts.embedded import _package_dir

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)

START_AND_QUERY = """
import json, sys
import psycopg2, redis
from scripts.embedded import EmbeddedServers
servers = EmbeddedServers("private", durable=False)
env = servers.start()
try:
    with psycopg2.connect(env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('data_directory'), version()")
        data_directory, version = cur.fetchone()
    conn.close()
    pong = redis.Redis.from_url(env["REDIS_URL"]).ping()
    print(json.dumps({"data_directory": data_directory, "version": version, "pong": pong,
                      "pg_home": str(servers.pg_home) if servers.pg_home else None}))
finally:
    servers.stop()
"""


def test_embedded_servers_start_from_a_clone_in_a_0700_directory_and_leave_its_mode_alone():
    # Given a clone of this repository in a fresh `mktemp -d` (mode 0700), with pgserver installed inside it
    private = Path(tempfile.mkdtemp(prefix="sa-private-"))
    pg_home = None
    try:
        assert private.stat().st_mode & 0o777 == 0o700
        clone = private / "store-allowance"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
        # the working tree as it is now (the commit under test may not be checked in yet)
        shutil.copy2(ROOT / "scripts" / "embedded.py", clone / "scripts" / "embedded.py")
        clone_mode = clone.stat().st_mode
        site = clone / ".venv-site"
        package = _package_dir("pgserver")
        shutil.copytree(package, site / "pgserver", symlinks=True)
        shutil.copytree(package.parent / "pgserver.libs", site / "pgserver.libs", symlinks=True)  # its RPATH
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(clone)])

        # When the embedded servers start from there
        result = subprocess.run([sys.executable, "-c", START_AND_QUERY], cwd=clone, env=env, capture_output=True,
                                text=True, timeout=180)

        # Then PostgreSQL and Redis answered
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        import json

        answer = json.loads(result.stdout.strip().splitlines()[-1])
        pg_home = answer["pg_home"]
        assert answer["pong"] is True and "PostgreSQL 16" in answer["version"]
        if os.geteuid() == 0:
            # ... PostgreSQL ran from binaries and data outside the private directory, which kept its mode
            assert pg_home and not answer["data_directory"].startswith(str(private)), answer
        assert private.stat().st_mode & 0o777 == 0o700
        assert clone.stat().st_mode == clone_mode
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if pg_home:
            shutil.rmtree(pg_home, ignore_errors=True)
