"""`make failover-smoke`: the stack of `make chaos` on a PostgreSQL HA pair, PgBouncer and Redis Sentinel, under
load and faults; then nothing acknowledged is lost and nothing is paid twice.

    python -m chaos.failover [--seed 1] [--keep]

1. chaos/cluster.py: pg_auto_failover (monitor + node1 + node2, synchronous), a PgBouncer per node (transaction
   mode), Redis master + replica + 3 Sentinels. The gateway's books live outside the cluster, in the database
   `sa_failover_gateway` on the machine's PostgreSQL (127.0.0.1:5432). gunicorn on :8081, two Celery workers, beat.
2. Seeds consumers and a 1,000-wallet mass expiry (chaos/run.py), then drives the API (chaos/load.py: purchases,
   spends, returns, instant withdrawals, held requests, merchants' refunds-now) plus a probe that posts a 0.01
   spend every 0.3 s to time the recoveries.
3. Faults, in this order: a PgBouncer SIGKILLed and restarted, the Redis master SIGKILLed (Sentinel failover; it
   rejoins as a replica), the primary's postmaster SIGKILLed alone (its keeper restarts it), the primary node lost
   mid-drain of the mass expiry (postmaster, keeper and PgBouncer SIGKILLed: the monitor promotes the synchronous
   standby), the old primary rejoining, a switchover under load.
4. Drains, then two oracles: the gateway's (its books, outside the cluster: no payout for a part we do not have,
   none with another amount or payment, none twice, per payment the gateway's total equal to ours) and the
   client's (every 2xx money answer the load received exists afterwards, same owner and amount). Then a 50,000-row
   refunds CSV export through PgBouncer (rows seeded by SQL, after the oracles so they do not count).
5. Negative control: the standby is lost (pg_auto_failover then runs the primary alone, asynchronously), money moves
   for a while, the primary is lost and the stale standby is promoted by hand — the asynchronous failover
   pg_auto_failover refuses to do. The oracles must see the loss.

Prints the RESULT lines and exits 1 on FAIL. Everything is torn down at the end, also on failure or Ctrl-C.
"""
import argparse
import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

from chaos.cluster import BOUNCER_PORTS, DATABASE, NODE_PORTS, PG_BIN, PG_USER, REDIS_MASTER, SENTINEL_PORTS, Cluster
from chaos.run import drain, mass_expiry_moment, seed_mass_expiry, seed_world
from chaos.stack import PYTHON, ROOT, Proc, Stack, StackConfig, databases_recreate, port_free

GATEWAY_DB = "sa_failover_gateway"
MONEY_KINDS = {"buy", "spend", "withdraw", "cancel", "merchant-refund", "probe"}
EXPORT_ROWS = 50_000


def say(*args) -> None:
    print("failover |", *args, flush=True)


def multi_host(ports, database: str = DATABASE) -> str:
    """libpq multi-host in the URL's query (dj-database-url cannot parse hosts in the netloc)."""
    hosts = ",".join("127.0.0.1" for _ in ports)
    return (f"postgres://{PG_USER}@/{database}?host={hosts}&port={','.join(map(str, ports))}"
            f"&target_session_attrs=read-write&connect_timeout=2")


class FailoverConfig(StackConfig):
    @property
    def database_url(self) -> str:
        return multi_host(BOUNCER_PORTS.values())

    @property
    def redis_url(self) -> str:
        return ";".join(f"sentinel://127.0.0.1:{port}/0" for port in SENTINEL_PORTS)

    def env(self) -> dict:
        env = super().env()
        env.update({
            "REDIS_SENTINEL_MASTER": REDIS_MASTER,
            "DATABASE_POOL_MODE": "transaction",
            "DATABASE_STREAM_URL": multi_host(BOUNCER_PORTS.values(), f"{DATABASE}_session"),
            "DATABASE_DIRECT_URL": multi_host(NODE_PORTS.values()),
            "GATEWAY_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{GATEWAY_DB}",
            # A connection per request: a pooled one may sit on a node that was demoted meanwhile, and a new
            # one asks libpq again which node takes writes.
            "CONN_MAX_AGE": "0",
        })
        return env


