"""The scheduled parts with real processes: Celery workers and beats against PostgreSQL and Redis.

The hold is 2 seconds and the beat sweeps every second, so "48 hours later" happens within seconds.
"""
import signal
from collections import Counter

import pytest
from django.db.models import Count, Sum

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import LedgerEntry, Wallet
from refunds.models import Refund, RefundAllocation, WithdrawalRequest
from core.models import SandboxPayout
from refunds.payouts import payout_key
from tests.scheduling.conftest import bulk_held_requests, expiring_wallet, held_requests, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def all_paid(count: int) -> bool:
    return Refund.objects.filter(payout_status=Refund.PayoutStatus.SUCCEEDED).count() == count


def assert_each_refunded_exactly_once(requests, *, resolution: str) -> None:
    """Every request refunded once, its principal paid to the gateway once, the books in balance."""
    ids = [r.pk for r in requests]
    assert Counter(WithdrawalRequest.objects.filter(pk__in=ids).values_list("status", "resolution")) == {
        ("refunded", resolution): len(ids)
    }
    assert Refund.objects.filter(request_id__in=ids).count() == len(ids)
    assert LedgerEntry.objects.filter(request_id__in=ids, kind=LedgerEntry.Kind.WITHDRAWAL_REFUND).count() == len(ids)
    assert not Wallet.objects.filter(withdrawal_requests__in=ids).exclude(status=Wallet.Status.CLOSED).exists()
    # The gateway's own books: one applied payout per allocation, for exactly its amount.
    allocations = RefundAllocation.objects.filter(refund__request_id__in=ids)
    applied = SandboxPayout.objects.filter(
        key__in=[payout_key(a) for a in allocations]
    )
    assert applied.count() == allocations.count() == len(ids)
    assert applied.aggregate(s=Sum("amount"))["s"] == allocations.aggregate(s=Sum("amount"))["s"]
    assert not SandboxPayout.objects.values("key").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Wallets against their ledger, refunds against allocations, payments against what they gave back.
    assert reconcile_findings() == []


def test_a_held_request_is_refunded_by_the_beat_and_an_expired_wallet_at_expiry(celery_cluster):
    # Given a worker and a beat running
    celery_cluster.worker(wait=False)
    celery_cluster.beat()
    celery_cluster.wait_ready()

    # When a consumer who spent from their allowance asks to withdraw (held for 2 s),
    # and another consumer's allowance reaches the end of its validity in 3 s
    (request,) = held_requests(1)
    expiring = expiring_wallet(seconds=3)

    # Then within seconds the held request is refunded automatically …
    wait_for(lambda: WithdrawalRequest.objects.filter(pk=request.pk, status="refunded").exists(),
             timeout=20, what="the held request refunded by the beat")
    request.refresh_from_db()
    assert (request.resolution, request.principal, request.bonus_lapsed) == ("auto", 7200, 1800)
    # … and the expired wallet's principal is refunded, its bonus lapsed
    wait_for(lambda: Wallet.objects.filter(pk=expiring.pk, status="closed").exists(),
             timeout=20, what="the expired wallet closed by the beat")
    expiry = WithdrawalRequest.objects.get(wallet=expiring)
    assert (expiry.status, expiry.resolution, expiry.principal, expiry.bonus_lapsed) == ("refunded", "expiry", 8000, 2000)

    # And both payouts reach the gateway once, and the consumer is told by email
    wait_for(lambda: all_paid(2), timeout=20, what="both payouts succeeded")
    assert SandboxPayout.objects.aggregate(s=Sum("amount"))["s"] == 7200 + 8000
    # (the held request's email is a message after commit, the expiry's comes from the notify job's outbox: they
    # arrive in either order, so wait for the one checked here)
    def mail_text():
        folder = celery_cluster.tmp / "mail"
        text = "\n".join(p.read_text() for p in folder.glob("*.log")) if folder.exists() else ""
        told = (request.wallet.consumer.user.email, expiring.consumer.user.email)
        return text if all(email in text for email in told) and "has been refunded" in text else ""

    mail = wait_for(mail_text, timeout=20, what="refund emails written, the expiry's from its outbox")
    assert request.wallet.consumer.user.email in mail and "has been refunded" in mail
    assert expiring.consumer.user.email in mail
    assert reconcile_findings() == []


