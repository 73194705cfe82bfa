"""SPEC §4.8: one bad row never stops the others. The scheduled jobs roll a row they cannot resolve back alone
(a savepoint), log it, mark it for attention in the admin, count it in `reconcile`, and go on with the rest."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import Payment, Wallet
from allowance.services import campaign_purchase, order_spend
from refunds import services
from refunds.models import Refund, WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def held(campaign, n: int) -> list[WithdrawalRequest]:
    """`n` consumers who each spent 10.00 of the campaign and asked to withdraw (held)."""
    requests = []
    for i in range(n):
        consumer = ConsumerFactory()
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
        order_spend(consumer=consumer, store=campaign.store, order_ref=f"iso-{campaign.pk}-{i}", amount=1000)
        requests.append(services.withdrawal_request(wallet=wallet, actor=consumer.user))
    return requests


def poison(request: WithdrawalRequest) -> None:
    """A broken payment: it claims to be refunded in full, so the wallet's principal has nowhere to go back to."""
    Payment.objects.filter(wallet_id=request.wallet_id).update(refunded_amount=8000)


def test_a_poisoned_request_is_rolled_back_alone_and_every_other_due_request_is_refunded(caplog):
    # given five held requests, the third with a broken payment, all due
    campaign = CampaignFactory()
    requests = held(campaign, 5)
    poison(requests[2])
    # when the sweep runs in batches of two
    done = services.withdrawal_refund_due(now=timezone.now() + timedelta(days=3), batch_size=2)
    # then the four others are refunded, and the poisoned one is still pending, untouched, marked for attention
    assert done == 4
    statuses = dict(WithdrawalRequest.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in requests] == ["refunded", "refunded", "pending", "refunded", "refunded"]
    bad = WithdrawalRequest.objects.get(pk=requests[2].pk)
    assert "no payment to go back to" in bad.attention_reason and bad.attention_at is not None
    assert Wallet.objects.get(pk=bad.wallet_id).status == "frozen"
    assert not Refund.objects.filter(wallet_id=bad.wallet_id).exists()
    assert "marked for attention" in caplog.text
    # and reconcile counts it
    assert any(f"withdrawal request {bad.pk}: marked for attention" in line for line in reconcile_findings())


def test_the_sweep_goes_on_with_later_batches_after_a_poisoned_one():
    campaign = CampaignFactory()
    requests = held(campaign, 4)
    poison(requests[0])
    assert services.withdrawal_refund_due(now=timezone.now() + timedelta(days=3), batch_size=1) == 3
    assert WithdrawalRequest.objects.filter(status="refunded").count() == 3


def test_a_poisoned_wallet_does_not_stop_expiry_of_the_others():
    # given three wallets of a campaign that expires, the second with a broken payment
    campaign = CampaignFactory()
    consumers = [ConsumerFactory() for _ in range(3)]
    wallets = [campaign_purchase(campaign=campaign, consumer=c) for c in consumers]
    Payment.objects.filter(wallet=wallets[1]).update(refunded_amount=8000)
    # when the expiry job runs after valid_until
    done = services.wallet_expire_due(now=campaign.valid_until + timedelta(seconds=1), batch_size=10)
    # then the two others are closed and refunded, the poisoned one stays open and marked
    assert done == 2
    statuses = dict(Wallet.objects.values_list("pk", "status"))
    assert [statuses[w.pk] for w in wallets] == ["closed", "active", "closed"]
    bad = Wallet.objects.get(pk=wallets[1].pk)
    assert bad.attention_at is not None and "no payment" in bad.attention_reason
    assert (bad.principal, bad.bonus) == (8000, 2000)
    assert any(f"wallet {bad.pk}: marked for attention" in line for line in reconcile_findings())


def test_reconcile_exits_non_zero_while_a_marked_request_is_pending_and_the_admin_lists_it(client):
    campaign = CampaignFactory()
    StaffFactory(store=campaign.store)
    (request,) = held(campaign, 1)
    poison(request)
    services.withdrawal_refund_due(now=timezone.now() + timedelta(days=3))
    with pytest.raises(SystemExit) as exit_:
        call_command("reconcile")
    assert exit_.value.code == 1
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/refunds/withdrawalrequest/?attention=yes")
    assert page.status_code == 200 and f"/admin/refunds/withdrawalrequest/{request.pk}/change/" in page.content.decode()
    assert client.get("/admin/allowance/wallet/?attention=yes").status_code == 200