class FailoverStack(Stack):
    def __init__(self, config):
        super().__init__(config)
        self.cluster = Cluster()

    def start(self) -> None:
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        (self.config.run_dir / "var").mkdir(exist_ok=True)
        if not port_free(self.config.web_port):
            raise RuntimeError(f"port {self.config.web_port} is taken")
        self.cluster.start()
        # The gateway's books outside the cluster, on the machine's server, as a provider's are.
        databases_recreate(host="127.0.0.1", port=5432, user="postgres", drop=[GATEWAY_DB], create=[GATEWAY_DB])
        self.migrate()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.cluster.stop()
            self.cluster.remove(keep_logs_in=self.config.run_dir / "cluster")


# --- the client oracle's records ------------------------------------------------------------------


def oracle_api(base_url, recorder, answers: list, lock: threading.Lock):
    from chaos.load import Api

    class OracleApi(Api):
        """The load's client, also writing down every 2xx answer to a money POST (for the client oracle)."""

        def call(self, kind, method, path, **kwargs):
            status, payload = super().call(kind, method, path, **kwargs)
            if method == "POST" and kind in MONEY_KINDS and status in (200, 201) and isinstance(payload, dict):
                with lock:
                    answers.append((kind, path, kwargs.get("token"), payload))
            return status, payload

    return OracleApi(base_url, recorder)


def client_oracle(answers: list) -> list[str]:
    """Every 2xx money answer exists now with the same owner and amount."""
    from decimal import Decimal

    from rest_framework.authtoken.models import Token

    from allowance.models import Order, Wallet
    from refunds.models import WithdrawalRequest

    def fen(value) -> int:
        return int(Decimal(str(value)) * 100)

    owner = dict(Token.objects.values_list("key", "user_id"))
    lost = []
    for kind, path, token, body in answers:
        user = owner.get(token)
        if kind == "buy":
            wallet = Wallet.objects.filter(pk=body["id"]).select_related("consumer").first()
            if wallet is None or wallet.consumer.user_id != user or wallet.paid < fen(body["paid"]):
                lost.append(f"purchase → wallet {body['id']} paid {body['paid']}: now {wallet and wallet.paid}")
        elif kind in ("spend", "probe"):
            order = Order.objects.filter(pk=body["id"]).select_related("consumer").first()
            if order is None or order.consumer.user_id != user or order.amount != fen(body["amount"]):
                lost.append(f"order {body['id']} of {body['amount']}: now {order and order.amount}")
        elif kind in ("withdraw", "cancel", "merchant-refund"):
            request = WithdrawalRequest.objects.filter(pk=body["id"]).select_related("wallet__consumer").first()
            # A pending request may resolve later, and a return landing in its frozen wallet raises its principal
            # (refunds/services.py): the answer's principal is then a floor. A resolved answer is final.
            pending = body["status"] == "pending"
            wrong = (request is None or request.wallet_id != body["wallet"]
                     or (request.principal < fen(body["principal"]) if pending
                         else (request.principal, request.status) != (fen(body["principal"]), body["status"]))
                     or (kind == "withdraw" and request.wallet.consumer.user_id != user))
            if wrong:
                lost.append(f"{kind} → request {body['id']} {body['status']} of {body['principal']}: now "
                            f"{request and (request.status, request.principal)}")
    return lost