def test_the_beat_emails_the_staff_once_about_a_new_held_request(celery_cluster, settings):
    # Given a worker and a beat running, and a consumer who asks to withdraw with the full hold ahead
    settings.WITHDRAWAL_HOLD_SECONDS = 3600
    celery_cluster.worker(wait=False)
    celery_cluster.beat()
    celery_cluster.wait_ready()
    (request,) = held_requests(1)
    staff_email = request.wallet.store.memberships.get().user.email

    # When the beat's notify job has run (every second here)
    wait_for(lambda: WithdrawalRequest.objects.filter(pk=request.pk, staff_notified_at__isnull=False).exists(),
             timeout=20, what="the held request announced to the staff")

    # Then the store's staff got one email naming the consumer and the time left, and the request is still held
    mail = wait_for(lambda: "\n".join(p.read_text() for p in (celery_cluster.tmp / "mail").glob("*.log"))
                    if (celery_cluster.tmp / "mail").exists() else "", timeout=10, what="the staff email written")
    account = request.wallet.consumer.account_name
    assert staff_email in mail and mail.count(f"Withdrawal request from {account}") == 1
    assert WithdrawalRequest.objects.get(pk=request.pk).status == "pending"


def test_payouts_survive_failures_timeouts_and_lost_answers_and_are_paid_exactly_once(celery_cluster):
    # Given 200 due requests and a gateway that declines 30%, times out 10% and loses 5% of answers
    requests = bulk_held_requests(200)
    assert reconcile_findings() == []
    faults = {"SANDBOX_GATEWAY_FAILURE_RATE": 0.30, "SANDBOX_GATEWAY_TIMEOUT_RATE": 0.10,
              "SANDBOX_GATEWAY_LOST_ANSWER_RATE": 0.05, "PAYOUT_MAX_ATTEMPTS": 25}

    # When two workers and a beat refund them and pay them out
    celery_cluster.worker("worker1", wait=False, **faults)
    celery_cluster.worker("worker2", wait=False, **faults)
    celery_cluster.beat()
    celery_cluster.wait_ready()

    # Then after retries every payout has succeeded …
    wait_for(lambda: Refund.objects.count() == 200, timeout=60, what="200 refunds committed")
    wait_for(lambda: not Refund.objects.filter(payout_status=Refund.PayoutStatus.PROCESSING).exists(),
             timeout=120, what="no payout still processing", interval=0.5)
    assert Counter(Refund.objects.values_list("payout_status", flat=True)) == {"succeeded": 200}
    # … the faults really happened and were retried …
    attempts = Counter(Refund.objects.values_list("payout_attempts", flat=True))
    print(f"payout attempts per refund: {sorted(attempts.items())}")
    assert sum(n for a, n in attempts.items() if a > 1) >= 40
    # … and each refund was applied by the gateway exactly once, none lost, the books agree
    assert_each_refunded_exactly_once(requests, resolution="auto")


