"""SPEC §4.6 expiry, §6 audit records on merchant actions, and side effects only after commit."""
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from allowance.models import AuditRecord, LedgerEntry
from allowance.services import campaign_create, campaign_end, campaign_purchase, order_spend
from refunds import services
from refunds.models import Refund, WithdrawalRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet(campaign, consumer):
    return campaign_purchase(campaign=campaign, consumer=consumer)


def spend(wallet, amount, ref="o1"):
    order_spend(consumer=wallet.consumer, store=wallet.store, order_ref=ref, amount=amount)
    wallet.refresh_from_db()
    return wallet


def after_expiry(wallet):
    return wallet.valid_until + timedelta(seconds=1)


# --- expiry --------------------------------------------------------------------------------


def test_expiry_refunds_the_principal_and_lapses_the_bonus_of_a_wallet_without_a_request(wallet):
    spend(wallet, 1000)
    assert services.wallet_expire_due(now=wallet.valid_until - timedelta(seconds=1)) == 0

    assert services.wallet_expire_due(now=after_expiry(wallet)) == 1

    wallet.refresh_from_db()
    request = WithdrawalRequest.objects.get(wallet=wallet)
    assert (wallet.status, wallet.principal, wallet.bonus) == ("closed", 0, 0)
    assert (request.status, request.resolution, request.principal, request.bonus_lapsed) == ("refunded", "expiry", 7200, 1800)
    assert [(r.kind, r.amount) for r in Refund.objects.all()] == [("expiry", 7200)]
    kinds = LedgerEntry.objects.filter(wallet=wallet).order_by("pk").values_list("kind", "principal_delta", "bonus_delta")
    assert list(kinds)[-2:] == [("expiry_refund", -7200, 0), ("bonus_lapse", 0, -1800)]
    assert services.wallet_expire_due(now=after_expiry(wallet)) == 0


def test_expiry_ends_a_pending_request_as_refunded_at_expiry(wallet):
    spend(wallet, 1000)
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)

    assert services.wallet_expire_due(now=after_expiry(wallet)) == 1

    request.refresh_from_db()
    assert (request.status, request.resolution, request.principal) == ("refunded", "expiry", 7200)
    assert WithdrawalRequest.objects.filter(wallet=wallet).count() == 1
    assert Refund.objects.get().request_id == request.pk
    assert services.withdrawal_refund_due(now=after_expiry(wallet) + timedelta(days=3)) == 0


def test_expiry_closes_an_empty_wallet_without_a_refund(wallet):
    spend(wallet, 10000)

    assert services.wallet_expire_due(now=after_expiry(wallet)) == 0

    wallet.refresh_from_db()
    assert (wallet.status, wallet.total) == ("closed", 0)
    assert Refund.objects.count() == 0 and WithdrawalRequest.objects.count() == 0


# --- audit records -------------------------------------------------------------------------


def test_merchant_actions_on_money_are_audited_with_the_acting_user(campaign, staff, wallet):
    now = timezone.now()
    created = campaign_create(store=campaign.store, actor=staff, name="pay 50 get 60", pay_amount=5000,
                              credit_amount=6000, starts_at=now, ends_at=now + timedelta(days=1),
                              valid_until=now + timedelta(days=2))
    campaign_end(campaign=created, actor=staff)
    spend(wallet, 1000)
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)
    services.withdrawal_retention_message(request=request, actor=staff, message="10% off next week")
    services.withdrawal_refund(request=request, actor=staff)

    records = AuditRecord.objects.order_by("pk")
    assert [(r.action, r.actor_id, r.store_id) for r in records] == [
        ("campaign_create", staff.pk, campaign.store_id),
        ("campaign_end", staff.pk, campaign.store_id),
        ("retention_message", staff.pk, campaign.store_id),
        ("withdrawal_refund", staff.pk, campaign.store_id),
    ]
    assert (records.last().target_id, records.last().amount) == (str(request.pk), 7200)
    assert records.get(action="retention_message").details["message"] == "10% off next week"


def test_consumer_actions_write_no_audit_records(wallet):
    spend(wallet, 1000)
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)
    services.withdrawal_cancel(request=request, actor=wallet.consumer.user)
    assert AuditRecord.objects.count() == 0


# --- side effects after commit ---------------------------------------------------------------


def test_a_refund_is_paid_out_and_mailed_only_after_commit(wallet, staff, django_capture_on_commit_callbacks):
    spend(wallet, 1000)
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.withdrawal_refund(request=request, actor=staff)
        assert Refund.objects.get().payout_status == "processing"  # nothing paid inside the transaction

    assert len(callbacks) == 2  # the payout and the e-mail
    assert Refund.objects.get().payout_status == "succeeded"
    assert [m.to for m in mail.outbox] == [[wallet.consumer.user.email]]


def test_nothing_is_enqueued_when_the_transaction_rolls_back(wallet, staff, django_capture_on_commit_callbacks):
    spend(wallet, 1000)
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                services.withdrawal_refund(request=request, actor=staff)
                raise RuntimeError("the caller's transaction fails after the refund")

    assert callbacks == []
    assert mail.outbox == []
    request.refresh_from_db()
    wallet.refresh_from_db()
    assert (request.status, wallet.status, Refund.objects.count()) == ("pending", "frozen", 0)
