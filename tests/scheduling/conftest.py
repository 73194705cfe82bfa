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
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, connections, transaction
from django.utils import timezone

from allowance.models import Campaign, LedgerEntry, Order, OrderAllocation, Payment, Wallet
from allowance.services import campaign_purchase, order_spend
from consumers.models import Consumer
from refunds.models import WithdrawalRequest
from refunds.services import withdrawal_request
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

ROOT = Path(__file__).resolve().parents[2]
# The session's Redis: embedded (tests/embedded_servers.py) or the one the environment names.
REDIS_URL = os.environ["REDIS_URL"]


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
    ready_mark: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class CeleryCluster:
    tmp: Path
    env: dict
    procs: list[Proc] = field(default_factory=list)

    def _start(self, name: str, args: list[str], ready: str, **env) -> Proc:
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
        proc.ready_mark = ready
        print(f"started {name} pid={popen.pid} log={log}")
        return proc

    def wait_ready(self, *procs: Proc) -> None:
        """Wait until each process says it is ready (they boot in parallel: Django + Celery take seconds)."""
        for proc in procs or self.procs:
            wait_for(lambda: proc.ready_mark in proc.text() or proc.popen.poll() is not None, timeout=90,
                     what=f"{proc.name} ready")
            assert proc.popen.poll() is None, f"{proc.name} exited early:\n{proc.text()[-3000:]}"

    def worker(self, name: str = "worker1", *, concurrency: int = 2, wait: bool = True, **env) -> Proc:
        proc = self._start(
            name, ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
                   "--without-mingle", "--without-gossip", "--pool", "prefork"],
            ready=" ready.", **env,
        )
        if wait:
            self.wait_ready(proc)
        return proc

    def beat(self, name: str = "beat1", *, wait: bool = False, **env) -> Proc:
        # Each beat keeps its own schedule file: two beats must never share one.
        proc = self._start(
            name, ["beat", "--loglevel", "INFO", "--schedule", str(self.tmp / f"{name}-schedule"), "--max-interval", "1"],
            ready="beat: Starting", **env,
        )
        if wait:
            self.wait_ready(proc)
        return proc

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
        deadline = time.monotonic() + 5  # then SIGKILL: everything the test checks is committed already
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


def _database_url(alias: str = "default") -> str:
    s = connections[alias].settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_cluster(request, transactional_db, tmp_path, settings):
    """Start real workers and beats with `cluster.worker()` / `cluster.beat()`; all stopped at teardown."""
    import redis

    queue = f"sched-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.e2e",
        "DATABASE_URL": _database_url(),  # the test database, where the test writes its data
        "GATEWAY_DATABASE_URL": _database_url("gateway"),  # and the test's gateway books (core/db.py)
        "CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": REDIS_URL,
        "REDIS_URL": REDIS_URL,
        # A queue and cache prefix of its own: tests on other xdist workers share this Redis but never take
        # each other's tasks or see each other's email-once marks.
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CACHE_KEY_PREFIX": queue,
        "VAR_DIR": str(tmp_path / "var"),
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "WITHDRAWAL_HOLD_SECONDS": "2",
        "SWEEP_INTERVAL_SECONDS": "1",
        "NOTIFY_INTERVAL_SECONDS": "1",
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
        # This run's queue and bindings, and the "email sent" marks (prefixed with the queue) it left in the cache.
        for pattern in (f"{queue}*", f"_kombu.binding*.{queue}"):
            for key in client.scan_iter(match=pattern):
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


def bulk_held_requests(count: int, *, due_in: float = 0.0):
    """`count` held requests written in bulk: exactly the rows the services write for "bought pay 80 get 100,
    spent 10.00, asked to withdraw" (principal 72.00, bonus 18.00), due `due_in` seconds from now.

    The services take ~30 queries per request; at 500 requests that alone would eat the time budget of these
    tests. Callers check `reconcile_findings()` afterwards, so the bulk rows are proven to agree with the ledger.
    """
    User = get_user_model()
    campaign = CampaignFactory(per_consumer_limit=1)
    StaffFactory(store=campaign.store)
    now = timezone.now()
    tag = uuid.uuid4().hex[:8]
    password = make_password("correct-horse-battery")
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"bulk-{tag}-{n}", email=f"bulk-{tag}-{n}@example.com", password=password) for n in range(count)]
        )
        consumers = Consumer.objects.bulk_create(
            [Consumer(user=u, account_name=u.username, account_key=Consumer.key_for(u.username)) for u in users]
        )
        wallets = Wallet.objects.bulk_create([
            Wallet(consumer=c, campaign=campaign, store=campaign.store, paid=8000, credited=10000, principal=7200,
                   bonus=1800, status=Wallet.Status.FROZEN, valid_until=campaign.valid_until)
            for c in consumers
        ])
        payments = Payment.objects.bulk_create([
            Payment(consumer=w.consumer, wallet=w, campaign=campaign, amount=8000, credit_amount=10000,
                    gateway_reference=f"pay_bulk_{tag}_{n}")
            for n, w in enumerate(wallets)
        ])
        orders = Order.objects.bulk_create([
            Order(consumer=w.consumer, store=campaign.store, order_ref=f"bulk-{tag}-{n}", amount=1000)
            for n, w in enumerate(wallets)
        ])
        OrderAllocation.objects.bulk_create(
            [OrderAllocation(order=o, wallet=w, principal=800, bonus=200) for o, w in zip(orders, wallets)]
        )
        entries = []
        for w, p, o in zip(wallets, payments, orders):
            entries.append(LedgerEntry(wallet=w, kind=LedgerEntry.Kind.TOP_UP, principal_delta=8000, bonus_delta=2000,
                                       payment=p, actor=w.consumer.user))
            entries.append(LedgerEntry(wallet=w, kind=LedgerEntry.Kind.SPEND, principal_delta=-800, bonus_delta=-200,
                                       order=o, actor=w.consumer.user))
        LedgerEntry.objects.bulk_create(entries)
        requests = WithdrawalRequest.objects.bulk_create([
            WithdrawalRequest(wallet=w, requested_at=now, due_at=now + timedelta(seconds=due_in), principal=7200,
                              bonus_lapsed=1800)
            for w in wallets
        ])
        Campaign.objects.filter(pk=campaign.pk).update(sold_count=count)
    return requests


def expiring_wallet(*, seconds: int = 3):
    """A wallet of a campaign whose validity ends in `seconds` (its sale ends then too)."""
    now = timezone.now()
    end = now + timedelta(seconds=seconds)
    campaign = CampaignFactory(starts_at=now - timedelta(minutes=1), ends_at=end, valid_until=end)
    return campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