def gateway_oracle() -> dict:
    """The gateway's books (outside the cluster) against ours: every payout is a part we have, of the same payment
    and amount, applied once; per payment the gateway's total equals what our succeeded refunds give back."""
    from allowance.models import Payment
    from core.models import SandboxPayout
    from refunds.models import RefundAllocation
    from refunds.payouts import payout_key

    parts = {}
    ours = Counter()
    for part in RefundAllocation.objects.select_related("refund", "payment").only(
            "refund__payout_status", "refund_id", "payment_id", "payout_uuid", "amount", "payment__gateway_reference"):
        parts[payout_key(part)] = part
        if part.refund.payout_status == "succeeded":
            ours[part.payment.gateway_reference] += part.amount
    doubles, theirs = [], Counter()
    for key, reference, amount in SandboxPayout.objects.values_list("key", "payment_reference", "amount"):
        theirs[reference] += amount
        part = parts.get(key)
        if part is None:
            doubles.append(f"payout {key} of {amount} for payment {reference}: no such refund part")
        elif part.amount != amount or part.payment.gateway_reference != reference:
            doubles.append(f"payout {key}: {amount} for {reference}, our part says {part.amount} for "
                           f"{part.payment.gateway_reference}")
    paid_in = dict(Payment.objects.values_list("gateway_reference", "amount"))
    totals = [f"payment {ref}: gateway refunded {theirs[ref]}, we say {ours[ref]}"
              for ref in sorted(set(theirs) | set(ours)) if theirs[ref] != ours[ref]]
    doubles += [f"payment {ref}: gateway refunded {n} of {paid_in.get(ref)} paid" for ref, n in theirs.items()
                if n > paid_in.get(ref, 0)]
    return {"doubles": doubles, "totals": totals, "payouts": SandboxPayout.objects.count(), "applied_fen": sum(theirs.values())}


# --- load and probe ----------------------------------------------------------------------------------


class Probe:
    """A consumer who spends 0.01 every 0.3 s: when money POSTs succeed again after a fault."""

    def __init__(self, api, token: str, store_id: int, stop: threading.Event):
        self.api, self.token, self.store_id, self.stop = api, token, store_id, stop
        self.successes: list[float] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            status, _ = self.api.call("probe", "POST", "/api/v1/orders/", token=self.token, endpoint="POST /orders/",
                                      key=str(uuid.uuid4()),
                                      body={"store": self.store_id, "order_ref": f"probe-{n}", "amount": "0.01"})
            if status == 201:
                self.successes.append(time.monotonic())
            time.sleep(0.3)

    def recovered_after(self, since: float, timeout: float = 90) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.successes if t > since]
            if later:
                return later[0] - since
            time.sleep(0.2)
        return float("inf")


