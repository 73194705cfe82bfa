"""`make chaos`: the real stack under load and faults, then every fen is accounted for.

    python -m chaos.run [--profile full|smoke] [--seed 1] [--consumers 300] [--ops 3000] [--threads 12] [--keep]

`--profile smoke` (`make chaos-smoke`, run by CI on every landing) is the same run, smaller: about 2–3 minutes.

1. Starts its own redis-server (port 6390, DB 6: broker and cache), a fresh PostgreSQL database `sa_chaos`,
   gunicorn (4 workers, port 8053, production settings over plain HTTP), two Celery workers and one beat, with a
   5-second hold, a 1-second sweep and a sandbox gateway that declines, times out and loses answers.
2. Seeds stores, staff, campaigns (one expiring during the run) and consumers with API tokens, plus a mass
   expiry: `--mass-expiry` wallets of one campaign whose validity ends while the faults are being injected.
3. Drives the API from consumer and merchant threads (seeded; `--ops` consumer operations in all) while a fault
   thread SIGKILLs Celery workers and gunicorn workers (they are restarted), restarts Redis (losing everything in
   it) and runs a second beat for part of the run.
4. Waits for the queue to drain (no due request pending, no payout processing), runs `reconcile`, counts the
   payouts the gateway applied per refund, and prints a summary. Exits 1 on any 5xx, drift, double payout,
   payouts applied at the gateway that differ from the refunds, a mass-expiry wallet not refunded,
   idempotency or access-rule violation, or money left stuck.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

from chaos.stack import PYTHON, ROOT, Stack, StackConfig


def say(*args) -> None:
    print("chaos |", *args, flush=True)


def percentile(values: list, q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- seed ------------------------------------------------------------------------------------


def seed_world(*, consumers: int, rng: random.Random, expiry_after: int):
    """Stores, staff, campaigns and consumers, written straight to the database (set-up is not under test)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from allowance.models import Campaign
    from chaos.load import World
    from consumers.models import Consumer
    from merchants.models import Merchant, Store, StoreMembership

    User = get_user_model()
    password = "chaos-password-1"
    hashed = make_password(password)  # once: hashing hundreds of passwords would dominate the set-up
    now = timezone.now()
    stores, staff, campaigns = [], [], []
    for n in range(1, 4):
        merchant = Merchant.objects.create(name=f"Chaos Merchant {n}")
        store = Store.objects.create(merchant=merchant, name=f"Chaos Store {n}")
        user = User.objects.create(username=f"chaos-staff{n}", password=hashed)
        StoreMembership.objects.create(store=store, user=user)
        stores.append(store.pk)
        staff.append((store.pk, Token.objects.create(user=user).key))
        offers = [("pay 80 get 100", 8000, 10000, 3, None), ("pay 100 get 110", 10000, 11000, 2, 150),
                  ("pay 33.33 get 50", 3333, 5000, 2, None)]
        for name, pay, credit, limit, stock in offers:
            campaign = Campaign.objects.create(
                store=store, name=name, pay_amount=pay, credit_amount=credit, per_consumer_limit=limit, stock=stock,
                starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30), valid_until=now + timedelta(days=60),
            )
            campaigns.append((campaign.pk, store.pk))
    # One campaign whose allowance expires while the load runs: the expiry sweep refunds it under fire.
    short = Campaign.objects.create(
        store_id=stores[0], name="pay 50 get 60, expiring", pay_amount=5000, credit_amount=6000, per_consumer_limit=2,
        starts_at=now - timedelta(days=1), ends_at=now + timedelta(seconds=expiry_after // 2),
        valid_until=now + timedelta(seconds=expiry_after),
    )
    campaigns.append((short.pk, stores[0]))
    User.objects.create(username="chaos-admin", password=hashed, is_staff=True, is_superuser=True)
    users = User.objects.bulk_create([User(username=f"chaos{i:04d}", password=hashed) for i in range(consumers)])
    Consumer.objects.bulk_create([Consumer(user=u, account_name=u.username, account_key=u.username) for u in users])
    tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
    return World(consumers=[(u.username, t.key) for u, t in zip(users, tokens)], staff=staff, stores=stores,
                 campaigns=campaigns, password=password)


MASS_PAY, MASS_CREDIT = 5000, 6000


def seed_mass_expiry(*, wallets: int, store_id: int, expiry_after: int) -> int:
    """`wallets` consumers who each bought "pay 50 get 60" once, valid until `expiry_after` seconds from now.

    Written in bulk, exactly the rows a purchase writes (wallet, payment, top-up entry), so that hundreds close
    at one moment of the run; `reconcile` at the end proves the rows agree with the ledger.
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from allowance.models import Campaign, LedgerEntry, Payment, Wallet
    from consumers.models import Consumer

    if not wallets:
        return 0
    User = get_user_model()
    now = timezone.now()
    until = now + timedelta(seconds=expiry_after)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            store_id=store_id, name="pay 50 get 60, mass expiry", pay_amount=MASS_PAY, credit_amount=MASS_CREDIT,
            per_consumer_limit=1, starts_at=now - timedelta(days=30), ends_at=now - timedelta(seconds=1),
            valid_until=until, sold_count=wallets)
        users = User.objects.bulk_create([User(username=f"mass{i:06d}", password="!") for i in range(wallets)])
        consumers = Consumer.objects.bulk_create(
            [Consumer(user=u, account_name=u.username, account_key=u.username) for u in users])
        made = Wallet.objects.bulk_create([
            Wallet(consumer=c, campaign=campaign, store_id=store_id, paid=MASS_PAY, credited=MASS_CREDIT,
                   principal=MASS_PAY, bonus=MASS_CREDIT - MASS_PAY, valid_until=until) for c in consumers])
        payments = Payment.objects.bulk_create([
            Payment(consumer=w.consumer, wallet=w, campaign=campaign, amount=MASS_PAY, credit_amount=MASS_CREDIT,
                    gateway_reference=f"pay_mass_{w.pk}") for w in made])
        LedgerEntry.objects.bulk_create([
            LedgerEntry(wallet=w, kind=LedgerEntry.Kind.TOP_UP, principal_delta=MASS_PAY,
                        bonus_delta=MASS_CREDIT - MASS_PAY, payment=p, actor=w.consumer.user)
            for w, p in zip(made, payments)])
    return campaign.pk


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def mass_expiry_moment(campaign_id: int | None, *, margin: int):
    """When the mass-expiry campaign's validity ends, plus `margin` seconds; None without one."""
    from allowance.models import Campaign

    if not campaign_id:
        return None
    return Campaign.objects.get(pk=campaign_id).valid_until + timedelta(seconds=margin)


def mass_expiry_outcome(campaign_id: int | None) -> dict:
    """How the mass expiry ended: wallets closed, expiry refunds, and what the gateway applied for them."""
    from django.db.models import Sum

    from allowance.models import Wallet
    from refunds.models import Refund
    from core.models import SandboxPayout

    if not campaign_id:
        return {}
    wallets = Wallet.objects.filter(campaign_id=campaign_id)
    refunds = Refund.objects.filter(allocations__payment__campaign_id=campaign_id).distinct()
    references = set(wallets.values_list("payments__gateway_reference", flat=True))
    applied = SandboxPayout.objects.filter(payment_reference__in=references)
    return {
        "wallets": wallets.count(), "closed": wallets.filter(status="closed").count(),
        "refunds": refunds.count(), "refunded_fen": refunds.aggregate(s=Sum("amount"))["s"] or 0,
        "applied": applied.count(), "applied_fen": applied.aggregate(s=Sum("amount"))["s"] or 0,
        "expected_fen": wallets.count() * MASS_PAY,
    }


# --- faults ----------------------------------------------------------------------------------


class Faults:
    """Injects process faults at seeded random moments while the load runs."""

    def __init__(self, stack: Stack, rng: random.Random, stop: threading.Event, progress, every=(4, 9)):
        self.stack, self.rng, self.stop, self.progress, self.every = stack, rng, stop, progress, every
        self.injected = Counter()
        self.log = []

    def note(self, kind: str, detail: str = "") -> None:
        self.injected[kind] += 1
        self.log.append(f"{time.strftime('%H:%M:%S')} {kind} {detail}")
        say(f"fault: {kind} {detail}")

    def kill_celery_worker(self) -> None:
        name = self.rng.choice(["worker1", "worker2"])
        proc = self.stack.procs[name]
        pid = proc.pid
        proc.kill()
        self.note("celery_worker_sigkill", f"{name} pid {pid}")
        time.sleep(self.rng.uniform(1, 3))
        proc.start()

    def kill_web_worker(self) -> None:
        pids = self.stack.web_worker_pids()
        if not pids:
            return
        pid = self.rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)  # a child of the gunicorn master we started; the master replaces it
        except ProcessLookupError:
            return
        self.note("gunicorn_worker_sigkill", f"pid {pid}")

    def restart_redis(self) -> None:
        proc = self.stack.procs["redis"]
        proc.kill()  # no persistence: the broker's queue and the cache are lost with it
        self.note("redis_restart", f"down for {(down := self.rng.uniform(1.5, 3)):.1f}s, contents lost")
        time.sleep(down)
        self.stack.redis_start()

    def run(self) -> None:
        kinds = [self.kill_celery_worker, self.kill_web_worker, self.restart_redis]
        order = kinds[:]
        self.rng.shuffle(order)  # each kind at least once, early, in a seeded order
        second_beat = None
        while not self.stop.wait(self.rng.uniform(*self.every)):
            done = self.progress()
            if second_beat is None and done >= 0.25:
                self.stack.beat_start(2)
                second_beat = "running"
                self.note("second_beat_started")
            elif second_beat == "running" and done >= 0.6:
                self.stack.procs["beat2"].stop()
                second_beat = "stopped"
                self.note("second_beat_stopped")
            fault = order.pop(0) if order else self.rng.choices(kinds, [4, 4, 1])[0]
            fault()
        if second_beat == "running":
            self.stack.procs["beat2"].stop()


