"""Real Celery workers and beats as subprocesses, against the test PostgreSQL database and Redis.

`celery_cluster` starts processes with `config.settings.e2e` (no eager mode), the test database's URL and a
queue of its own on Redis; each process logs to a file under the test's tmp dir (paths are printed, so a
failing test shows where to look). Every process is stopped by the fixture's finalizer, whatever happens.
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from allowance.services import campaign_purchase, order_spend
from refunds.services import withdrawal_request
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/2"


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.2):
    """Poll `condition` until it returns something truthy; fail saying `what` did not happen in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class CeleryCluster:
    tmp: Path
    env: dict
    procs: list[Proc] = field(default_factory=list)

    def _start(self, name: str, args: list[str], ready: str | None, **env) -> Proc:
        log = self.tmp / f"{name}.log"
        handle = open(log, "ab")
        popen = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args], cwd=ROOT,
            env={**self.env, **{k: str(v) for k, v in env.items()}},
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,  # own group: killable as a whole
        )
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        print(f"started {name} pid={popen.pid} log={log}")
        if ready:
            wait_for(lambda: ready in proc.text() or popen.poll() is not None, timeout=60, what=f"{name} ready")
            assert popen.poll() is None, f"{name} exited early:\n{proc.text()[-3000:]}"
        return proc

    def worker(self, name: str = "worker1", *, concurrency: int = 2, **env) -> Proc:
        return self._start(
            name, ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
                   "--without-mingle", "--without-gossip", "--pool", "prefork"],
            ready=" ready.", **env,
        )

    def beat(self, name: str = "beat1", **env) -> Proc:
        # Each beat keeps its own schedule file: two beats must never share one.
        return self._start(
            name, ["beat", "--loglevel", "INFO", "--schedule", str(self.tmp / f"{name}-schedule"), "--max-interval", "1"],
            ready="beat: Starting", **env,
        )

    def kill(self, proc: Proc, sig=signal.SIGKILL) -> None:
        """Signal the process and all its pool children (its process group)."""
        try:
            os.killpg(proc.popen.pid, sig)
        except ProcessLookupError:
            pass
        proc.popen.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)  # warm shutdown; Celery stops its pool itself
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.popen.wait(timeout=10)
            # Pool children that outlived their parent (after a SIGKILL of the parent) go too.
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def task_results(self, task: str) -> list[str]:
        """What each run of `task` returned, from every worker's log (`… succeeded in 0.1s: 42`)."""
        results = []
        for proc in self.procs:
            for line in proc.text().splitlines():
                if f"Task {task}[" in line and " succeeded in " in line:
                    results.append(line.rsplit(": ", 1)[-1].strip())
        return results


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_cluster(request, transactional_db, tmp_path, settings):
    """Start real workers and beats with `cluster.worker()` / `cluster.beat()`; all stopped at teardown."""
    assert connection.vendor == "postgresql", "the scheduling end-to-end tests run against PostgreSQL"
    import redis

    queue = f"sched-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.e2e",
        "DATABASE_URL": _database_url(),  # the test database, where the test writes its data
        "CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": REDIS_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "VAR_DIR": str(tmp_path / "var"),
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "WITHDRAWAL_HOLD_SECONDS": "2",
        "SWEEP_INTERVAL_SECONDS": "1",
        "PAYOUT_BACKOFF_BASE_SECONDS": "0.2",
        "PAYOUT_BACKOFF_MAX_SECONDS": "2",
        "PAYOUT_LEASE_SECONDS": "10",
        "PAYOUT_STUCK_SECONDS": "3",
        "SANDBOX_GATEWAY_LATENCY_MS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    print(f"scheduling test logs: {tmp_path}")
    cluster = CeleryCluster(tmp=tmp_path, env=env)
    request.addfinalizer(lambda: _cleanup(cluster, client, queue))
    settings.WITHDRAWAL_HOLD_SECONDS = 2  # the hold this process (the "web") applies to new requests
    return cluster


def _cleanup(cluster: CeleryCluster, client, queue: str) -> None:
    try:
        cluster.stop_all()
    finally:
        for key in client.scan_iter(match=f"{queue}*"):
            client.delete(key)


def held_requests(count: int, *, campaign=None, spend: int = 1000):
    """`count` consumers who each bought the campaign, spent a little and asked to withdraw (held)."""
    campaign = campaign or CampaignFactory()
    if not campaign.store.memberships.exists():
        StaffFactory(store=campaign.store)
    requests = []
    for n in range(count):
        consumer = ConsumerFactory()
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
        order_spend(consumer=consumer, store=campaign.store, order_ref=f"o-{uuid.uuid4().hex[:10]}", amount=spend)
        requests.append(withdrawal_request(wallet=wallet, actor=consumer.user))
    return requests


def expiring_wallet(*, seconds: int = 3):
    """A wallet of a campaign whose validity ends in `seconds` (its sale ends then too)."""
    now = timezone.now()
    end = now + timedelta(seconds=seconds)
    campaign = CampaignFactory(starts_at=now - timedelta(minutes=1), ends_at=end, valid_until=end)
    return campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
