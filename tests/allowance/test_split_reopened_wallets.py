"""The data migration that splits wallets the old code reopened (allowance 0010): each life its own wallet."""
import importlib

import pytest
from django.apps import apps
from django.db import connection

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import LedgerEntry, OrderAllocation, Payment, Wallet
from allowance.services import campaign_purchase, ledger_write, order_spend
from refunds.returns import order_return
from refunds import services
from refunds.models import Refund, WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
migration = importlib.import_module("allowance.migrations.0010_wallet_closed_stays_closed")


class Editor:
    """What the migration function uses of a schema editor."""

    connection = connection

    def execute(self, sql):
        with connection.cursor() as cursor:
            cursor.execute(sql)


def reopen_the_old_way(wallet: Wallet, campaign) -> Payment:
    """What the old campaign_purchase did to a closed wallet: a new payment topping up the same row."""
    payment = Payment.objects.create(consumer=wallet.consumer, wallet=wallet, campaign=campaign,
                                     amount=campaign.pay_amount, credit_amount=campaign.credit_amount,
                                     gateway_reference="old-reopen")
    Wallet.objects.filter(pk=wallet.pk).update(paid=8000, credited=10000, principal=8000, bonus=2000, status="active",
                                               closed_at=None)
    ledger_write(wallet=wallet, kind=LedgerEntry.Kind.TOP_UP, principal_delta=8000, bonus_delta=2000, payment=payment)
    return payment


def test_a_reopened_wallet_is_split_into_one_wallet_per_life_and_every_wallet_reconciles():
    # given a wallet bought, spent 10.00, withdrawn (72.00 refunded), 4.00 returned after the close,
    campaign = CampaignFactory()
    staff = StaffFactory(store=campaign.store).user
    consumer = ConsumerFactory()
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    first_order = order_spend(consumer=consumer, store=campaign.store, order_ref="life-1", amount=1000)
    request = services.withdrawal_request(wallet=wallet, actor=consumer.user)
    services.withdrawal_refund(request=request, actor=staff)
    order_return(order=first_order, consumer=consumer, amount=400)
    # and then reopened by a second purchase (the old way) and spent from again
    second_payment = reopen_the_old_way(wallet, campaign)
    second_order = order_spend(consumer=consumer, store=campaign.store, order_ref="life-2", amount=3000)
    # when the migration splits reopened wallets
    migration.split_reopened_wallets(apps, Editor())
    # then the original row keeps the open, second life with its own payment and order
    wallet.refresh_from_db()
    old = Wallet.objects.get(consumer=consumer, status="closed")
    assert (wallet.status, wallet.paid, wallet.credited, wallet.principal, wallet.bonus) == ("active", 8000, 10000, 5600, 1400)
    assert list(Payment.objects.filter(wallet=wallet).values_list("pk", flat=True)) == [second_payment.pk]
    assert OrderAllocation.objects.get(order=second_order).wallet_id == wallet.pk
    # and the first life is a closed wallet of its own, with its payment, order, request, refunds and entries
    assert (old.paid, old.credited, old.principal, old.bonus) == (8000, 10000, 0, 0)
    assert OrderAllocation.objects.get(order=first_order).wallet_id == old.pk
    assert WithdrawalRequest.objects.get(pk=request.pk).wallet_id == old.pk
    assert set(Refund.objects.filter(wallet=old).values_list("kind", flat=True)) == {"withdrawal", "return"}
    assert not Refund.objects.filter(wallet=wallet).exists()
    assert LedgerEntry.objects.filter(wallet=old, kind="top_up").count() == 1
    assert reconcile_findings() == []
    # and the ledger is append-only again
    with pytest.raises(Exception, match="append-only"):
        LedgerEntry.objects.filter(wallet=old).update(wallet=wallet)
