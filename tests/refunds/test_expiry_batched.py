"""SPEC §5 settlement at scale: a mass expiry closes wallets in batches like the due sweep — a constant number of
statements and one hand-off per batch, no message or email task per wallet — and emails through an outbox."""
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allowance.models import Wallet
from allowance.services import campaign_purchase, order_spend
from refunds import services
from refunds.models import Refund, WithdrawalRequest
from core.models import SandboxPayout
from refunds.notifications import withdrawal_expiry_notify_due
from tests.factories import CampaignFactory, ConsumerFactory


def expiring_wallets(count: int, *, campaign=None, spend: int = 1000) -> list[Wallet]:
    """`count` consumers who bought the campaign and spent a little (72.00 principal, 18.00 bonus left)."""
    campaign = campaign or CampaignFactory()
    wallets = []
    for n in range(count):
        consumer = ConsumerFactory()
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
        if spend:
            order_spend(consumer=consumer, store=campaign.store, order_ref=f"o-{wallet.pk}", amount=spend)
        wallets.append(wallet)
    return wallets


def after(wallets) -> timezone.datetime:
    return max(w.valid_until for w in wallets) + timedelta(seconds=1)


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_and_one_hand_off_however_many_wallets_it_closes(
    django_capture_on_commit_callbacks
):
    # Given 3 and then 30 expiring wallets
    def expire(count):
        wallets = expiring_wallets(count)
        with django_capture_on_commit_callbacks(execute=False) as callbacks, \
                CaptureQueriesContext(connection) as queries:
            closed = services.wallet_expire_due(now=after(wallets), batch_size=500)
        return closed, len(queries), len(callbacks)

    small, big = expire(3), expire(30)

    # Then each run closes its wallets with the same number of statements and one after-commit hand-off
    assert (small[0], big[0]) == (3, 30)
    assert small[1] == big[1]
    assert small[2] == big[2] == 1  # the payouts of the batch, as one message; no email task per wallet


@pytest.mark.django_db
def test_one_expiry_batch_ends_every_kind_of_wallet_the_way_the_spec_says(django_capture_on_commit_callbacks):
    # Given, in one campaign: a wallet with money, one with a pending request, one spent to zero, one withdrawn
    campaign = CampaignFactory()
    money, pending, empty = expiring_wallets(3, campaign=campaign)
    (withdrawn,) = expiring_wallets(1, campaign=campaign, spend=0)
    request = services.withdrawal_request(wallet=pending, actor=pending.consumer.user)
    order_spend(consumer=empty.consumer, store=campaign.store, order_ref="all", amount=9000)
    services.withdrawal_request(wallet=withdrawn, actor=withdrawn.consumer.user)  # unconsumed: refunded at once
    # And a wallet of a campaign still valid
    valid = expiring_wallets(1, campaign=CampaignFactory(valid_until=campaign.valid_until + timedelta(days=30)))[0]

    # When the expiry runs in batches of 2
    with django_capture_on_commit_callbacks(execute=True):
        refunded = services.wallet_expire_due(now=after([money]), batch_size=2)

    # Then the wallet with money and the pending one are refunded at expiry, the pending request itself so
    for wallet in (money, pending, empty, withdrawn, valid):
        wallet.refresh_from_db()
    request.refresh_from_db()
    assert refunded == 2
    assert (request.status, request.resolution, request.principal, request.bonus_lapsed) == (
        "refunded", "expiry", 7200, 1800)
    money_request = WithdrawalRequest.objects.get(wallet=money)
    assert (money_request.status, money_request.resolution, money_request.principal) == ("refunded", "expiry", 7200)
    assert sorted(Refund.objects.filter(kind="expiry").values_list("wallet_id", "amount")) == sorted(
        [(money.pk, 7200), (pending.pk, 7200)])
    # The empty one is closed without a request or refund; the withdrawn one keeps its instant refund only
    assert (empty.status, empty.total) == ("closed", 0) and not WithdrawalRequest.objects.filter(wallet=empty).exists()
    assert list(WithdrawalRequest.objects.filter(wallet=withdrawn).values_list("resolution", flat=True)) == ["instant"]
    # The valid one is untouched, and each expiry refund was paid out (tasks run eagerly here) exactly once
    assert (valid.status, valid.principal) == ("active", 7200)
    assert sorted(SandboxPayout.objects.values_list("amount", flat=True)) == [7200, 7200]


@pytest.mark.django_db
def test_consumers_are_emailed_about_an_expiry_once_through_the_outbox(django_capture_on_commit_callbacks):
    # Given three expired wallets, closed by the expiry job
    wallets = expiring_wallets(3)
    with django_capture_on_commit_callbacks(execute=True):
        services.wallet_expire_due(now=after(wallets))
    assert mail.outbox == []  # the batch itself sends and publishes no email

    # When the notify job runs, twice
    first, second = withdrawal_expiry_notify_due(), withdrawal_expiry_notify_due()

    # Then each consumer got one email saying their principal is being paid back
    assert (first, second) == (3, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(w.consumer.user.email for w in wallets)
    assert all("72.00" in m.body for m in mail.outbox)
    assert not WithdrawalRequest.objects.filter(consumer_notified_at=None).exists()


@pytest.mark.django_db(transaction=True)
def test_a_wallet_someone_holds_is_skipped_and_expired_by_the_next_run():
    # Given two expired wallets, one of them locked by a consumer's transaction in another thread
    wallets = expiring_wallets(2)
    held, free = wallets
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            Wallet.objects.select_for_update().get(pk=held.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    locked.wait(10)

    # When the expiry runs meanwhile, and again after the lock is gone
    first = services.wallet_expire_due(now=after(wallets))
    release.set()
    thread.join()
    second = services.wallet_expire_due(now=after(wallets))

    # Then it did not wait: the free wallet closed first, the held one on the next run, each refunded once
    assert (first, second) == (1, 1)
    assert sorted(Refund.objects.values_list("wallet_id", flat=True)) == sorted([held.pk, free.pk])


@pytest.mark.django_db(transaction=True)
def test_two_expiry_runs_at_once_refund_each_wallet_exactly_once():
    # Given 40 expired wallets
    wallets = expiring_wallets(40)
    now = after(wallets)
    counts, barrier = [], threading.Barrier(3)

    def run():
        barrier.wait()
        counts.append(services.wallet_expire_due(now=now, batch_size=7))
        connection.close()

    # When three runs race (two beats, a redelivered message)
    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then together they refunded each wallet once, with one request each
    assert sum(counts) == 40
    assert Refund.objects.count() == 40 == Refund.objects.values("wallet_id").distinct().count()
    assert WithdrawalRequest.objects.filter(resolution="expiry").count() == 40
    assert SandboxPayout.objects.count() == 40
