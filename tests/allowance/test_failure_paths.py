"""Every refusal is a domain error that changes nothing: no ledger row, no refund, no payment, no audit
record, no balance moved. `transaction=True`, so what the service left behind is really committed."""
from datetime import timedelta

import pytest
from django.utils import timezone

from core import errors
from allowance.models import AuditRecord, Campaign, LedgerEntry, Order, Payment, Wallet
from allowance.services import campaign_create, campaign_end, campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import services as withdrawals
from refunds.models import Refund, RetentionMessage, WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def snapshot():
    return {
        "counts": [m.objects.count() for m in (LedgerEntry, Refund, Payment, AuditRecord, Order, WithdrawalRequest,
                                                RetentionMessage, Campaign)],
        "wallets": list(Wallet.objects.order_by("pk").values_list("pk", "principal", "bonus", "paid", "credited", "status")),
        "payments": list(Payment.objects.order_by("pk").values_list("pk", "refunded_amount")),
        "orders": list(Order.objects.order_by("pk").values_list("pk", "returned_amount")),
        "campaigns": list(Campaign.objects.order_by("pk").values_list("pk", "sold_count", "ended_at")),
        "requests": list(WithdrawalRequest.objects.order_by("pk").values_list("pk", "status")),
    }


def assert_refused_without_effect(cases):
    for label, error, call in cases:
        before = snapshot()
        with pytest.raises(error):
            call()
        assert snapshot() == before, label


@pytest.fixture
def shop():
    """A store with a consumer holding a spent wallet, a frozen (pending) one, a closed one and an expired one."""
    now = timezone.now()
    store = StoreFactory()
    staff = StaffFactory(store=store).user
    consumer = ConsumerFactory()
    on_sale = dict(store=store, starts_at=now - DAY, ends_at=now + DAY)
    spent = campaign_purchase(campaign=CampaignFactory(**on_sale, valid_until=now + 30 * DAY), consumer=consumer)
    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=1000)
    frozen = campaign_purchase(campaign=CampaignFactory(**on_sale, valid_until=now + 20 * DAY), consumer=consumer)
    order_spend(consumer=consumer, store=store, order_ref="A2", amount=500)  # soonest-valid first: from `frozen`
    pending = withdrawals.withdrawal_request(wallet=frozen, actor=consumer.user)
    closed = campaign_purchase(campaign=CampaignFactory(**on_sale, valid_until=now + 40 * DAY), consumer=consumer)
    withdrawals.withdrawal_request(wallet=closed, actor=consumer.user)
    expiring = campaign_purchase(campaign=CampaignFactory(**on_sale, valid_until=now + 2 * DAY), consumer=consumer)
    return {
        "now": now, "store": store, "staff": staff, "consumer": consumer, "spent": spent, "frozen": frozen,
        "pending": pending, "closed": closed, "expiring": expiring, "order": order,
    }


def test_checkout_refusals_charge_nothing(shop):
    consumer, store, now = shop["consumer"], shop["store"], shop["now"]
    spend = lambda amount, ref="B1", when=None: order_spend(  # noqa: E731
        consumer=consumer, store=store, order_ref=ref, amount=amount, now=when
    )
    assert_refused_without_effect([
        ("more than the usable wallets hold", errors.InsufficientAllowance, lambda: spend(9000 + 10000 + 1)),
        ("only the frozen, closed and expired wallets could pay", errors.InsufficientAllowance,
         lambda: spend(1, when=now + 31 * DAY)),
        ("a zero amount", errors.InvalidAmount, lambda: spend(0)),
        ("an order reference already used in this store", errors.OrderRefTaken, lambda: spend(100, ref="A1")),
        ("a store where the consumer holds nothing", errors.InsufficientAllowance,
         lambda: order_spend(consumer=consumer, store=StoreFactory(), order_ref="B1", amount=1)),
    ])


def test_purchase_refusals_take_no_payment(shop):
    now, store, consumer = shop["now"], shop["store"], shop["consumer"]
    later = CampaignFactory(store=store, starts_at=now + DAY, ends_at=now + 2 * DAY, valid_until=now + 3 * DAY)
    ended = CampaignFactory(store=store)
    campaign_end(campaign=ended, actor=shop["staff"])
    limited = CampaignFactory(store=store, per_consumer_limit=1)
    campaign_purchase(campaign=limited, consumer=consumer)
    sold_out = CampaignFactory(store=store, stock=1)
    campaign_purchase(campaign=sold_out, consumer=ConsumerFactory())
    assert_refused_without_effect([
        ("the sale has not started", errors.CampaignNotActive, lambda: campaign_purchase(campaign=later, consumer=consumer)),
        ("the sale was ended early", errors.CampaignNotActive, lambda: campaign_purchase(campaign=ended, consumer=consumer)),
        ("the sale is over", errors.CampaignNotActive,
         lambda: campaign_purchase(campaign=shop["spent"].campaign, consumer=consumer, now=now + 2 * DAY)),
        ("over the per-consumer limit", errors.PurchaseLimitReached,
         lambda: campaign_purchase(campaign=limited, consumer=consumer)),
        ("out of stock", errors.OutOfStock, lambda: campaign_purchase(campaign=sold_out, consumer=consumer)),
        ("a top-up of a frozen wallet", errors.WalletFrozen,
         lambda: campaign_purchase(campaign=shop["frozen"].campaign, consumer=consumer)),
    ])


