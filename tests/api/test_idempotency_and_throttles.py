"""Idempotency-Key on money-moving POSTs, and the login and money throttles."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.models import IdempotencyKey
from allowance.models import LedgerEntry, Order, Payment, Wallet
from allowance.services import campaign_purchase
from core.tasks import idempotency_keys_purge
from refunds.models import Refund, WithdrawalRequest
from tests.api.conftest import client_for
from tests.factories import CampaignFactory, ConsumerFactory


def test_a_replayed_purchase_returns_the_first_answer_and_buys_once(world, alice_api):
    first = alice_api.post(f"/api/v1/campaigns/{world.campaign.pk}/purchase/", HTTP_IDEMPOTENCY_KEY="buy-1")
    again = alice_api.post(f"/api/v1/campaigns/{world.campaign.pk}/purchase/", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Payment.objects.count() == 1
    assert Wallet.objects.get().total == 10000


def test_a_replayed_order_returns_the_first_answer_and_charges_once(world, alice_api, bought):
    body = {"store": world.store.pk, "order_ref": "R-1", "amount": "10.00"}
    first = alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    again = alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    bought.refresh_from_db()
    assert bought.total == 9000 and Order.objects.count() == 1


def test_a_failed_answer_is_replayed_too(world, alice_api, bought):
    body = {"store": world.store.pk, "order_ref": "R-1", "amount": "500"}
    first = alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    campaign_purchase(campaign=world.campaign, consumer=world.alice)
    campaign_purchase(campaign=world.campaign, consumer=world.alice)
    campaign_purchase(campaign=world.campaign, consumer=world.alice)
    campaign_purchase(campaign=world.campaign, consumer=world.alice)
    again = alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == again.status_code == 409 and first.json() == again.json()
    assert not Order.objects.exists()


def test_the_same_key_with_another_body_is_a_422(world, alice_api, bought):
    alice_api.post("/api/v1/orders/", {"store": world.store.pk, "order_ref": "R-1", "amount": "1"}, format="json",
                   HTTP_IDEMPOTENCY_KEY="k")
    other = alice_api.post("/api/v1/orders/", {"store": world.store.pk, "order_ref": "R-1", "amount": "2"},
                           format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    elsewhere = alice_api.post(f"/api/v1/campaigns/{world.campaign.pk}/purchase/", HTTP_IDEMPOTENCY_KEY="k")
    assert elsewhere.status_code == 422
    bought.refresh_from_db()
    assert bought.total == 9900 and Payment.objects.count() == 1


def test_keys_belong_to_one_user(world, alice_api, bought):
    campaign_purchase(campaign=world.campaign, consumer=world.bob)
    body = {"store": world.store.pk, "order_ref": "R-1", "amount": "1"}
    assert alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    bob = client_for(world.bob.user).post("/api/v1/orders/", {**body, "order_ref": "R-2"}, format="json",
                                          HTTP_IDEMPOTENCY_KEY="k")
    assert bob.status_code == 201 and bob.json()["order_ref"] == "R-2"


def test_an_expired_key_acts_again(world, alice_api, bought):
    body = {"store": world.store.pk, "order_ref": "R-1", "amount": "1"}
    alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 409 and again.json()["code"] == "order_ref_taken"


def test_the_hourly_purge_forgets_only_expired_keys(world, alice_api, bought):
    body = {"store": world.store.pk, "order_ref": "R-1", "amount": "1"}
    alice_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    alice_api.post("/api/v1/orders/", {**body, "order_ref": "R-2"}, format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert idempotency_keys_purge.delay().get() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ"])
def test_a_malformed_key_is_a_400(world, alice_api, key):
    response = alice_api.post(f"/api/v1/campaigns/{world.campaign.pk}/purchase/", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and not Payment.objects.exists()


def test_every_money_moving_post_replays(world, alice_api, staff_api, spent, bought):
    """Withdrawal, cancel, return, merchant refund and retention: a replay gives the same answer, one effect."""
    second = campaign_purchase(campaign=world.other_campaign, consumer=world.alice)
    calls = [
        (alice_api, f"/api/v1/wallets/{bought.pk}/withdrawals/", {}),
        (staff_api, "/api/v1/merchant/withdrawals/{request}/retention/", {"message": "Stay?"}),
        (alice_api, "/api/v1/withdrawals/{request}/cancel/", {}),
        (alice_api, f"/api/v1/orders/{spent.pk}/return/", {"amount": "1"}),
        (alice_api, f"/api/v1/wallets/{bought.pk}/withdrawals/", {}),
        (staff_api, "/api/v1/merchant/withdrawals/{request}/refund/", {}),
        (alice_api, f"/api/v1/wallets/{second.pk}/withdrawals/", {}),
    ]
    request_id = None
    for n, (client, url, body) in enumerate(calls):
        url = url.format(request=request_id)
        first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{n}")
        entries = LedgerEntry.objects.count()
        again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{n}")
        assert first.status_code in (200, 201), (url, first.content)
        assert (again.status_code, again.json()) == (first.status_code, first.json()), url
        assert LedgerEntry.objects.count() == entries
        if "withdrawals/" in url and url.startswith("/api/v1/wallets/"):
            request_id = first.json()["id"]
    assert WithdrawalRequest.objects.filter(status="refunded").count() == 2
    assert Refund.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_requests_with_one_key_act_once():
    # Given a consumer holding 100.00 of allowance
    campaign = CampaignFactory()
    consumer = ConsumerFactory()
    campaign_purchase(campaign=campaign, consumer=consumer)
    body = {"store": campaign.store_id, "order_ref": "RACE-1", "amount": "10.00"}
    barrier, answers = threading.Barrier(8), []

    def pay():
        try:
            client = client_for(consumer.user)
            barrier.wait()
            response = client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="race")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    # When eight requests with one key arrive at once
    threads = [threading.Thread(target=pay) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then the order was paid once and every request got that one answer
    assert len(answers) == 8
    assert {status for status, _ in answers} == {201}
    assert all(body == answers[0][1] for _, body in answers)
    assert Order.objects.count() == 1
    wallet = Wallet.objects.get()
    assert wallet.total == 9000 and LedgerEntry.objects.filter(kind="spend").count() == 1


@pytest.fixture(autouse=True)
def empty_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_logging_in_too_often_with_one_account_name_is_a_429_with_retry_after(world, monkeypatch):
    from core.api.base import LoginThrottle

    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/min"})
    answers = [
        client_for().post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json",
                          REMOTE_ADDR=f"10.0.0.{n}")
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and answers[-1].json()["detail"]
    other_name = client_for().post("/api/v1/auth/token/", {"username": "bob", "password": "wrong"}, format="json",
                                   REMOTE_ADDR="10.0.1.1")
    assert other_name.status_code == 400


def test_logging_in_too_often_from_one_address_is_a_429(world, monkeypatch):
    from core.api.base import LoginThrottle

    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/min"})
    codes = [client_for().post("/api/v1/auth/token/", {"username": f"name{n}", "password": "x"}, format="json",
                               REMOTE_ADDR="10.9.9.9").status_code for n in range(4)]
    assert codes == [400, 400, 400, 429]


def test_money_posts_beyond_the_rate_are_a_429_and_do_nothing(world, alice_api, bought, monkeypatch):
    from core.api.base import MoneyThrottle

    monkeypatch.setattr(MoneyThrottle, "THROTTLE_RATES", {"money": "2/min"})
    codes = [alice_api.post("/api/v1/orders/", {"store": world.store.pk, "order_ref": f"T-{n}", "amount": "1"},
                            format="json").status_code for n in range(3)]
    assert codes == [201, 201, 429]
    assert Order.objects.count() == 2
    assert alice_api.get("/api/v1/wallets/").status_code == 200


def test_a_very_long_account_name_counts_under_a_short_cache_key(world):
    import warnings

    from django.core.cache import CacheKeyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)  # memcached and friends refuse keys over 250 characters
        response = client_for().post("/api/v1/auth/token/", {"username": "字" * 5000, "password": "x"}, format="json")
    assert response.status_code == 400 and "token" not in response.json()
