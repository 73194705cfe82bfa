"""Payouts in gateway batches: claimed together, paid with one batch call, finished together — and every guarantee
of the single path kept: one claim per refund, the same key, ask before resending, exactly once, needs attention.

Each test attacks the batch path the way it could break: mixed outcomes inside one batch, overlapping batches
from several threads, a gateway that raises half-way, refunds of several parts, a provider with single calls.
"""
import random
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from allowance.services import campaign_purchase, order_spend
from core.gateway import OneByOneBatches, PayoutItem, PayoutOutcome, SandboxGateway
from core.models import SandboxPayout
from refunds.models import Refund, RefundAllocation
from refunds.payouts import payout_batch_size, payout_key, refund_payouts_execute, refund_payouts_pay
from refunds.services import withdrawal_refund_due, withdrawal_request
from tests.allowance.threads import outcomes as thread_outcomes, run_together
from tests.scheduling.conftest import bulk_held_requests

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_limits(settings):
    settings.PAYOUT_RATE_LIMIT = 0
    settings.SANDBOX_GATEWAY_RATE_LIMIT = 0
    settings.SANDBOX_GATEWAY_LATENCY_MS = 0
    settings.PAYOUT_MAX_ATTEMPTS = 1000


def _refunds(count: int) -> list[int]:
    """`count` committed refunds whose payout messages were held back."""
    bulk_held_requests(count)
    with mock.patch("refunds.refunds.payout_enqueue"), mock.patch("refunds.services._notify_many"):
        withdrawal_refund_due()
    return list(Refund.objects.order_by("pk").values_list("pk", flat=True))


class ResendWatch(SandboxGateway):
    """The sandbox, noting every key that is sent again after the provider had applied it (a blind resend)."""

    blind_resends: list[str] = []

    def payout_batch(self, items):
        applied = set(SandboxPayout.objects.filter(key__in=[i.key for i in items]).values_list("key", flat=True))
        ResendWatch.blind_resends += [item.key for item in items if item.key in applied]
        return super().payout_batch(items)


def _pay_until_done(refund_ids, *, rounds=60):
    """Attempt the batch again and again (each round a day later, so every backoff has passed) until all are paid."""
    now = timezone.now()
    for round_ in range(rounds):
        if not Refund.objects.filter(pk__in=refund_ids, payout_status=Refund.PayoutStatus.PROCESSING).exists():
            return round_
        refund_payouts_execute(refund_ids=refund_ids, now=now + timedelta(days=round_))
    raise AssertionError("payouts still processing after 60 rounds")


def _applied_once(refund_ids):
    keys = Counter(SandboxPayout.objects.values_list("key", flat=True))
    parts = RefundAllocation.objects.filter(refund_id__in=refund_ids)
    assert set(keys.values()) == {1}
    assert {payout_key(p) for p in parts} == set(keys)
    assert all(p.gateway_reference for p in parts)


def test_a_batch_with_declines_timeouts_and_lost_answers_pays_each_refund_exactly_once(settings):
    # Given 60 refunds and a gateway that declines, times out and loses answers for items inside one batch
    settings.PAYMENT_GATEWAY = "tests.scheduling.test_payout_batches.ResendWatch"
    settings.SANDBOX_GATEWAY_FAILURE_RATE = 0.25
    settings.SANDBOX_GATEWAY_TIMEOUT_RATE = 0.15
    settings.SANDBOX_GATEWAY_LOST_ANSWER_RATE = 0.15
    ResendWatch.blind_resends = []
    refund_ids = _refunds(60)

    # When the whole set is attempted as one batch, again and again
    first, asked = refund_payouts_execute(refund_ids=refund_ids), 1
    while set(first.values()) == {"retry"} and asked < 10:
        # The provider's refunded-total query, asked before anything is sent, timed out (it draws the same
        # faults): nothing was sent and every part is to be retried — attempt again once the backoff has passed
        assert not SandboxPayout.objects.exists()
        first = refund_payouts_execute(refund_ids=refund_ids, now=timezone.now() + timedelta(days=asked))
        asked += 1
    rounds = _pay_until_done(refund_ids)

    # Then the first batch that reached the provider had every kind of outcome side by side …
    assert {"succeeded", "retry"} <= set(first.values()), first
    # … every refund ended paid, each key applied once, and a key the provider had applied was never sent again
    assert Counter(Refund.objects.filter(pk__in=refund_ids).values_list("payout_status", flat=True)) == {
        "succeeded": 60}
    _applied_once(refund_ids)
    assert ResendWatch.blind_resends == []
    assert rounds >= 2 and Refund.objects.filter(payout_attempts__gt=1).count() >= 10


def test_overlapping_batches_from_many_threads_claim_and_pay_each_refund_once():
    # Given 200 refunds and 6 threads, each handed the whole set in its own shuffled order and cut differently
    refund_ids = _refunds(200)

    def pay_all(seed: int) -> Counter:
        ids = refund_ids[:]
        random.Random(seed).shuffle(ids)
        size = 10 + seed * 7
        outcomes = Counter()
        for start in range(0, len(ids), size):
            outcomes.update(refund_payouts_execute(refund_ids=ids[start:start + size]).values())
        return outcomes

    values, raised = thread_outcomes(run_together(*[(lambda n=n: pay_all(n)) for n in range(6)]))

    # Then no claim deadlocked or failed, each refund was claimed and paid by exactly one batch
    assert raised == []
    outcomes = sum(values, Counter())
    assert outcomes["succeeded"] == 200 and outcomes["skipped"] == 5 * 200
    assert set(Refund.objects.values_list("payout_attempts", flat=True)) == {1}
    _applied_once(refund_ids)