def test_two_workers_and_two_beats_refund_each_due_request_exactly_once(celery_cluster):
    # Given 500 requests whose hold has ended
    requests = bulk_held_requests(500)
    assert reconcile_findings() == []

    # When two workers and two beats (against Celery's advice: one beat only) sweep at once
    for name in ("worker1", "worker2"):
        celery_cluster.worker(name, wait=False, SWEEP_BATCH_SIZE=50)
    celery_cluster.beat("beat1")
    celery_cluster.beat("beat2")
    celery_cluster.wait_ready()

    # Then every request is refunded once and paid once
    wait_for(lambda: not WithdrawalRequest.objects.filter(status="pending").exists(), timeout=90,
             what="every request refunded", interval=0.5)
    wait_for(lambda: all_paid(500), timeout=90, what="500 payouts succeeded", interval=0.5)
    assert_each_refunded_exactly_once(requests, resolution="auto")
    # The sweeps each worker ran, added up, refunded exactly 500 — no request counted twice. A fast machine can
    # refund all 500 in the first sweep, so wait until both beats' later sweeps have run and found nothing more.
    def sweeps():
        return [int(n) for n in celery_cluster.task_results("refunds.tasks.withdrawal_refund_due")]

    wait_for(lambda: len(sweeps()) >= 4, timeout=30, what="four sweeps logged", interval=0.5)
    assert sum(sweeps()) == 500


def test_a_worker_killed_in_the_middle_of_a_sweep_leaves_nothing_refunded_twice_or_lost(celery_cluster):
    # Given 300 due requests and a worker sweeping them in small batches
    requests = bulk_held_requests(300)
    assert reconcile_findings() == []
    celery_cluster.beat()
    worker = celery_cluster.worker("worker1", wait=False, SWEEP_BATCH_SIZE=10)
    celery_cluster.wait_ready()

    # When the worker is killed (SIGKILL, no shutdown) while the sweep is half-way
    wait_for(lambda: WithdrawalRequest.objects.filter(status="refunded").count() >= 50, timeout=60,
             what="the sweep under way", interval=0.02)
    celery_cluster.kill(worker, signal.SIGKILL)
    refunded_at_kill = WithdrawalRequest.objects.filter(status="refunded").count()
    print(f"refunded when the worker was killed: {refunded_at_kill} of 300")
    assert 0 < refunded_at_kill < 300, "the kill must land in the middle of the sweep"
    # Nothing half-written: every batch committed whole or not at all
    assert reconcile_findings() == []

    # And a new worker is started
    celery_cluster.worker("worker2", SWEEP_BATCH_SIZE=10)

    # Then every due request is refunded exactly once and every payout is made once
    wait_for(lambda: not WithdrawalRequest.objects.filter(status="pending").exists(), timeout=90,
             what="every request refunded after the restart", interval=0.5)
    wait_for(lambda: all_paid(300), timeout=90, what="300 payouts succeeded", interval=0.5)
    assert_each_refunded_exactly_once(requests, resolution="auto")


def test_a_poisoned_wallet_does_not_stop_the_beat_refunding_every_other_due_request(celery_cluster):
    # Given three held requests, the second one's payment broken (it claims a full refund already), so its
    # principal has nowhere to go back to
    requests = held_requests(3)
    from allowance.models import Payment

    Payment.objects.filter(wallet_id=requests[1].wallet_id).update(refunded_amount=8000)
    # When a real worker and beat run the sweep
    celery_cluster.worker(wait=False)
    celery_cluster.beat()
    celery_cluster.wait_ready()
    # Then the unrelated consumers' requests are refunded automatically and paid out
    others = [requests[0].pk, requests[2].pk]
    wait_for(lambda: WithdrawalRequest.objects.filter(pk__in=others, status="refunded").count() == 2,
             timeout=30, what="the other due requests refunded by the beat")
    assert set(WithdrawalRequest.objects.filter(pk__in=others).values_list("resolution", flat=True)) == {"auto"}
    wait_for(lambda: all_paid(2), timeout=20, what="their payouts succeeded")
    # and the poisoned one stays pending, marked for attention, and reconcile names it
    bad = wait_for(lambda: WithdrawalRequest.objects.filter(pk=requests[1].pk, attention_at__isnull=False).first(),
                   timeout=20, what="the poisoned request marked for attention")
    assert bad.status == "pending" and "no payment to go back to" in bad.attention_reason
    assert any(f"withdrawal request {bad.pk}: marked for attention" in line for line in reconcile_findings())
