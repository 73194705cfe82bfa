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


# --- issue 11: what would have caught the return bugs --------------------------------------------------


@pytest.fixture
def closed_with_returns(campaign, consumer, staff):
    """A wallet that spent 90.00 of "pay 80 get 100", was refunded by the merchant, then got 1.00 returned."""
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    order = order_spend(consumer=consumer, store=campaign.store, order_ref="R1", amount=9000)
    request = withdrawals.withdrawal_request(wallet=wallet, actor=consumer.user)
    withdrawals.withdrawal_refund(request=request, actor=staff)
    order_return(order=order, consumer=consumer, amount=100)
    assert reconcile()[0] == 0
    return wallet, order


def test_reconcile_names_an_open_wallet_holding_more_principal_than_its_payments_have_left(campaign, consumer):
    from allowance.models import Payment

    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    Payment.objects.filter(wallet=wallet).update(refunded_amount=7999)  # a refund paid from the wrong life's payment
    code, _, err = reconcile()
    assert code == 1
    assert f"wallet {wallet.pk}: principal 8000 but its payments have only 1 left to refund" in err


def test_reconcile_names_an_order_whose_returns_disagree_with_what_it_took(closed_with_returns):
    from allowance.models import Order

    _, order = closed_with_returns
    Order.objects.filter(pk=order.pk).update(returned_amount=9000)
    code, _, err = reconcile()
    assert code == 1 and f"order {order.pk}: returned 9000 of 9000, its wallets got back 100" in err


def test_reconcile_names_returns_that_gave_back_more_principal_than_the_running_total_rule(closed_with_returns):
    from refunds.models import Refund

    _, order = closed_with_returns
    Refund.objects.filter(order=order).update(amount=100)  # 1.00 of principal for a 1.00 return (rule: 0.80)
    code, _, err = reconcile()
    assert code == 1
    assert f"order {order.pk}: returns to wallet" in err and "refunded 100 of principal, the running-total rule allows 80" in err


def test_reconcile_names_a_consumer_refunded_more_than_they_paid(closed_with_returns, consumer):
    from refunds.models import Refund

    Refund.objects.filter(kind="withdrawal").update(amount=8000)
    code, _, err = reconcile()
    assert code == 1 and f"consumer {consumer.pk}: refunded 8080 but paid 8000" in err


def test_reconcile_names_a_succeeded_refund_the_gateway_never_applied(closed_with_returns):
    from refunds.models import Refund

    refund = Refund.objects.get(kind="withdrawal")
    Refund.objects.filter(pk=refund.pk).update(payout_status="succeeded")
    code, _, err = reconcile()
    assert code == 1 and f"refund {refund.pk}: succeeded, but the gateway applied 0 of 800" in err


def test_reconcile_asks_a_real_provider_about_each_succeeded_refund(closed_with_returns, settings):
    from core.gateway import PayoutOutcome, PayoutResult, SandboxGateway
    from refunds.models import Refund

    asked = []

    class Provider(SandboxGateway):  # stands in for a real provider: reconcile must ask it, not read the sandbox
        def payout_status(self, *, key):
            asked.append(key)
            return PayoutResult(PayoutOutcome.NOT_FOUND)

    settings.PAYMENT_GATEWAY = f"{__name__}.FakeProvider"
    globals()["FakeProvider"] = type("FakeProvider", (), {"payout_status": Provider.payout_status})
    refund = Refund.objects.get(kind="withdrawal")
    Refund.objects.filter(pk=refund.pk).update(payout_status="succeeded")
    code, _, err = reconcile()
    assert code == 1 and f"refund {refund.pk}: succeeded, but the gateway says not_found" in err
    assert asked == [f"payout-{refund.allocations.get().payout_uuid.hex}"]


# --- issue 20: the gateway's books checked the other way round ------------------------------------------


@pytest.fixture
def paid_withdrawal(closed_with_returns):
    """The merchant-refunded withdrawal of `closed_with_returns`, paid out through the sandbox gateway."""
    from refunds.models import Refund
    from refunds.payouts import refund_payouts_execute

    refund = Refund.objects.get(kind="withdrawal")
    refund_payouts_execute(refund_ids=[refund.pk])
    refund.refresh_from_db()
    assert refund.payout_status == "succeeded" and reconcile()[0] == 0
    return refund


def test_reconcile_names_a_payment_the_gateway_paid_back_twice(paid_withdrawal):
    from core.models import SandboxPayout

    # What a lost refund re-created after a failover looks like at the provider: a second payout, with a key of
    # its own, to a payment whose refund our database knows only once.
    part = paid_withdrawal.allocations.get()
    SandboxPayout.objects.create(key="refund-lost-in-a-failover", payment_reference=part.payment.gateway_reference,
                                 amount=part.amount, reference="po_twice")

    code, _, err = reconcile()

    assert code == 1
    assert (f"gateway payout refund-lost-in-a-failover: {part.amount} to payment {part.payment_id} "
            "belongs to no refund part of ours") in err
    assert (f"payment {part.payment_id}: the gateway refunded {2 * part.amount}, "
            f"our succeeded refunds {part.amount}") in err


def test_reconcile_names_a_gateway_payout_to_a_payment_the_database_does_not_know(paid_withdrawal):
    from core.models import SandboxPayout

    SandboxPayout.objects.create(key="refund-999-payment-999", payment_reference="pay_nobody_knows", amount=500,
                                 reference="po_unknown")

    code, _, err = reconcile()

    assert code == 1
    assert "gateway payout refund-999-payment-999: 500 to payment reference pay_nobody_knows, which is no payment of ours" in err


def test_reconcile_names_a_gateway_payout_whose_amount_differs_from_the_part(paid_withdrawal):
    from core.models import SandboxPayout

    part = paid_withdrawal.allocations.get()
    SandboxPayout.objects.filter(payment_reference=part.payment.gateway_reference).update(amount=part.amount + 1)

    code, _, err = reconcile()

    assert code == 1
    assert f"refund {part.refund_id}: succeeded, but the gateway applied {part.amount + 1} of {part.amount}" in err
