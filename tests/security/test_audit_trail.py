"""The audit trail: every merchant or admin money action is recorded with actor, target and amounts, and the
records (and ledger entries) cannot be changed or deleted — by the model, and on PostgreSQL by the database."""
import pytest
from django.db import DatabaseError, transaction

from allowance.models import AuditRecord, LedgerEntry
from allowance.services import campaign_end, campaign_purchase, order_spend
from refunds import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_request(campaign, consumer):
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    order_spend(consumer=consumer, store=wallet.store, order_ref="o1", amount=1000)
    return services.withdrawal_request(wallet=wallet, actor=consumer.user)


def test_merchant_money_actions_are_recorded_with_actor_target_and_amounts(pending_request, staff, campaign):
    # when merchant staff send a retention message, refund the request and end the campaign
    services.withdrawal_retention_message(request=pending_request, actor=staff, message="Stay: 10% off")
    services.withdrawal_refund(request=pending_request, actor=staff)
    campaign_end(campaign=campaign, actor=staff)
    # then each is in the audit trail, with who did it, to what, and how much
    records = list(AuditRecord.objects.order_by("pk").values_list("actor", "action", "target_type", "target_id", "amount"))
    assert records[-3:] == [
        (staff.pk, "retention_message", "withdrawalrequest", str(pending_request.pk), None),
        (staff.pk, "withdrawal_refund", "withdrawalrequest", str(pending_request.pk), 7200),
        (staff.pk, "campaign_end", "campaign", str(campaign.pk), None),
    ]
    refund = AuditRecord.objects.get(action="withdrawal_refund")
    assert refund.details["bonus_lapsed"] == 1800 and refund.store_id == campaign.store_id


def test_an_audit_record_cannot_be_saved_again(pending_request, staff):
    services.withdrawal_retention_message(request=pending_request, actor=staff, message="Stay")
    record = AuditRecord.objects.get()
    record.action = "nothing_happened"
    with pytest.raises(ValueError, match="append-only"):
        record.save()


@pytest.mark.postgres
@pytest.mark.parametrize("model", [AuditRecord, LedgerEntry])
@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_database_refuses_to_change_or_delete_audit_records_and_ledger_entries(pending_request, staff, model, statement):
    # given an audit record and ledger entries
    services.withdrawal_retention_message(request=pending_request, actor=staff, message="Stay")
    rows = model.objects.all()
    before = list(rows.order_by("pk").values())
    # when anything tries to rewrite or remove one past the model (a queryset update or delete)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            if statement == "update":
                rows.update(created_at=rows.first().created_at)
            else:
                rows.filter(pk=rows.first().pk)._raw_delete(rows.db)
    # then every row is as it was
    assert list(rows.order_by("pk").values()) == before
