"""Payouts through the sandbox gateway: retried with backoff, asked about when the outcome is unknown,
never paid twice, and handed to an admin when they keep failing."""
from datetime import timedelta

import pytest
from django.utils import timezone

from core import errors
from allowance.models import AuditRecord
from allowance.services import campaign_purchase
from refunds.models import Refund
from core.models import SandboxPayout
from refunds.payouts import payout_backoff, refund_payout_execute, refund_payout_retry, refund_payouts_redrive
from refunds.services import withdrawal_request
from tests.factories import UserFactory

LATER = timedelta(days=1)


@pytest.fixture
def refund(consumer, campaign, django_capture_on_commit_callbacks):
    """A committed refund of 80.00 whose payout has not run yet (its after-commit message is held back)."""
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    with django_capture_on_commit_callbacks(execute=False):
        request = withdrawal_request(wallet=wallet, actor=consumer.user)
    return Refund.objects.get(request=request)


@pytest.fixture
def gateway_faults(settings):
    def set_faults(*, failure=0.0, timeout=0.0, lost_answer=0.0):
        settings.SANDBOX_GATEWAY_FAILURE_RATE = failure
        settings.SANDBOX_GATEWAY_TIMEOUT_RATE = timeout
        settings.SANDBOX_GATEWAY_LOST_ANSWER_RATE = lost_answer

    return set_faults


def test_a_payout_that_succeeds_pays_the_original_payment_once(refund):
    # Given a committed refund; when its payout runs twice (a duplicate message)
    first = refund_payout_execute(refund_id=refund.pk)
    second = refund_payout_execute(refund_id=refund.pk)

    # Then it is paid once, to the original payment, and the refund shows it
    refund.refresh_from_db()
    assert (first, second) == ("succeeded", "skipped")
    assert refund.payout_status == Refund.PayoutStatus.SUCCEEDED and refund.paid_at is not None
    applied = SandboxPayout.objects.get()
    assert applied.amount == 8000 == refund.amount
    assert applied.payment_reference == refund.allocations.get().payment.gateway_reference
    assert refund.allocations.get().gateway_reference == applied.reference


def test_a_lost_answer_is_asked_about_and_never_paid_a_second_time(refund, gateway_faults):
    # Given a gateway that applies the payout but loses its answer
    gateway_faults(lost_answer=1.0)
    assert refund_payout_execute(refund_id=refund.pk) == "retry"
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.PROCESSING and refund.last_error == "sandbox: answer lost"

    # When the retry comes, with the gateway answering again
    gateway_faults()
    assert refund_payout_execute(refund_id=refund.pk, now=timezone.now() + LATER) == "succeeded"

    # Then the status query found the first payout: applied exactly once
    assert SandboxPayout.objects.count() == 1
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.SUCCEEDED and refund.payout_attempts == 2


def test_a_timed_out_payout_that_never_arrived_is_sent_again_under_the_same_key(refund, gateway_faults):
    # Given a payout that timed out before the provider applied it
    gateway_faults(timeout=1.0)
    assert refund_payout_execute(refund_id=refund.pk) == "retry"
    assert SandboxPayout.objects.count() == 0

    # When it is retried with the gateway healthy
    gateway_faults()
    assert refund_payout_execute(refund_id=refund.pk, now=timezone.now() + LATER) == "succeeded"

    # Then it is paid once, under the key made of the part's own UUID (never of ids a sequence can reuse)
    allocation = refund.allocations.get()
    assert list(SandboxPayout.objects.values_list("key", flat=True)) == [f"payout-{allocation.payout_uuid.hex}"]


def test_a_retry_waits_for_its_backoff(refund, gateway_faults):
    # Given a declined payout
    gateway_faults(failure=1.0)
    now = timezone.now()
    refund_payout_execute(refund_id=refund.pk, now=now)
    refund.refresh_from_db()

    # When a message for it arrives before the backoff has passed, nothing is sent
    gateway_faults()
    assert refund_payout_execute(refund_id=refund.pk, now=now + timedelta(seconds=1)) == "skipped"

    # Then it waits at least half the first backoff step, at most the step
    assert timedelta(seconds=15) <= refund.next_attempt_at - now <= timedelta(seconds=30)
    assert SandboxPayout.objects.count() == 0


def test_backoff_grows_exponentially_with_jitter_and_is_capped(settings):
    settings.PAYOUT_BACKOFF_BASE_SECONDS = 10
    settings.PAYOUT_BACKOFF_MAX_SECONDS = 100
    delays = {attempt: {payout_backoff(attempt).total_seconds() for _ in range(50)} for attempt in (1, 2, 3, 6)}
    assert all(5 <= d <= 10 for d in delays[1]) and all(10 <= d <= 20 for d in delays[2])
    assert all(20 <= d <= 40 for d in delays[3]) and all(50 <= d <= 100 for d in delays[6])
    assert len(delays[6]) > 1  # jittered, not a fixed schedule


