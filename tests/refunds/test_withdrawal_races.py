"""SPEC §4.2 and §4.7 on PostgreSQL with real threads: one open request per wallet, and a request resolves
exactly once however the consumer, the merchant and two sweeps race."""
from datetime import timedelta

import pytest

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import Wallet
from allowance.services import campaign_purchase, order_spend
from refunds import services
from refunds.models import Refund, WithdrawalRequest
from tests.allowance.threads import outcomes, run_together
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def consumed_wallet(campaign):
    consumer = ConsumerFactory()
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    order_spend(consumer=consumer, store=campaign.store, order_ref=f"o-{consumer.pk}", amount=1000)
    wallet.refresh_from_db()
    return wallet


def test_sixteen_concurrent_requests_on_a_consumed_wallet_open_exactly_one():
    wallet = consumed_wallet(CampaignFactory())
    user = wallet.consumer.user

    results = run_together(*[lambda: services.withdrawal_request(wallet=wallet, actor=user)] * 16)

    requests, raised = outcomes(results)
    assert [r.status for r in requests] == ["pending"]
    assert raised == ["RequestAlreadyOpen"] * 15
    assert WithdrawalRequest.objects.filter(wallet=wallet, status="pending").count() == 1
    wallet.refresh_from_db()
    assert wallet.status == "frozen"


def test_sixteen_concurrent_requests_on_an_unspent_wallet_refund_it_once():
    consumer = ConsumerFactory()
    wallet = campaign_purchase(campaign=CampaignFactory(), consumer=consumer)

    results = run_together(*[lambda: services.withdrawal_request(wallet=wallet, actor=consumer.user)] * 16)

    requests, raised = outcomes(results)
    assert [(r.status, r.resolution) for r in requests] == [("refunded", "instant")]
    assert raised == ["WalletClosed"] * 15
    assert [r.amount for r in Refund.objects.all()] == [8000]
    assert reconcile_findings() == []


@pytest.mark.parametrize("round_", range(6))
def test_merchant_refund_consumer_cancel_and_two_sweeps_resolve_a_request_once(round_):
    campaign = CampaignFactory()
    staff = StaffFactory(store=campaign.store).user
    wallet = consumed_wallet(campaign)
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)
    after_hold = request.due_at + timedelta(seconds=1)

    results = run_together(
        lambda: services.withdrawal_refund(request=request, actor=staff),
        lambda: services.withdrawal_cancel(request=request, actor=wallet.consumer.user),
        lambda: services.withdrawal_refund_due(now=after_hold),
        lambda: services.withdrawal_refund_due(now=after_hold),
    )

    (merchant_kind, _), (cancel_kind, _), (_, swept_a), (_, swept_b) = results
    wins = (merchant_kind == "ok") + (cancel_kind == "ok") + swept_a + swept_b
    assert wins == 1, results
    assert all(kind == "ok" or type(value).__name__ == "RequestNotPending" for kind, value in results), results
    request.refresh_from_db()
    wallet.refresh_from_db()
    refunds = list(Refund.objects.filter(wallet=wallet))
    if request.status == "cancelled":
        assert (wallet.status, wallet.principal, refunds) == ("active", 7200, [])
    else:
        assert request.status == "refunded" and request.resolution in {"merchant", "auto"}
        assert wallet.status == Wallet.Status.CLOSED
        assert [(r.amount, r.request_id) for r in refunds] == [(7200, request.pk)]
    assert reconcile_findings() == []