# --- the run ---------------------------------------------------------------------------------


def drain(deadline: float) -> dict:
    """Wait until nothing is left to do: no due request pending, no expired wallet open, no payout processing."""
    from django.utils import timezone

    from allowance.models import Wallet
    from refunds.models import Refund, WithdrawalRequest

    while True:
        now = timezone.now()
        left = {
            "due requests pending": WithdrawalRequest.objects.filter(status="pending", due_at__lte=now).count(),
            "expired wallets open": Wallet.objects.filter(valid_until__lte=now).exclude(status="closed").count(),
            "payouts processing": Refund.objects.filter(payout_status="processing").count(),
        }
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(1)


def payouts_applied() -> dict:
    """What the gateway itself applied, per refund (a key names one part of a refund: refunds/payouts.py
    payout_key) and per payment."""
    from django.db.models import Count, Sum

    from allowance.models import Payment
    from refunds.models import Refund, RefundAllocation
    from refunds.payouts import payout_key
    from core.models import SandboxPayout

    refund_of_key = {payout_key(part): part.refund_id
                     for part in RefundAllocation.objects.only("refund_id", "payment_id", "payout_uuid")}
    per_refund, per_payment_ref = {}, {}
    for key, payment_reference, amount in SandboxPayout.objects.values_list("key", "payment_reference", "amount"):
        refund_id = refund_of_key.get(key, key)  # a key no part of ours has: reported as an unknown refund
        count, total = per_refund.get(refund_id, (0, 0))
        per_refund[refund_id] = (count + 1, total + amount)
        per_payment_ref[payment_reference] = per_payment_ref.get(payment_reference, 0) + amount
    allocations = dict(RefundAllocation.objects.values_list("refund").annotate(n=Count("id")))
    doubles = []
    for refund in Refund.objects.only("pk", "amount"):
        count, total = per_refund.pop(refund.pk, (0, 0))
        if total > refund.amount or count > allocations.get(refund.pk, 0):
            doubles.append(f"refund {refund.pk}: {count} payouts of {total} fen for {refund.amount}")
    doubles += [f"payout for unknown refund {pk}" for pk in per_refund]
    for payment in Payment.objects.only("gateway_reference", "amount"):
        if per_payment_ref.get(payment.gateway_reference, 0) > payment.amount:
            doubles.append(f"payment {payment.pk}: {per_payment_ref[payment.gateway_reference]} paid back of {payment.amount}")
    return {"doubles": doubles, "applied_fen": SandboxPayout.objects.aggregate(s=Sum("amount"))["s"] or 0,
            "applied_count": SandboxPayout.objects.count()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--consumers", type=int)
    parser.add_argument("--ops", type=int, help="consumer operations in all (the size)")
    parser.add_argument("--threads", type=int, help="consumer threads")
    parser.add_argument("--expiry-after", type=int, help="seconds until one campaign's allowance expires")
    parser.add_argument("--mass-expiry", type=int, help="wallets whose validity ends together during the faults")
    parser.add_argument("--mass-expiry-after", type=int, help="seconds from seeding until the mass expiry")
    parser.add_argument("--drain-timeout", type=int)
    parser.add_argument("--max-load-seconds", type=int, help="stop the load after this long even if ops are left")
    parser.set_defaults(fault_every=None)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end (for a look)")
    args = parser.parse_args(argv)
    for name, value in PROFILES[args.profile].items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    started = time.monotonic()
    run_dir = ROOT / "var" / "chaos" / time.strftime("%Y%m%d-%H%M%S")
    config = StackConfig(run_dir=run_dir, seed=args.seed)
    stack = Stack(config)
    sys.path.insert(0, str(ROOT))
    rng = random.Random(args.seed)
    try:
        stack.postgres_choose()  # before the environment is fixed: it names the database
        os.environ.update(config.env())
        say(f"profile {args.profile}; run dir {run_dir}; seed {args.seed}; {args.consumers} consumers, "
            f"{args.ops} operations, mass expiry of {args.mass_expiry} wallets after {args.mass_expiry_after}s; "
            f"PostgreSQL {config.pg_host}:{config.pg_port}{' (embedded)' if stack.embedded else ''}")
        stack.start()
        import django

        django.setup()
        world = seed_world(consumers=args.consumers, rng=rng, expiry_after=args.expiry_after)
        world.mass_campaign = seed_mass_expiry(wallets=args.mass_expiry, store_id=world.stores[1],
                                               expiry_after=args.mass_expiry_after)
        stack.start_services()
        say(f"stack up: gunicorn {config.web_workers} workers on :{config.web_port}, 2 workers, 1 beat, "
            f"redis :{config.redis_port} — {time.monotonic() - started:.0f}s")
        return drive(stack, config, world, args, rng, started)
    finally:
        if not args.keep:
            stack.stop()
            # Ctrl-C in the middle: the load threads are not daemons; end the process once the stack is down.
            if sys.exc_info()[0] is KeyboardInterrupt:
                os._exit(130)


def drive(stack, config, world, args, rng, started) -> int:
    from django import db

    from chaos.gateway import gateway_faults
    from chaos.load import Api, ConsumerLoad, MerchantLoad, Recorder

    recorder = Recorder()
    counter = {"done": 0}
    lock = threading.Lock()

    def progress():
        with lock:
            counter["done"] += 1

    def fraction():
        by_time = (time.monotonic() - load_started) / args.max_load_seconds if args.max_load_seconds else 0
        return max(counter["done"] / args.ops, by_time)

    threads_n = min(args.threads, len(world.consumers))
    per_thread = [args.ops // threads_n + (1 if i < args.ops % threads_n else 0) for i in range(threads_n)]
    stop = threading.Event()
    loads = [ConsumerLoad(Api(config.base_url, recorder), world, world.consumers[i::threads_n],
                          random.Random(args.seed * 1000 + i), per_thread[i], progress) for i in range(threads_n)]
    consumer_threads = [threading.Thread(target=load.run, name=f"consumer{i}") for i, load in enumerate(loads)]
    merchant_threads = [
        threading.Thread(target=MerchantLoad(Api(config.base_url, recorder), world, store_id, token,
                                             random.Random(args.seed * 2000 + i), stop).run, name=f"merchant{i}")
        for i, (store_id, token) in enumerate(world.staff)
    ]
    faults = Faults(stack, random.Random(args.seed * 3000), stop, fraction, every=args.fault_every)
    fault_thread = threading.Thread(target=faults.run, name="faults")
    load_started = time.monotonic()
    for load in loads:
        load.deadline = load_started + args.max_load_seconds if args.max_load_seconds else None
    for thread in consumer_threads + merchant_threads:
        thread.start()
    if not args.no_faults:
        fault_thread.start()
    last = 0
    # The mass expiry must happen while the faults go on: on a fast machine the consumer load can end before the
    # wallets' validity does, so the merchants' load and the faults keep going until a few sweeps after it.
    mass_until = mass_expiry_moment(getattr(world, "mass_campaign", None), margin=3 * config.sweep_seconds + 5)
    while any(t.is_alive() for t in consumer_threads) or (mass_until and timezone_now() < mass_until):
        time.sleep(1)
        if time.monotonic() - last > 15:
            last = time.monotonic()
            say(f"load: {counter['done']}/{args.ops} operations, {recorder.count_5xx()} × 5xx, "
                f"{time.monotonic() - load_started:.0f}s")
    stop.set()
    for thread in merchant_threads + ([fault_thread] if fault_thread.is_alive() else []):
        thread.join()
    load_seconds = time.monotonic() - load_started
    stack.revive()
    say(f"load done in {load_seconds:.0f}s; draining …")
    db.connections.close_all()
    left = drain(time.monotonic() + args.drain_timeout)
    reconcile = subprocess.run([PYTHON, "manage.py", "reconcile"], cwd=ROOT, env=config.env(), capture_output=True,
                               text=True)
    applied = payouts_applied()
    mass = mass_expiry_outcome(getattr(world, "mass_campaign", None))
    return summary(recorder, faults, gateway_faults(config.run_dir), left, reconcile, applied, load_seconds,
                   time.monotonic() - started, args, mass)


def summary(recorder, faults, gateway, left, reconcile, applied, load_seconds, total_seconds, args, mass) -> int:
    from django.db.models import Count, Sum

    from allowance.models import Order, Payment, Wallet
    from core.money import fen_to_yuan
    from refunds.models import Refund, WithdrawalRequest

    print()
    print("=" * 78)
    print(f"CHAOS SUMMARY  profile={args.profile} seed={args.seed} consumers={args.consumers} operations={args.ops} "
          f"load={load_seconds:.0f}s total={total_seconds:.0f}s")
    print("-" * 78)
    print("Operations by kind and status code:")
    calls = 0
    for kind in sorted(recorder.by_kind):
        statuses = recorder.by_kind[kind]
        calls += sum(statuses.values())
        line = "  ".join(f"{s}×{n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
        print(f"  {kind:<20} {line}")
    errors_5xx = recorder.count_5xx()
    conn_errors = sum(s.get("conn_error", 0) for s in recorder.by_kind.values())
    print(f"  HTTP calls: {calls}; 5xx: {errors_5xx}; dropped connections (killed web workers): {conn_errors}")
    print("-" * 78)
    print("Latency per endpoint (ms):        calls      p50      p99")
    for endpoint in sorted(recorder.latency):
        values = recorder.latency[endpoint]
        print(f"  {endpoint:<40} {len(values):>6} {percentile(values, .5):>8.0f} {percentile(values, .99):>8.0f}")
    print("-" * 78)
    print("Faults injected:")
    for kind, n in sorted(faults.injected.items()):
        print(f"  {kind:<28} {n}")
    for kind, n in sorted(gateway.items()):
        print(f"  gateway_{kind:<20} {n}")
    print("-" * 78)
    refunds = Refund.objects.values("payout_status").annotate(n=Count("id"), s=Sum("amount"))
    by_status = {r["payout_status"]: (r["n"], r["s"]) for r in refunds}
    kinds = dict(Refund.objects.values_list("kind").annotate(n=Count("id")))
    resolutions = dict(WithdrawalRequest.objects.values_list("resolution").annotate(n=Count("id")))
    statuses = dict(WithdrawalRequest.objects.values_list("status").annotate(n=Count("id")))
    paid_in = Payment.objects.aggregate(s=Sum("amount"))["s"] or 0
    print(f"Money: {Payment.objects.count()} top-ups paying {fen_to_yuan(paid_in)}; {Order.objects.count()} orders; "
          f"{Wallet.objects.count()} wallets ({Wallet.objects.filter(status='closed').count()} closed)")
    print(f"  withdrawal requests by status: {statuses}; by resolution: {resolutions}")
    print(f"  refunds by kind: {kinds}")
    for status, (n, s) in sorted(by_status.items()):
        print(f"  refunds {status:<16} {n:>6}  {fen_to_yuan(s or 0):>12}")
    paid = by_status.get("succeeded", (0, 0))
    print(f"  refunds paid: {paid[0]} ({fen_to_yuan(paid[1] or 0)}); gateway applied {applied['applied_count']} "
          f"payouts of {fen_to_yuan(applied['applied_fen'])}")
    refunded_fen = Refund.objects.aggregate(s=Sum("amount"))["s"] or 0
    print(f"  refunds total {fen_to_yuan(refunded_fen)}; applied at the gateway {fen_to_yuan(applied['applied_fen'])}"
          f" ({'equal' if refunded_fen == applied['applied_fen'] else 'DIFFERENT'})")
    if mass:
        print(f"  mass expiry: {mass['wallets']} wallets, {mass['closed']} closed, {mass['refunds']} refunds of "
              f"{fen_to_yuan(mass['refunded_fen'])}; gateway applied {mass['applied']} payouts of "
              f"{fen_to_yuan(mass['applied_fen'])} (expected {fen_to_yuan(mass['expected_fen'])})")
    print(f"  double payouts: {len(applied['doubles'])}")
    for line in applied["doubles"][:10]:
        print(f"    {line}")
    drift_lines = [line for line in reconcile.stderr.splitlines() if line.startswith("wallet ")]
    drift_wallets = {line.split(":")[0] for line in drift_lines}
    print(f"  wallets with drift: {len(drift_wallets)}")
    print(f"  reconcile (exit {reconcile.returncode}): {(reconcile.stdout + reconcile.stderr).strip().splitlines()[-1:]}")
    print(f"  left after draining: {left}")
    print("-" * 78)
    print(f"Violations (idempotency, bad input accepted, access rules): {len(recorder.violations)}")
    for line in recorder.violations[:20]:
        print(f"    {line}")
    failed = []
    if errors_5xx:
        failed.append(f"{errors_5xx} × 5xx")
    if reconcile.returncode != 0:
        failed.append("reconcile found drift")
    if applied["doubles"]:
        failed.append(f"{len(applied['doubles'])} double payouts")
    if refunded_fen != applied["applied_fen"]:
        failed.append(f"gateway applied {applied['applied_fen']} fen for refunds of {refunded_fen}")
    if mass and not (mass["closed"] == mass["wallets"] == mass["refunds"] == mass["applied"]
                     and mass["refunded_fen"] == mass["applied_fen"] == mass["expected_fen"]):
        failed.append(f"mass expiry not settled exactly once: {mass}")
    if recorder.violations:
        failed.append(f"{len(recorder.violations)} violations")
    if any(left.values()):
        failed.append(f"work left undone: {left}")
    if by_status.get("needs_attention"):
        failed.append(f"{by_status['needs_attention'][0]} payouts need attention")
    print("=" * 78)
    print("RESULT: " + ("PASS" if not failed else "FAIL — " + "; ".join(failed)))
    return 1 if failed else 0


# The full run is the manual one; the smoke profile gates every landing (.ci/run) in about 2–3 minutes.
PROFILES = {
    "full": {"consumers": 300, "ops": 3000, "threads": 12, "expiry_after": 60, "mass_expiry": 3000,
             "mass_expiry_after": 90, "drain_timeout": 240, "fault_every": (4, 9),
             "max_load_seconds": 0},
    "smoke": {"consumers": 120, "ops": 900, "threads": 12, "expiry_after": 40, "mass_expiry": 1000,
              "mass_expiry_after": 45, "drain_timeout": 150, "fault_every": (3, 6),
              "max_load_seconds": 90},
}


if __name__ == "__main__":
    sys.exit(main())
