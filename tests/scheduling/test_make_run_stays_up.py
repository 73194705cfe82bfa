"""`make run` stays up under use (issue 12): the README's way, embedded servers, three minutes of real use.

The file broker it used to run on died after about three minutes of normal use. This starts
`scripts/run.py` (what `make run` runs) with no DATABASE_URL / REDIS_URL, so it starts its own embedded
PostgreSQL and Redis under a private var/; with a 5-second hold and a 2-second sweep it drives registrations,
purchases, spends and withdrawals (instant and held, refunded by the beat) for three minutes; then web, worker
and beat must all still be alive, `manage.py reconcile` must find nothing, and Ctrl-C must leave no process.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from scripts.embedded import free_port, pg_home_path
from tests.scheduling.make_run import make_run_start, make_run_wait, without_servers

ROOT = Path(__file__).resolve().parents[2]
DRIVE_SECONDS = int(os.environ.get("MAKE_RUN_DRIVE_SECONDS", "180"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(DRIVE_SECONDS + 600)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_make_run_stays_up_under_three_minutes_of_use_and_ctrl_c_leaves_nothing(tmp_path):
    # Given `make run`'s supervisor started as the README says: no server URLs, so embedded servers
    port = free_port()
    env = without_servers()
    env.update({"VAR_DIR": str(tmp_path / "var"), "WITHDRAWAL_HOLD_SECONDS": "5", "SWEEP_INTERVAL_SECONDS": "2",
                "THROTTLE_LOGIN_RATE": "100000/min", "THROTTLE_MONEY_RATE": "100000/min", "PYTHONUNBUFFERED": "1"})
    log_path = tmp_path / "make-run.log"
    run = make_run_start(port=port, log_path=log_path, env=env)
    print(f"make run's output: {log_path}")
    base = f"http://127.0.0.1:{port}"
    try:
        make_run_wait(run, base=base, log_path=log_path)
        output = log_path.read_text()
        pids = {name: int(pid) for name, pid in re.findall(r"started (web|worker|beat) \(pid (\d+)\)", output)}
        servers = {name: int(pid) for name, pid in re.findall(r"'(postgres|redis)': (\d+)", output)}
        database_url = re.search(r"DATABASE_URL=(\S+)", output).group(1)
        assert set(pids) == {"web", "worker", "beat"} and set(servers) == {"postgres", "redis"}, output[-3000:]

        # When consumers register, buy, spend and withdraw for three minutes of real time
        http = requests.Session()
        campaign = http.get(base + "/api/v1/campaigns/", timeout=10).json()[0]["id"]
        statuses, held, rounds = [], 0, 0
        started = time.monotonic()
        while time.monotonic() - started < DRIVE_SECONDS:
            rounds += 1
            name = f"u{uuid.uuid4().hex[:10]}"
            answer = http.post(base + "/api/v1/consumers/register/", json={"account_name": name, "password": "pw-" + name * 2},
                               timeout=30)
            statuses.append(answer.status_code)
            token = http.post(base + "/api/v1/auth/token/", json={"username": name, "password": "pw-" + name * 2},
                              timeout=30).json()["token"]
            auth = {"Authorization": f"Token {token}"}
            wallet = http.post(base + f"/api/v1/campaigns/{campaign}/purchase/", headers=auth, timeout=30)
            statuses.append(wallet.status_code)
            if rounds % 2:  # spend first: the withdrawal is held, and the beat's sweep refunds it after the hold
                statuses.append(http.post(base + "/api/v1/orders/", headers=auth, timeout=30, json={
                    "store": wallet.json()["store"]["id"], "order_ref": f"o-{name}", "amount": "10.00"}).status_code)
                held += 1
            statuses.append(http.post(base + f"/api/v1/wallets/{wallet.json()['id']}/withdrawals/", headers=auth,
                                      timeout=30).status_code)
            dead = [name for name, pid in {**pids, **servers}.items() if not alive(pid)]
            assert not dead, f"{dead} died while in use:\n{log_path.read_text()[-4000:]}"
            time.sleep(0.5)

        # Then every call was answered without a 5xx, and web, worker, beat and both servers are all alive
        assert statuses and max(statuses) < 500, sorted(set(statuses))
        assert statuses.count(201) == len(statuses), sorted(set(statuses))
        assert all(alive(pid) for pid in {**pids, **servers}.values()), log_path.read_text()[-4000:]
        # ... the beat refunded the held requests after their hold, and every payout went through
        import psycopg2

        deadline = time.monotonic() + 60
        while True:
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE resolution = 'auto') "
                            "FROM refunds_withdrawalrequest")
                pending, auto = cur.fetchone()
                cur.execute("SELECT count(*) FROM refunds_refund WHERE payout_status <> 'succeeded'")
                unpaid = cur.fetchone()[0]
            conn.close()
            if not pending and not unpaid:
                break
            assert time.monotonic() < deadline, f"{pending} requests still pending, {unpaid} payouts not paid"
            time.sleep(1)
        assert auto >= held - 1 > 0
        # ... and the books reconcile
        reconcile = subprocess.run([sys.executable, "manage.py", "reconcile"], cwd=ROOT, capture_output=True, text=True,
                                   env={**env, "DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1/0"})
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        print(f"make run: {rounds} rounds, {len(statuses)} calls, {held} held withdrawals refunded by the beat")
    finally:
        # When Ctrl-C reaches it
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)

    # Then it stops and leaves nothing behind: no web, worker, beat, PostgreSQL or Redis
    time.sleep(1)
    left = [name for name, pid in {**pids, **servers}.items() if alive(pid)]
    assert not left, f"left running after Ctrl-C: {left}"
    assert "stopped" in log_path.read_text().splitlines()[-1]
    shutil.rmtree(pg_home_path(tmp_path / "var" / "embedded" / "run"), ignore_errors=True)  # as root: its PostgreSQL