def probe_consumer(api, world) -> tuple[str, int]:
    """A consumer of its own with 300.00 to spend, bought through the API."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from consumers.models import Consumer

    user = get_user_model().objects.create(username="failover-probe", password="!")
    Consumer.objects.create(user=user, account_name=user.username, account_key=user.username)
    token = Token.objects.create(user=user).key
    campaign_id, store_id = world.campaigns[0]  # "pay 80 get 100", three per consumer
    for _ in range(3):
        api.call("probe-buy", "POST", f"/api/v1/campaigns/{campaign_id}/purchase/", token=token, body={})
    return token, store_id


class Load:
    """The chaos load's consumer and merchant threads, run until stopped."""

    def __init__(self, config, world, seed: int, threads: int, answers, lock):
        from chaos.load import ConsumerLoad, MerchantLoad, Recorder

        self.recorder = Recorder()
        self.stop = threading.Event()
        api = lambda: oracle_api(config.base_url, self.recorder, answers, lock)  # noqa: E731
        self.consumers = [ConsumerLoad(api(), world, world.consumers[i::threads], random.Random(seed * 1000 + i),
                                       10 ** 6, lambda: None) for i in range(threads)]
        self.threads = [threading.Thread(target=self._consume, args=(load,), daemon=True) for load in self.consumers]
        self.threads += [threading.Thread(target=MerchantLoad(api(), world, store_id, token,
                                                              random.Random(seed * 2000 + i), self.stop).run,
                                          daemon=True) for i, (store_id, token) in enumerate(world.staff)]

    def _consume(self, load) -> None:
        load.deadline = float("inf")
        actions = [load.buy, load.spend, load.order_return, load.withdraw, load.withdraw, load.cancel, load.read]
        while not self.stop.is_set():
            name, token = load.rng.choice(load.mine)
            load.rng.choice(actions)(name, token)
            time.sleep(0.05)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def end(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


# --- faults -------------------------------------------------------------------------------------------


class Faults:
    def __init__(self, stack: FailoverStack, probe: Probe):
        self.stack, self.cluster, self.probe = stack, stack.cluster, probe
        self.injected = Counter()
        self.recoveries: dict[str, float] = {}
        self.log: list[str] = []

    def note(self, kind: str, detail: str = "") -> None:
        self.injected[kind] += 1
        self.log.append(f"{time.strftime('%H:%M:%S')} {kind} {detail}")
        say(f"fault: {kind} {detail}")

    def recovery(self, kind: str, since: float) -> None:
        seconds = self.probe.recovered_after(since)
        self.recoveries[kind] = max(self.recoveries.get(kind, 0), seconds)
        say(f"  money POSTs succeed again {seconds:.1f}s after the {kind}")

    def bouncer_reconnect(self) -> None:
        name = self.cluster.primary()
        self.note("pgbouncer_sigkill_restart", f"pgbouncer of {name} (the primary)")
        since = time.monotonic()
        self.cluster.bouncer_restart(name)
        self.recovery("pgbouncer_restart", since)

    def redis_master_kill(self) -> None:
        since = time.monotonic()
        old = self.cluster.kill_redis_master()
        self.note("redis_master_sigkill", f":{old}")
        seconds = self.cluster.wait_redis_failover(old)
        say(f"  Sentinels promoted :{self.cluster.redis_master()} after {seconds:.1f}s")
        self.recovery("redis_master_sigkill", since)
        time.sleep(2)
        self.cluster.redis_rejoin(old)

    def postmaster_kill(self) -> None:
        name = self.cluster.primary()
        since = time.monotonic()
        pid = self.cluster.kill_postmaster(name)
        self.note("primary_postmaster_sigkill", f"{name} pid {pid} (its keeper restarts it)")
        self.recovery("primary_postmaster_sigkill", since)
        # With the monitor's short health checks this may end in a failover (the keeper restarts PostgreSQL in
        # about a second, the monitor may have given up on it already): either way, wait for a healthy pair.
        self.wait_pair()

    def wait_pair(self) -> None:
        def healthy():
            states = self.cluster.states()
            got = sorted(reported for reported, assigned in states.values() if reported == assigned)
            return got == ["primary", "secondary"]
        self.cluster._wait(healthy, 120, "a primary and a secondary")
        say(f"  pair: {self.cluster.describe()}")

    def primary_node_loss(self) -> str:
        name = self.cluster.primary()
        since = time.monotonic()
        pid = self.cluster.kill_node(name)
        self.note("primary_node_sigkill", f"{name}: postmaster pid {pid}, keeper and PgBouncer")
        self.recovery("primary_node_sigkill", since)
        say(f"  now: {self.cluster.describe()}")
        return name

    def rejoin(self, name: str) -> None:
        since = time.monotonic()
        self.cluster.node_rejoin(name)
        self.note("old_primary_rejoin", name)
        primary = self.cluster.primary()
        self.cluster.wait_state({name: "secondary", primary: "primary"}, timeout=120, checkpoint=primary)
        say(f"  {name} is a synchronous standby again after {time.monotonic() - since:.1f}s: "
            f"{self.cluster.sync_settings(self.cluster.primary())}")

    def switchover(self) -> None:
        since = time.monotonic()
        before = self.cluster.primary()
        self.note("switchover", f"from {before}")
        self.cluster.switchover()
        self.recovery("switchover", since)
        self.cluster.wait_state({before: "secondary"}, timeout=90, checkpoint=self.cluster.primary())
        say(f"  now: {self.cluster.describe()}")


# --- the run ------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--consumers", type=int, default=80)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--mass-expiry", type=int, default=1000)
    parser.add_argument("--mass-expiry-after", type=int, default=75)
    parser.add_argument("--drain-timeout", type=int, default=150)
    parser.add_argument("--keep", action="store_true", help="leave everything running at the end (for a look)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    run_dir = ROOT / "var" / "failover" / time.strftime("%Y%m%d-%H%M%S")
    config = FailoverConfig(run_dir=run_dir, seed=args.seed, database=DATABASE, web_port=8081, web_workers=3)
    stack = FailoverStack(config)
    sys.path.insert(0, str(ROOT))
    try:
        os.environ.update(config.env())
        say(f"run dir {run_dir}; seed {args.seed}; DATABASE_URL={config.database_url}")
        stack.start()
        import django

        django.setup()
        world = seed_world(consumers=args.consumers, rng=random.Random(args.seed), expiry_after=40)
        world.mass_campaign = seed_mass_expiry(wallets=args.mass_expiry, store_id=world.stores[1],
                                               expiry_after=args.mass_expiry_after)
        stack.start_services()
        say(f"stack up in {time.monotonic() - started:.0f}s: {stack.cluster.describe()}; primary "
            f"{stack.cluster.sync_settings(stack.cluster.primary())}")
        return drive(stack, config, world, args, started)
    finally:
        if not args.keep:
            stack.stop()
            if sys.exc_info()[0] is KeyboardInterrupt:
                os._exit(130)


def drive(stack, config, world, args, started) -> int:
    from django import db

    from chaos.load import Recorder

    answers, lock = [], threading.Lock()
    probe_stop = threading.Event()
    probe_api = oracle_api(config.base_url, Recorder(), answers, lock)
    probe_token, probe_store = probe_consumer(probe_api, world)
    probe = Probe(probe_api, probe_token, probe_store, probe_stop)
    threading.Thread(target=probe.run, daemon=True).start()
    load = Load(config, world, args.seed, args.threads, answers, lock)
    load.start()
    faults = Faults(stack, probe)
    mass_at = mass_expiry_moment(world.mass_campaign, margin=0)
    t0 = time.monotonic()
    time.sleep(8)
    faults.bouncer_reconnect()
    time.sleep(4)
    faults.redis_master_kill()
    time.sleep(4)
    faults.postmaster_kill()
    # Mid-drain: a few seconds after the mass expiry's sweep began refunding and paying out 1,000 wallets.
    from django.utils import timezone

    while timezone.now() < mass_at + timedelta(seconds=4):
        time.sleep(0.5)
    db.connections.close_all()
    lost_node = faults.primary_node_loss()
    time.sleep(5)
    faults.rejoin(lost_node)
    time.sleep(3)
    faults.switchover()
    time.sleep(5)
    load.end()
    probe_stop.set()
    load_seconds = time.monotonic() - t0
    stack.revive()
    say(f"load and faults done in {load_seconds:.0f}s; draining …")
    db.connections.close_all()
    left = drain(time.monotonic() + args.drain_timeout)
    reconcile = subprocess.run([PYTHON, "manage.py", "reconcile"], cwd=ROOT, env=config.env(), capture_output=True,
                               text=True)
    lost = client_oracle(answers)
    gateway = gateway_oracle()
    exports_ok = refunds_export(config, world)
    negative = negative_control(stack, config, world, args)
    return summary(faults, load.recorder, answers, lost, gateway, left, reconcile, exports_ok, negative,
                   load_seconds, time.monotonic() - started, stack.cluster)


def refunds_export(config, world) -> bool:
    """50,000 refunds seeded by SQL in one store, then its staff's CSV export through PgBouncer: every row arrives."""
    import requests
    from django.db import connection

    from allowance.models import Order

    store_id = world.staff[0][0]
    order = Order.objects.filter(store_id=store_id).order_by("pk").first()
    if order is None:
        say("export: no order in the store to hang the rows on")
        return False
    wallet_id = order.allocations.order_by("pk").values_list("wallet_id", flat=True).first()
    with connection.cursor() as cur:
        cur.execute("""INSERT INTO refunds_refund (wallet_id, order_id, kind, amount, payout_status, payout_attempts,
                       last_error, created_at) SELECT %s, %s, 'return', 1, 'succeeded', 0, '', now()
                       FROM generate_series(1, %s)""", [wallet_id, order.pk, EXPORT_ROWS])
    # Production settings mark the CSRF and session cookies Secure; over loopback HTTP a client would not send
    # them back, so they travel by hand.
    login = requests.get(config.base_url + "/accounts/login/", timeout=30)
    csrf = login.cookies.get("csrftoken")
    answer = requests.post(config.base_url + "/accounts/login/", timeout=30, allow_redirects=False,
                           headers={"Cookie": f"csrftoken={csrf}"},
                           data={"username": "chaos-staff1", "password": world.password, "csrfmiddlewaretoken": csrf})
    session = answer.cookies.get("sessionid")
    from django.utils import timezone

    today = timezone.localdate().isoformat()  # the export's days are the product's (TIME_ZONE), not the machine's
    started = time.monotonic()
    response = requests.get(config.base_url + f"/merchant/exports/refunds.csv?start={today}&end={today}"
                            f"&store={store_id}", headers={"Cookie": f"sessionid={session}"}, stream=True,
                            timeout=120, allow_redirects=False)
    is_csv = response.status_code == 200 and response.headers.get("Content-Type", "").startswith("text/csv")
    # Counted as it streams (a line per row: the seeded and the load's rows hold no newlines), never held whole.
    rows = sum(1 for line in response.iter_lines(chunk_size=65536) if line) - 1 if is_csv else -1
    say(f"export: login {answer.status_code}, export {response.status_code}, {rows} rows in "
        f"{time.monotonic() - started:.1f}s through PgBouncer (seeded {EXPORT_ROWS})")
    return rows >= EXPORT_ROWS


def negative_control(stack, config, world, args) -> dict:
    """Asynchronous failover onto a lagging standby: the hole the synchronous pair closes, made on purpose."""
    from django import db

    cluster = stack.cluster
    primary, standby = cluster.primary(), cluster.standby()
    say(f"negative control: {standby} (the standby) is lost; {primary} goes on alone")
    cluster.kill_node(standby)
    time.sleep(6)
    say(f"  {cluster.describe()}; primary {cluster.sync_settings(primary)}")
    answers, lock = [], threading.Lock()
    load = Load(config, world, args.seed + 77, args.threads, answers, lock)
    load.start()
    time.sleep(20)
    db.connections.close_all()
    cluster.kill_node(primary)
    load.end()
    acked = len(answers)
    say(f"  {primary} lost after {acked} acknowledged money answers; {standby} promoted by hand (pg_ctl promote)")
    data = cluster.base / standby
    postgres = Proc(f"{standby}-by-hand", [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(NODE_PORTS[standby]),
                                           "-h", "127.0.0.1", "-k", str(cluster.base)], cluster.pg_env(),
                    cluster.base / f"{standby}-by-hand.log", user=PG_USER)
    cluster.procs[postgres.name] = postgres
    postgres.start()
    cluster._wait(lambda: cluster.psql(NODE_PORTS[standby], "select 1") == "1", 60, f"{standby} by hand")
    subprocess.run([str(PG_BIN / "pg_ctl"), "promote", "-w", "-D", str(data)], user=PG_USER, group=PG_USER,
                   extra_groups=[], env=cluster.pg_env(), cwd=cluster.base, check=True, capture_output=True)
    cluster.bouncer_start(standby)
    time.sleep(15)  # the sweeps and payouts run on the promoted, stale database
    db.connections.close_all()
    left = drain(time.monotonic() + 40)
    lost = client_oracle(answers)
    gateway = gateway_oracle()
    say(f"  negative control: {acked} acknowledged, {len(lost)} lost; gateway: {len(gateway['doubles'])} payouts "
        f"we do not have, {len(gateway['totals'])} payments whose totals differ; left {left}")
    return {"acked": acked, "lost": lost, "gateway": gateway}


def summary(faults, recorder, answers, lost, gateway, left, reconcile, exports_ok, negative, load_seconds,
            total_seconds, cluster) -> int:
    print()
    print("=" * 78)
    print(f"FAILOVER SUMMARY  load={load_seconds:.0f}s total={total_seconds:.0f}s")
    print("-" * 78)
    calls = Counter()
    for kind, statuses in recorder.by_kind.items():
        for status, n in statuses.items():
            calls[status] += n
    print(f"HTTP answers by status: {dict(sorted(calls.items(), key=lambda kv: str(kv[0])))}")
    print(f"2xx money answers recorded for the client oracle: {len(answers)}")
    for line in faults.log:
        print(f"  {line}")
    for kind, seconds in sorted(faults.recoveries.items()):
        print(f"  recovery after {kind:<28} {seconds:6.1f}s")
    print(f"reconcile (exit {reconcile.returncode}): {(reconcile.stdout + reconcile.stderr).strip().splitlines()[-3:]}")
    print(f"left after draining: {left}")
    print(f"gateway: {gateway['payouts']} payouts of {gateway['applied_fen']} fen; doubles/unknown "
          f"{len(gateway['doubles'])}; payments whose totals differ {len(gateway['totals'])}")
    for line in (gateway["doubles"] + gateway["totals"] + lost)[:10]:
        print(f"    {line}")
    # The load's own checks: a 5xx while no node took writes is expected here (none moved money: the oracles);
    # a replay answered otherwise than the first time without a 5xx would be an idempotency bug, shown in full.
    replays = [line for line in recorder.violations if line.startswith("replay of")]
    odd_replays = [line for line in replays  # a 500 stores no answer: the retry may then succeed or refuse
                   if not (line.split(", then ", 1)[-1].startswith("5") or line.split(": first ", 1)[-1].startswith("5"))]
    others = [line for line in recorder.violations if not line.startswith(("replay of", "5"))]
    unavailable = sum(statuses.get(503, 0) for statuses in recorder.by_kind.values())
    print(f"load checks: {len(recorder.violations)} in all — {recorder.count_5xx()} × 5xx during the faults "
          f"({unavailable} of them 503 + Retry-After: the database out of reach, core/api/exceptions.py); "
          f"{len(replays)} replays answered otherwise ({len(replays) - len(odd_replays)} of them with a 5xx); "
          f"{len(others)} other")
    for line in (odd_replays + others)[:10]:
        print(f"    {line}")
    recovery = max(faults.recoveries.values(), default=float("inf"))
    detected = int(bool(negative["lost"] or negative["gateway"]["doubles"] or negative["gateway"]["totals"]))
    kills = faults.injected["primary_postmaster_sigkill"] + faults.injected["primary_node_sigkill"]
    results = {
        "failover_acked_lost": len(lost),
        "failover_double_payouts": len(gateway["doubles"]),
        "failover_recovery_seconds": recovery if math.isinf(recovery) else math.ceil(recovery),
        "failover_primary_kills": kills,
        "failover_sentinel_failovers": cluster.sentinel_failovers_seen,
        "failover_pgbouncer_exports_ok": int(exports_ok),
        "failover_negative_control_detected": detected,
    }
    failed = [name for name, bad in [
        ("acked lost", results["failover_acked_lost"]), ("double payouts", results["failover_double_payouts"]),
        ("gateway totals differ", len(gateway["totals"])), ("recovery > 30 s", recovery > 30),
        ("no primary kill", kills < 1), ("no Sentinel failover", cluster.sentinel_failovers_seen < 1),
        ("export", not exports_ok), ("negative control not detected", not detected),
        ("work left undone", any(left.values())), ("reconcile", reconcile.returncode != 0)] if bad]
    print("=" * 78)
    for name, value in results.items():
        print(f"RESULT {name} {value}")
    print("RESULT: " + ("PASS" if not failed else "FAIL"))
    if failed:
        print("failed: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
