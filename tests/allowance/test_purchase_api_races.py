"""The purchase API under a flash sale, with real threads on PostgreSQL: every buyer's Idempotency-Key keeps
exactly the answer they got, a sale lost at the stock take leaves neither the sale nor its answer, and one key
sent many times at once buys once (docs/perf.md, the flash sale)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from allowance import locks
from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import LedgerEntry, Payment, Wallet
from allowance.services import campaign_purchase
from core.models import IdempotencyKey
from tests.allowance.threads import run_together
from tests.api.conftest import client_for
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

URL = "/api/v1/campaigns/{}/purchase/"


def _buy(consumer, campaign, key):
    response = client_for(consumer.user).post(URL.format(campaign.pk), {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    return response.status_code, response.json(), response.get("Idempotent-Replayed")


def _together(calls):
    """Run the calls in threads that start at one instant, each on its own connection; what each returned or
    raised, in order."""
    return [value for _, value in run_together(*calls)]


def _stored(consumer, key):
    row = IdempotencyKey.objects.get(user=consumer.user, key=key)
    return row.status_code, row.response_body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_buyers_racing_for_the_last_units_keep_exactly_the_answer_they_got():
    # given: 3 units and 8 buyers posting at the same instant, each with a key
    campaign = CampaignFactory(stock=3, per_consumer_limit=1)
    buyers = [ConsumerFactory() for _ in range(8)]

    answers = _together([(lambda b=b: _buy(b, campaign, f"flash-{b.pk}")) for b in buyers])

    # then: three sales, five clear refusals, nothing else
    statuses = sorted(a[0] for a in answers)
    assert statuses == [201] * 3 + [409] * 5, answers
    assert all(a[1]["code"] == "out_of_stock" for a in answers if a[0] == 409)
    campaign.refresh_from_db()
    assert campaign.sold_count == Payment.objects.count() == Wallet.objects.count() == 3
    # and: each key stores the answer its buyer got, each sale's wallet is the buyer's, and a retry replays it
    for buyer, (status, body, _) in zip(buyers, answers):
        assert _stored(buyer, f"flash-{buyer.pk}") == (status, body)
        if status == 201:
            assert Wallet.objects.get(pk=body["id"]).consumer_id == buyer.pk
        else:
            assert not Wallet.objects.filter(consumer=buyer).exists()
        assert _buy(buyer, campaign, f"flash-{buyer.pk}") == (status, body, "true")
    assert reconcile_findings() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sale_lost_at_the_stock_take_leaves_neither_the_sale_nor_its_answer(monkeypatch):
    # given: one unit left; Alice's purchase has written her wallet, payment and entry (and may have stored her
    # answer) when Bob buys the last unit and commits, just before Alice's stock take
    campaign = CampaignFactory(stock=1, per_consumer_limit=1)
    alice, bob = ConsumerFactory(), ConsumerFactory()
    take = locks.campaign_stock_take
    bob_answer = []

    def bob_first(**kwargs):
        if not bob_answer:
            bob_answer.append(None)  # Bob's own stock take, in his thread, goes straight through
            bob_answer[0] = _together([lambda: _buy(bob, campaign, "bob-1")])[0]
        return take(**kwargs)

    monkeypatch.setattr(locks, "campaign_stock_take", bob_first)

    status, body, _ = _buy(alice, campaign, "alice-1")

    # then: Bob has the unit; Alice was refused and nothing of her purchase is left, her answer included
    assert bob_answer[0][0] == 201
    assert (status, body["code"]) == (409, "out_of_stock")
    assert not Wallet.objects.filter(consumer=alice).exists()
    assert not Payment.objects.filter(consumer=alice).exists()
    assert LedgerEntry.objects.count() == 1
    campaign.refresh_from_db()
    assert campaign.sold_count == 1
    # and: her key keeps the refusal she got, and a retry replays it rather than selling
    assert _stored(alice, "alice-1") == (status, body)
    monkeypatch.setattr(locks, "campaign_stock_take", take)
    assert _buy(alice, campaign, "alice-1") == (status, body, "true")
    assert reconcile_findings() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_key_sent_six_times_at_once_buys_once():
    # given: a buyer allowed 5 purchases whose app sends one purchase six times at once with one key
    campaign = CampaignFactory(stock=100, per_consumer_limit=5)
    buyer = ConsumerFactory()

    answers = _together([lambda: _buy(buyer, campaign, "twice")] * 6)

    # then: one purchase; all six got its answer, five of them as replays
    assert {(a[0], a[1]["id"]) for a in answers} == {(201, answers[0][1]["id"])}
    assert all(a[1] == answers[0][1] for a in answers)
    assert sorted(str(a[2]) for a in answers) == ["None"] + ["true"] * 5
    assert Payment.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert Wallet.objects.get().paid == 8000
    assert reconcile_findings() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_six_keys_of_one_buyer_at_once_stop_at_their_limit():
    # given: a limit of 2, and one buyer sending six purchases with six keys at once
    campaign = CampaignFactory(stock=100, per_consumer_limit=2)
    buyer = ConsumerFactory()

    answers = _together([(lambda i=i: _buy(buyer, campaign, f"k{i}")) for i in range(6)])

    # then: two sales into one wallet, four refusals; each key stores its own answer
    assert sorted(a[0] for a in answers) == [201, 201, 409, 409, 409, 409]
    assert {a[1]["code"] for a in answers if a[0] == 409} == {"purchase_limit_reached"}
    wallet = Wallet.objects.get()
    assert (wallet.paid, wallet.total) == (16000, 20000)
    for i, (status, body, _) in enumerate(answers):
        assert _stored(buyer, f"k{i}") == (status, body)
    assert reconcile_findings() == []


def test_a_key_that_bought_replays_its_sale_after_the_campaign_sold_out(db):
    campaign = CampaignFactory(stock=1)
    alice, bob = ConsumerFactory(), ConsumerFactory()
    first = _buy(alice, campaign, "k")
    assert first[0] == 201
    assert _buy(bob, campaign, "k")[:2] == (409, {"detail": "This campaign is sold out.", "code": "out_of_stock"})
    assert _buy(alice, campaign, "k") == (201, first[1], "true")
    assert Payment.objects.count() == 1


def test_a_refusal_is_replayed_and_its_key_is_reused_only_with_the_same_body(db):
    campaign = CampaignFactory(stock=1)
    campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
    alice = ConsumerFactory()
    first = _buy(alice, campaign, "k")
    assert first[:2] == (409, {"detail": "This campaign is sold out.", "code": "out_of_stock"})
    assert first[2] is None
    assert _buy(alice, campaign, "k") == (*first[:2], "true")
    other = client_for(alice.user).post(URL.format(campaign.pk), {"x": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_an_expired_refusal_is_answered_afresh(db):
    campaign = CampaignFactory(stock=1)
    alice = ConsumerFactory()
    client_for(alice.user).post(URL.format(campaign.pk), {"x": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert _stored(alice, "k")[0] == 400
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert _buy(alice, campaign, "k")[0] == 201
    assert _stored(alice, "k")[0] == 201


def test_refusals_keep_their_order_body_then_consumer_then_campaign_then_sale(db):
    campaign = CampaignFactory(stock=1)
    campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
    staff = client_for(StaffFactory(store=campaign.store).user)
    alice = client_for(ConsumerFactory().user)
    for client, url, body, expected in [
        (staff, URL.format(campaign.pk), {"x": 1}, 400),
        (staff, URL.format(campaign.pk), {}, 403),
        (staff, URL.format(campaign.pk + 1000), {}, 403),
        (alice, URL.format(campaign.pk + 1000), {}, 404),
        (alice, URL.format(10**19 - 1), {}, 404),
        (alice, URL.format(campaign.pk), {}, 409),
    ]:
        for key in (None, f"key-{expected}-{url}"):
            headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
            assert client.post(url, body, format="json", **headers).status_code == expected, (url, body, key)


def test_the_purchase_answer_is_the_wallet_as_read_back_whether_opened_or_topped_up(db):
    campaign = CampaignFactory(stock=10, per_consumer_limit=3)
    alice = ConsumerFactory()
    client = client_for(alice.user)
    for n in range(3):
        bought = client.post(URL.format(campaign.pk), {}, format="json", HTTP_IDEMPOTENCY_KEY=f"b{n}")
        assert bought.status_code == 201
        assert bought.json() == client.get(f"/api/v1/wallets/{bought.json()['id']}/").json()
        assert bought.json()["paid"] == f"{80 * (n + 1)}.00"


def test_a_topped_up_wallet_with_a_pending_request_cannot_be_bought_into(db):
    campaign = CampaignFactory(stock=10, per_consumer_limit=3)
    alice = ConsumerFactory()
    client = client_for(alice.user)
    wallet = client.post(URL.format(campaign.pk), {}, format="json").json()
    store = campaign.store
    assert client.post("/api/v1/orders/", {"store": store.pk, "order_ref": "o1", "amount": "1.00"},
                       format="json").status_code == 201
    assert client.post(f"/api/v1/wallets/{wallet['id']}/withdrawals/", {}, format="json").status_code == 201
    refused = client.post(URL.format(campaign.pk), {}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "wallet_frozen"
    assert Payment.objects.count() == 1


def test_the_purchase_read_gives_the_campaign_as_the_orm_reads_it(db):
    from allowance.models import Campaign
    from allowance.selectors import campaign_for_purchase

    campaign = CampaignFactory(stock=7)
    alice = ConsumerFactory()
    read, consumer = campaign_for_purchase(pk=campaign.pk, user=alice.user)
    orm = Campaign.objects.get(pk=campaign.pk)
    assert all(getattr(read, f.attname) == getattr(orm, f.attname) for f in Campaign._meta.concrete_fields)
    assert (read.store.pk, read.store.name) == (orm.store.pk, orm.store.name)
    assert (consumer.pk, consumer.user) == (alice.pk, alice.user)
    assert campaign_for_purchase(pk=campaign.pk, user=StaffFactory(store=campaign.store).user)[1] is None
    assert campaign_for_purchase(pk=campaign.pk + 1000, user=alice.user) == (None, alice)
