"""Payouts at the gateway's rate: many in flight, one shared limit, a 429 waited out without spending an attempt,
and still exactly once — with real threads, real worker processes and injected lost answers and timeouts."""
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone

from refunds.models import Refund, RefundAllocation
from core.models import SandboxPayout
from refunds.payouts import refund_payout_execute
from core.ratelimit import RateLimiter
from refunds.services import withdrawal_refund_due
from tests.scheduling.conftest import REDIS_URL, bulk_held_requests, wait_for

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="the shared limiter lives in Redis")


@pytest.fixture
def redis_limits(settings):
    """The limiter and the sandbox's provider limit in Redis, each test under keys of its own (tests on another
    xdist worker share the Redis database: emptying all limiter keys let one test refill another's bucket)."""
    settings.REDIS_URL = REDIS_URL
    settings.RATELIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    for key in client.scan_iter(match=f"{settings.RATELIMIT_KEY_PREFIX}ratelimit:*"):
        client.delete(key)


def _refunds(count: int) -> list[int]:
    """`count` committed refunds whose payout messages were held back (the sweep's after-commit hand-off)."""
    from unittest import mock

    bulk_held_requests(count)
    with mock.patch("refunds.refunds.payout_enqueue"), mock.patch("refunds.services._notify_many"):
        withdrawal_refund_due()
    return list(Refund.objects.order_by("pk").values_list("pk", flat=True))