def test_return_refusals_give_nothing_back(shop):
    order, consumer = shop["order"], shop["consumer"]
    assert_refused_without_effect([
        ("more than the order", errors.ReturnExceedsOrder, lambda: order_return(order=order, consumer=consumer, amount=1001)),
        ("a zero amount", errors.ReturnExceedsOrder, lambda: order_return(order=order, consumer=consumer, amount=0)),
        ("someone else's order", errors.NotFound, lambda: order_return(order=order, consumer=ConsumerFactory())),
    ])
    order_return(order=order, consumer=consumer)
    assert_refused_without_effect([
        ("an order already returned", errors.ReturnExceedsOrder, lambda: order_return(order=order, consumer=consumer)),
    ])


def test_consumer_withdrawal_refusals_refund_nothing(shop):
    consumer = shop["consumer"]
    user = consumer.user
    empty = campaign_purchase(campaign=CampaignFactory(store=shop["store"]), consumer=consumer)
    # Spend every usable wallet down to nothing: `spent` (90.00), `expiring` (100.00) and `empty` (100.00).
    order_spend(consumer=consumer, store=shop["store"], order_ref="all", amount=9000 + 10000 + 10000)
    empty.refresh_from_db()
    request = lambda wallet, actor=user, when=None: withdrawals.withdrawal_request(  # noqa: E731
        wallet=wallet, actor=actor, now=when
    )
    assert_refused_without_effect([
        ("nothing to withdraw", errors.NothingToWithdraw, lambda: request(empty)),
        ("a closed wallet", errors.WalletClosed, lambda: request(shop["closed"])),
        ("an expired wallet", errors.WalletExpired, lambda: request(shop["expiring"], when=shop["now"] + 3 * DAY)),
        ("a request already open", errors.RequestAlreadyOpen, lambda: request(shop["frozen"])),
        ("someone else's wallet", errors.NotFound, lambda: request(shop["spent"], actor=ConsumerFactory().user)),
        ("a preview of a closed wallet", errors.WalletClosed, lambda: withdrawals.withdrawal_preview(wallet=Wallet.objects.get(pk=shop["closed"].pk))),
        ("someone else cancels", errors.NotFound,
         lambda: withdrawals.withdrawal_cancel(request=shop["pending"], actor=ConsumerFactory().user)),
    ])
    withdrawals.withdrawal_cancel(request=shop["pending"], actor=user)
    assert_refused_without_effect([
        ("cancelling twice", errors.RequestNotPending, lambda: withdrawals.withdrawal_cancel(request=shop["pending"], actor=user)),
    ])


def test_merchant_refusals_refund_and_audit_nothing(shop):
    pending, staff = shop["pending"], shop["staff"]
    stranger = StaffFactory().user  # staff of another store
    admin = UserFactory(is_staff=True)
    instant = WithdrawalRequest.objects.get(wallet=shop["closed"])
    now = timezone.now()
    campaign_fields = dict(name="pay 50 get 60", pay_amount=5000, credit_amount=6000, starts_at=now,
                           ends_at=now + DAY, valid_until=now + 2 * DAY)
    assert_refused_without_effect([
        ("refund in another store", errors.NotYourStore, lambda: withdrawals.withdrawal_refund(request=pending, actor=stranger)),
        ("refund by a consumer", errors.NotYourStore,
         lambda: withdrawals.withdrawal_refund(request=pending, actor=shop["consumer"].user)),
        ("retention message in another store", errors.NotYourStore,
         lambda: withdrawals.withdrawal_retention_message(request=pending, actor=stranger, message="stay")),
        ("an empty retention message", errors.DomainError,
         lambda: withdrawals.withdrawal_retention_message(request=pending, actor=staff, message="  ")),
        ("refund of a request that is not pending", errors.RequestNotPending,
         lambda: withdrawals.withdrawal_refund(request=instant, actor=staff)),
        ("retention on a request that is not pending", errors.RequestNotPending,
         lambda: withdrawals.withdrawal_retention_message(request=instant, actor=staff, message="stay")),
        ("admin refund by a non-admin", errors.NotFound,
         lambda: withdrawals.withdrawal_admin_refund(request=pending, actor=staff)),
        ("admin refund of a request that is not pending", errors.RequestNotPending,
         lambda: withdrawals.withdrawal_admin_refund(request=instant, actor=admin)),
        ("a campaign in another store", errors.NotYourStore,
         lambda: campaign_create(store=shop["store"], actor=stranger, **campaign_fields)),
        ("a campaign that gives less than it costs", errors.InvalidCampaign,
         lambda: campaign_create(store=shop["store"], actor=staff, **{**campaign_fields, "credit_amount": 4000})),
        ("ending another store's campaign", errors.NotYourStore,
         lambda: campaign_end(campaign=shop["spent"].campaign, actor=stranger)),
    ])
