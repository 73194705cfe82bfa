"""core/db.py: the sandbox's books on `gateway` and nothing else there; lagging reads on the replica, every write
and every other read on the primary; the streaming alias falls back replica → stream → default."""
import pytest

from allowance.models import Payment, Wallet
from core.db import DatabaseRouter, lagging_alias, lagging_reads, stream_alias
from core.models import IdempotencyKey, SandboxPayout
from refunds.models import Refund

router = DatabaseRouter()


def test_the_sandbox_books_read_and_write_on_the_gateway_and_nothing_else_does():
    assert router.db_for_read(SandboxPayout) == router.db_for_write(SandboxPayout) == "gateway"
    assert router.db_for_read(IdempotencyKey) == router.db_for_write(Refund) == "default"


def test_inside_lagging_reads_reads_go_to_the_replica_and_writes_still_to_the_primary():
    with lagging_reads("replica"):
        assert router.db_for_read(Wallet) == "replica"
        assert router.db_for_write(Wallet) == "default"  # never back to the alias a row was read from
        assert router.db_for_read(SandboxPayout) == "gateway"
    assert router.db_for_read(Wallet) == "default"


def test_migrations_put_only_the_sandbox_on_the_gateway_and_nothing_on_the_replica_or_stream():
    assert router.allow_migrate("gateway", "core", "sandboxpayout")
    assert router.allow_migrate("gateway", "refunds", "sandboxpayout")  # its table was created by refunds.0002
    assert not router.allow_migrate("gateway", "refunds", "refund")
    assert not router.allow_migrate("gateway", "allowance")  # RunPython / RunSQL without a model: not there
    assert not router.allow_migrate("default", "core", "sandboxpayout")
    assert router.allow_migrate("default", "allowance", "wallet")
    assert not router.allow_migrate("replica", "allowance", "wallet")
    assert not router.allow_migrate("stream", "allowance", "wallet")


@pytest.mark.parametrize("configured, lagging, streaming", [
    ((), "default", "default"),
    (("stream",), "default", "stream"),
    (("replica",), "replica", "replica"),
    (("replica", "stream"), "replica", "replica"),
])
def test_where_lagging_and_streaming_reads_go_for_each_configuration(monkeypatch, configured, lagging, streaming):
    # Which optional aliases DATABASES has (the settings read DATABASE_REPLICA_URL / DATABASE_STREAM_URL once).
    monkeypatch.setattr("core.db._configured", lambda alias: alias in configured)
    assert (lagging_alias(), stream_alias()) == (lagging, streaming)


@pytest.mark.django_db
def test_a_payout_the_refund_transaction_rolls_back_stays_in_the_gateway_books(consumer, campaign):
    """The provider's books commit on their own: a failover (here a rollback) of ours does not undo them."""
    from django.db import transaction

    from allowance.services import campaign_purchase
    from core.gateway import get_gateway

    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    payment = Payment.objects.get(wallet=wallet)
    with pytest.raises(RuntimeError), transaction.atomic():
        get_gateway().payout(key="rolled-back-with-ours", payment_reference=payment.gateway_reference, amount=100)
        raise RuntimeError("the money database loses this transaction")
    assert SandboxPayout.objects.filter(key="rolled-back-with-ours").exists()