class RaisesOnce(ResendWatch):
    """The provider's SDK raises after the call went out: the whole batch was applied, no answer came back."""

    raised = False

    def payout_batch(self, items):
        results = super().payout_batch(items)
        if not RaisesOnce.raised:
            RaisesOnce.raised = True
            raise ConnectionResetError("connection reset by peer")
        return results


def test_a_gateway_that_raises_mid_batch_leaves_every_item_unknown_and_asked_before_resending(settings):
    # Given 30 refunds and a gateway that applies a batch, then raises instead of answering
    settings.PAYMENT_GATEWAY = "tests.scheduling.test_payout_batches.RaisesOnce"
    RaisesOnce.raised, ResendWatch.blind_resends = False, []
    refund_ids = _refunds(30)

    # When the batch runs: every refund is a retry (outcome unknown), none is lost or marked paid
    assert set(refund_payouts_execute(refund_ids=refund_ids).values()) == {"retry"}
    assert SandboxPayout.objects.count() == 30
    assert "ConnectionResetError" in Refund.objects.get(pk=refund_ids[0]).last_error

    # Then the next attempt asks, learns that all 30 were applied, and sends nothing again
    later = refund_payouts_execute(refund_ids=refund_ids, now=timezone.now() + timedelta(days=1))
    assert set(later.values()) == {"succeeded"}
    assert ResendWatch.blind_resends == []
    _applied_once(refund_ids)


def test_refunds_of_several_payments_are_paid_part_by_part_in_one_batch(consumer, campaign, settings,
                                                                            django_capture_on_commit_callbacks):
    # Given a consumer who bought three times and spent a little: the withdrawal goes back to three payments
    for _ in range(3):
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    order_spend(consumer=consumer, store=campaign.store, order_ref="order-1", amount=1000)
    with django_capture_on_commit_callbacks(execute=False):
        request = withdrawal_request(wallet=wallet, actor=consumer.user)
    with django_capture_on_commit_callbacks(execute=False):
        withdrawal_refund_due(now=timezone.now() + timedelta(days=3))
    refund = Refund.objects.get(request=request)
    assert refund.allocations.count() == 3
    # … and the provider declines one part the first time
    settings.SANDBOX_GATEWAY_FAILURE_RATE = 0.4
    settings.SANDBOX_GATEWAY_SEED = 3

    # When it is paid out
    _pay_until_done([refund.pk])

    # Then each part was applied once with its own key, and the refund is paid in full
    refund.refresh_from_db()
    assert refund.payout_status == "succeeded"
    applied = SandboxPayout.objects.order_by("key")
    assert sum(a.amount for a in applied) == refund.amount and applied.count() == 3
    _applied_once([refund.pk])


class SingleCallsOnly(OneByOneBatches):
    """A provider with single payout calls only: the batch calls come from OneByOneBatches."""

    name = "single"

    def __init__(self):
        self.sandbox = SandboxGateway()

    def payout(self, *, key, payment_reference, amount):
        return self.sandbox.payout_batch([PayoutItem(key, payment_reference, amount)])[0]

    def payout_status(self, *, key):
        return self.sandbox.payout_status_batch([key])[0]

    def payment_refunded(self, *, payment_reference):
        return self.sandbox.payment_refunded_batch([payment_reference])[0]


def test_a_provider_without_a_batch_call_is_paid_one_call_per_item(settings):
    settings.PAYMENT_GATEWAY = "tests.scheduling.test_payout_batches.SingleCallsOnly"
    settings.SANDBOX_GATEWAY_LOST_ANSWER_RATE = 0.3
    refund_ids = _refunds(20)
    _pay_until_done(refund_ids)
    _applied_once(refund_ids)
    statuses = SingleCallsOnly().payout_status_batch([f"refund-{refund_ids[0]}-payment-0", "nope"])
    assert [s.outcome for s in statuses] == [PayoutOutcome.NOT_FOUND, PayoutOutcome.NOT_FOUND]


def test_a_message_of_many_refunds_is_paid_in_batches_no_larger_than_a_twentieth_of_a_second(settings):
    # 500/s: batches of 25, so no second ever sees more than one small batch beyond the rate
    settings.PAYOUT_RATE_LIMIT = 500
    settings.PAYOUT_BATCH_SIZE = 100
    assert payout_batch_size() == 25
    settings.PAYOUT_RATE_LIMIT = 0
    assert payout_batch_size() == 100

    refund_ids = _refunds(230)
    sizes = []
    real = SandboxGateway.payout_batch

    def spy(self, items):
        sizes.append(len(items))
        return real(self, items)

    with mock.patch.object(SandboxGateway, "payout_batch", spy):
        assert refund_payouts_pay(refund_ids=refund_ids) == 230
    assert sizes == [100, 100, 30]
    _applied_once(refund_ids)