def _sandbox_busy(settings, limit: int) -> None:
    """The provider's limit is `limit`/s and someone else has just used all of this second's calls."""
    settings.SANDBOX_GATEWAY_RATE_LIMIT = limit
    limiter = RateLimiter("sandbox-gateway", limit, burst=max(limit // 10, 1))
    while limiter.try_acquire():
        pass


@pytest.mark.django_db(transaction=True)
def test_a_429_spends_no_attempt_and_the_payout_is_paid_once_the_provider_accepts(redis_limits, settings):
    # Given one attempt allowed, our limiter off, and a provider that refuses everything this second
    settings.PAYOUT_MAX_ATTEMPTS = 1
    settings.PAYOUT_RATE_LIMIT = 0
    (refund_id,) = _refunds(1)
    _sandbox_busy(settings, 1)

    # When the payout runs into the 429 again and again
    outcomes = [refund_payout_execute(refund_id=refund_id, now=timezone.now() + timedelta(days=n)) for n in range(3)]

    # Then nothing was sent or spent: still processing, no attempt counted, no needs attention
    refund = Refund.objects.get(pk=refund_id)
    assert outcomes == ["rate_limited"] * 3
    assert (refund.payout_status, refund.payout_attempts) == (Refund.PayoutStatus.PROCESSING, 0)
    assert "rate limited" in refund.last_error and refund.next_attempt_at is not None
    assert SandboxPayout.objects.count() == 0
    assert RefundAllocation.objects.get(refund_id=refund_id).payout_requested_at is None  # refused unread

    # When the provider's second has passed
    time.sleep(1.1)
    assert refund_payout_execute(refund_id=refund_id, now=timezone.now() + timedelta(days=9)) == "succeeded"

    # Then it is paid once, on its first counted attempt
    refund.refresh_from_db()
    assert (refund.payout_status, refund.payout_attempts) == (Refund.PayoutStatus.SUCCEEDED, 1)
    assert SandboxPayout.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_status_query_refused_with_429_is_asked_again_and_never_resent_blind(redis_limits, settings):
    # Given a payout whose answer was lost (applied at the provider) …
    settings.PAYOUT_RATE_LIMIT = 0
    settings.SANDBOX_GATEWAY_LOST_ANSWER_RATE = 1.0
    (refund_id,) = _refunds(1)
    assert refund_payout_execute(refund_id=refund_id) == "retry"
    settings.SANDBOX_GATEWAY_LOST_ANSWER_RATE = 0.0

    # … when the status query is refused with 429
    _sandbox_busy(settings, 1)
    assert refund_payout_execute(refund_id=refund_id, now=timezone.now() + timedelta(days=1)) == "rate_limited"

    # Then the next attempt asks again, finds it applied, and nothing was paid twice
    time.sleep(1.1)
    assert refund_payout_execute(refund_id=refund_id, now=timezone.now() + timedelta(days=2)) == "succeeded"
    refund = Refund.objects.get(pk=refund_id)
    assert refund.payout_attempts == 2 and SandboxPayout.objects.count() == 1


def test_the_shared_limiter_never_exceeds_its_rate_across_threads_and_limiters(redis_limits):
    # Given 16 threads in two "processes" (separate limiter objects share only Redis), 200 calls/s allowed
    rate, calls = 200, 300
    key = f"test-{uuid.uuid4().hex[:8]}"
    limiters = [RateLimiter(key, rate), RateLimiter(key, rate)]
    stamps, lock = [], threading.Lock()
    remaining = iter(range(calls))

    def caller(limiter):
        for _ in remaining:
            limiter.wait()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=caller, args=(limiters[n % 2],)) for n in range(16)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then all calls went through, no faster than the rate overall or in any half second
    stamps.sort()
    assert len(stamps) == calls
    assert stamps[-1] - started >= (calls - 1) / rate * 0.97
    # Slots are handed out exactly 1/rate apart; a thread the OS wakes late (a loaded machine: this test runs beside
    # the rest of the suite) lands next to the following slots, so calls may bunch a little. Two limiters that did
    # not share their slots would put 2 x as many calls in a half second (200 here, against at most 150).
    busiest = max(sum(1 for s in stamps[i:] if s - stamps[i] < 0.5) for i in range(len(stamps)))
    assert busiest <= rate * 0.5 + rate / 4, busiest


@pytest.mark.django_db(transaction=True)
def test_many_threads_racing_with_lost_answers_and_timeouts_pay_each_refund_exactly_once(redis_limits, settings):
    # Given 40 refunds and a gateway that times out 20%, loses 20% of answers and declines 10%
    settings.PAYOUT_RATE_LIMIT = 2000
    settings.PAYOUT_MAX_ATTEMPTS = 100
    settings.SANDBOX_GATEWAY_TIMEOUT_RATE = 0.2
    settings.SANDBOX_GATEWAY_LOST_ANSWER_RATE = 0.2
    settings.SANDBOX_GATEWAY_FAILURE_RATE = 0.1
    refund_ids = _refunds(40)

    # When 12 threads each go over every refund, round after round (a clock moving past every backoff and lease)
    errors = []

    def worker(seed: int):
        try:
            for round_ in range(30):
                now = timezone.now() + timedelta(days=round_ + 1)
                for refund_id in refund_ids[seed % 7:] + refund_ids[:seed % 7]:
                    refund_payout_execute(refund_id=refund_id, now=now)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every refund is paid, each exactly once, to the right payment, for the right amount
    assert errors == []
    assert Counter(Refund.objects.values_list("payout_status", flat=True)) == {"succeeded": 40}
    applied = Counter(SandboxPayout.objects.values_list("key", flat=True))
    assert len(applied) == RefundAllocation.objects.count() == 40 and set(applied.values()) == {1}
    assert sum(SandboxPayout.objects.values_list("amount", flat=True)) == sum(
        Refund.objects.values_list("amount", flat=True))
    assert Refund.objects.filter(payout_attempts__gt=1).count() >= 10  # the faults happened and were retried


@pytest.mark.django_db(transaction=True)
def test_thread_pool_payout_workers_drain_at_the_shared_rate_exactly_once(celery_cluster):
    # Given 150 due requests, a provider that loses 10% of answers and times out 10%, and our limit of 40 calls/s
    requests = bulk_held_requests(150)
    payout_queue = f"{celery_cluster.env['CELERY_TASK_DEFAULT_QUEUE']}-payouts"
    env = {"PAYOUT_QUEUE": payout_queue, "PAYOUT_RATE_LIMIT": 40, "SANDBOX_GATEWAY_RATE_LIMIT": 1000,
           "SANDBOX_GATEWAY_LATENCY_MS": 20, "SANDBOX_GATEWAY_LOST_ANSWER_RATE": 0.1,
           "SANDBOX_GATEWAY_TIMEOUT_RATE": 0.1, "PAYOUT_MAX_ATTEMPTS": 25}
    celery_cluster.env.update({k: str(v) for k, v in env.items()})

    # When the beat and a default worker refund them, and two thread-pool workers of 8 pay them out
    celery_cluster.worker("worker1", wait=False)
    for name in ("payouts1", "payouts2"):
        celery_cluster._start(name, ["worker", "--loglevel", "INFO", "-Q", payout_queue, "--pool", "threads",
                                     "--concurrency", "8", "--hostname", f"{name}@%h", "--without-mingle",
                                     "--without-gossip"], ready=" ready.")
    celery_cluster.beat()
    celery_cluster.wait_ready()
    wait_for(lambda: Refund.objects.count() == 150, timeout=60, what="150 refunds committed")
    wait_for(lambda: not Refund.objects.filter(payout_status=Refund.PayoutStatus.PROCESSING).exists(),
             timeout=120, what="no payout still processing", interval=0.5)

    # Then each is paid exactly once …
    assert Counter(Refund.objects.values_list("payout_status", flat=True)) == {"succeeded": 150}
    applied = Counter(SandboxPayout.objects.values_list("key", flat=True))
    assert len(applied) == 150 and set(applied.values()) == {1}
    assert Refund.objects.filter(payout_attempts__gt=1).count() >= 10
    # … by both thread-pool workers, and never faster than 40 calls/s at the provider (payouts are a subset)
    logs = {p.name: p.text() for p in celery_cluster.procs}
    assert all("refunds.tasks.refund_payouts[" in logs[name] for name in ("payouts1", "payouts2"))
    stamps = sorted(SandboxPayout.objects.values_list("created_at", flat=True))
    busiest = max(sum(1 for s in stamps[i:] if s - stamps[i] < timedelta(seconds=1)) for i in range(len(stamps)))
    assert busiest <= 40 + 2
    assert len(requests) == 150
