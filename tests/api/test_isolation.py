"""Isolation matrix (SPEC §7): for every endpoint that takes an id, every role but the owner gets 404
(anonymous: 401) and nothing changes."""
import pytest

from allowance.models import AuditRecord, Campaign, LedgerEntry, Order, Wallet
from refunds.models import RetentionMessage, WithdrawalRequest
from refunds.services import withdrawal_request
from tests.api.conftest import client_for


def snapshot():
    return {
        "wallets": list(Wallet.objects.order_by("pk").values_list("pk", "principal", "bonus", "status")),
        "requests": list(WithdrawalRequest.objects.order_by("pk").values_list("pk", "status")),
        "entries": LedgerEntry.objects.count(),
        "orders": list(Order.objects.order_by("pk").values_list("pk", "returned_amount")),
        "campaigns": list(Campaign.objects.order_by("pk").values_list("pk", "ended_at")),
        "messages": RetentionMessage.objects.count(),
        "audit": AuditRecord.objects.count(),
    }


CONSUMER_ENDPOINTS = [
    ("get", "/api/v1/wallets/{wallet}/"),
    ("get", "/api/v1/wallets/{wallet}/entries/"),
    ("get", "/api/v1/wallets/{wallet}/withdrawal-preview/"),
    ("post", "/api/v1/wallets/{wallet}/withdrawals/"),
    ("get", "/api/v1/withdrawals/{request}/"),
    ("post", "/api/v1/withdrawals/{request}/cancel/"),
    ("post", "/api/v1/orders/{order}/return/"),
]
MERCHANT_ENDPOINTS = [
    ("post", "/api/v1/merchant/campaigns/{campaign}/end/"),
    ("post", "/api/v1/merchant/withdrawals/{request}/refund/"),
    ("post", "/api/v1/merchant/withdrawals/{request}/retention/"),
]


@pytest.fixture
def owned(world, spent, bought):
    """Alice's wallet (spent from, so a withdrawal would be held), her order and her pending request.
    A second wallet of hers (in the other store) is what the withdrawal endpoint is tried on."""
    from allowance.services import campaign_purchase

    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    second = campaign_purchase(campaign=world.other_campaign, consumer=world.alice)
    return {"wallet": second.pk, "request": request.pk, "order": spent.pk, "campaign": world.campaign.pk}


def _call(client, method, url):
    body = {"message": "Stay?"} if url.endswith("retention/") else {}
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize("method,template", CONSUMER_ENDPOINTS)
@pytest.mark.parametrize("who", ["bob", "staff", "other_staff", "anonymous"])
def test_someone_elses_consumer_object_is_not_found_and_unchanged(world, owned, who, method, template):
    # Given Alice's wallet, request and order, and another role
    user = {"bob": world.bob.user, "staff": world.staff, "other_staff": world.other_staff, "anonymous": None}[who]
    before = snapshot()
    # When that role uses Alice's id
    response = _call(client_for(user), method, template.format(**owned))
    # Then it is told "not found" (or to authenticate) and nothing moved
    assert response.status_code == (401 if who == "anonymous" else 404), response.content
    assert response["Content-Type"].startswith("application/json")
    assert snapshot() == before


@pytest.mark.parametrize("method,template", MERCHANT_ENDPOINTS)
@pytest.mark.parametrize("who", ["other_staff", "alice", "bob", "anonymous"])
def test_another_stores_object_is_not_found_for_merchant_actions_and_unchanged(world, owned, who, method, template):
    user = {"other_staff": world.other_staff, "alice": world.alice.user, "bob": world.bob.user, "anonymous": None}[who]
    before = snapshot()
    response = _call(client_for(user), method, template.format(**owned))
    assert response.status_code == (401 if who == "anonymous" else 404), response.content
    assert snapshot() == before


def test_the_owner_reaches_every_one_of_those_objects(world, owned):
    alice, staff = client_for(world.alice.user), client_for(world.staff)
    for method, template in CONSUMER_ENDPOINTS[:3] + CONSUMER_ENDPOINTS[4:5]:
        assert _call(alice, method, template.format(**owned)).status_code == 200, template
    assert staff.get("/api/v1/merchant/withdrawals/?status=pending").json()[0]["id"] == owned["request"]


def test_lists_show_only_the_callers_own_or_their_stores_objects(world, owned):
    assert client_for(world.bob.user).get("/api/v1/wallets/").json() == []
    assert client_for(world.bob.user).get("/api/v1/withdrawals/").json() == []
    assert client_for(world.other_staff).get("/api/v1/merchant/withdrawals/").json() == []
    assert [c["id"] for c in client_for(world.other_staff).get("/api/v1/merchant/campaigns/").json()] == [
        world.other_campaign.pk]
    assert client_for(world.other_staff).get("/api/v1/merchant/users/?account_name=alice").json() == [
        {"account_name": "Alice", "wallets": [client_for(world.alice.user).get(f"/api/v1/wallets/{owned['wallet']}/").json()]}
    ]
    refused = client_for(world.alice.user).get("/api/v1/merchant/withdrawals/")  # not staff: refused outright
    assert refused.status_code == 403 and refused.json() == {"detail": "Only merchant staff can do this."}


def test_staff_of_another_store_cannot_see_its_summary_or_create_campaigns_there(world, owned):
    other = client_for(world.other_staff)
    assert other.get(f"/api/v1/merchant/summary/?store={world.store.pk}").status_code == 404
    before = snapshot()
    response = other.post("/api/v1/merchant/campaigns/", {
        "store": world.store.pk, "name": "x", "pay_amount": "1", "credit_amount": "2",
        "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2030-01-01T00:00:00+08:00",
        "valid_until": "2031-01-01T00:00:00+08:00"}, format="json")
    assert response.status_code == 404
    assert snapshot() == before


def test_session_writes_need_the_csrf_token(world, bought):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.alice.user)
    assert client.get(f"/api/v1/wallets/{bought.pk}/").status_code == 200
    before = snapshot()
    response = client.post(f"/api/v1/wallets/{bought.pk}/withdrawals/", {}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert snapshot() == before
