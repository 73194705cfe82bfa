"""SPEC §6: `manage.py reconcile` agrees with a consistent database and names the wallet that drifted."""
from io import StringIO

import pytest
from django.core.management import call_command

from allowance.models import Wallet
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import services as withdrawals

pytestmark = pytest.mark.django_db


def reconcile():
    out, err = StringIO(), StringIO()
    try:
        call_command("reconcile", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def busy_store(campaign, staff):
    """Wallets that bought, spent, returned, withdrew at once, and were refunded by the merchant."""
    from tests.factories import ConsumerFactory

    consumers = [ConsumerFactory() for _ in range(3)]
    wallets = [campaign_purchase(campaign=campaign, consumer=c) for c in consumers]
    order = order_spend(consumer=consumers[0], store=campaign.store, order_ref="A1", amount=3333)
    order_return(order=order, consumer=consumers[0], amount=1111)
    withdrawals.withdrawal_request(wallet=wallets[1], actor=consumers[1].user)
    order_spend(consumer=consumers[2], store=campaign.store, order_ref="A2", amount=100)
    request = withdrawals.withdrawal_request(wallet=wallets[2], actor=consumers[2].user)
    withdrawals.withdrawal_refund(request=request, actor=staff)
    return wallets


def test_reconcile_exits_zero_on_a_consistent_database(busy_store):
    code, out, err = reconcile()
    assert code == 0, err
    assert "3 wallets and 2 refunds agree" in out


def test_reconcile_fails_and_names_the_wallet_whose_balance_was_corrupted(busy_store):
    wallet = busy_store[0]
    Wallet.objects.filter(pk=wallet.pk).update(bonus=wallet.bonus + 1)  # drift no service could cause

    code, out, err = reconcile()

    assert code == 1
    assert f"wallet {wallet.pk}: balance" in err
    assert "disagreement" in err
    assert all(f"wallet {w.pk}:" not in err for w in busy_store[1:])


def test_reconcile_fails_on_a_refund_its_payments_do_not_cover(busy_store):
    from allowance.models import Payment

    payment = Payment.objects.filter(refunded_amount__gt=0).first()
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=payment.refunded_amount - 1)

    code, _, err = reconcile()

    assert code == 1 and f"payment {payment.pk}: refunded_amount" in err