def test_a_payout_that_keeps_failing_needs_attention_and_an_admin_retry_pays_it(refund, gateway_faults, settings):
    # Given a provider that declines every payout, and three attempts allowed
    settings.PAYOUT_MAX_ATTEMPTS = 3
    gateway_faults(failure=1.0)
    now = timezone.now()
    outcomes = [refund_payout_execute(refund_id=refund.pk, now=now + n * LATER) for n in range(4)]

    # Then after three attempts it stops and needs attention
    assert outcomes == ["retry", "retry", "needs_attention", "skipped"]
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.NEEDS_ATTENTION

    # When an admin retries it with the provider healthy again
    gateway_faults()
    admin = UserFactory(is_staff=True)
    refund_payout_retry(refund=refund, actor=admin)
    assert refund_payout_execute(refund_id=refund.pk) == "succeeded"

    # Then it is paid once and the retry is audited with the admin's name
    assert SandboxPayout.objects.count() == 1
    audit = AuditRecord.objects.get(action="payout_retry")
    assert audit.actor == admin and audit.amount == refund.amount and audit.details["previous_attempts"] == 3


def test_only_an_admin_may_retry_and_only_a_payout_that_needs_attention(refund):
    with pytest.raises(errors.NotFound):
        refund_payout_retry(refund=refund, actor=UserFactory())
    with pytest.raises(errors.PayoutNotRetryable):
        refund_payout_retry(refund=refund, actor=UserFactory(is_staff=True))


def test_the_redrive_sends_again_only_payouts_whose_message_is_overdue(refund, settings):
    # Given a refund whose after-commit message was lost
    settings.PAYOUT_STUCK_SECONDS = 60

    # When the re-drive runs before and after the stuck threshold
    early = refund_payouts_redrive(now=refund.created_at + timedelta(seconds=30))
    late = refund_payouts_redrive(now=refund.created_at + timedelta(seconds=90))

    # Then only the late one sends it, and (tasks run eagerly here) the refund gets paid
    assert (early, late) == (0, 1)
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.SUCCEEDED
    assert refund_payouts_redrive(now=refund.created_at + timedelta(days=1)) == 0


def test_an_admin_retries_a_payout_that_needs_attention_from_the_refund_admin(
    refund, client, settings, gateway_faults, django_capture_on_commit_callbacks
):
    # Given a refund whose payout needs attention
    settings.PAYOUT_MAX_ATTEMPTS = 1
    gateway_faults(failure=1.0)
    refund_payout_execute(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.NEEDS_ATTENTION

    # When an admin picks "retry the payout" on it in the Django admin (tasks run eagerly here)
    gateway_faults()
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/refunds/refund/", {"action": "payout_retry", "_selected_action": [refund.pk]}, follow=True
        )

    # Then it is paid, and the admin is told so
    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.SUCCEEDED
    assert SandboxPayout.objects.count() == 1
    assert "1 payout(s) sent again." in response.content.decode()


# --- issue 20: a refund the database forgot, made again, is never paid past what its payment paid ---------------


def test_a_part_that_would_refund_its_payment_past_what_it_paid_is_held_back_and_never_paid(refund):
    from allowance.management.commands.reconcile import reconcile_findings

    # Given the provider has already refunded the whole payment under a key our database does not know (a refund
    # whose transaction a failover lost after its payout went out), and the refund is made again
    part = refund.allocations.get()
    SandboxPayout.objects.create(key="refund-7-payment-7", payment_reference=part.payment.gateway_reference,
                                 amount=part.payment.amount, reference="po_lost")

    # When its payout runs
    outcome = refund_payout_execute(refund_id=refund.pk)

    # Then nothing more is paid to that payment; the refund waits for a person, with the reason
    refund.refresh_from_db()
    part.refresh_from_db()
    assert outcome == "needs_attention"
    assert refund.payout_status == Refund.PayoutStatus.NEEDS_ATTENTION
    assert refund.last_error == (f"over-refund: payment {part.payment_id} paid 8000, the gateway has refunded 8000; "
                                 "this part of 8000 would exceed it")
    assert SandboxPayout.objects.count() == 1 and part.payout_requested_at is None and part.gateway_reference == ""
    # And reconcile counts it, next to the payout it cannot place
    assert f"refund {refund.pk}: payout held back, over-refund: payment {part.payment_id}" in "\n".join(
        reconcile_findings())


def test_an_admin_retry_of_a_held_back_part_asks_again_and_still_never_pays(refund):
    SandboxPayout.objects.create(key="refund-7-payment-7", payment_reference=refund.allocations.get().payment.gateway_reference,
                                 amount=5000, reference="po_lost")
    assert refund_payout_execute(refund_id=refund.pk) == "needs_attention"

    refund_payout_retry(refund=refund, actor=UserFactory(is_staff=True))
    assert refund_payout_execute(refund_id=refund.pk) == "needs_attention"

    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.NEEDS_ATTENTION and refund.last_error.startswith("over-refund")
    assert SandboxPayout.objects.count() == 1

