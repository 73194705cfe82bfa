"""One test per row of SPEC §8: the happy path, with the exact fields and formats of the answer."""
import re


from allowance.models import Wallet
from refunds.services import withdrawal_request
from tests.api.conftest import client_for

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+|-)\d\d:\d\d$")
WALLET_FIELDS = {"id", "store", "campaign", "principal", "bonus", "total", "paid", "credited", "status",
                 "valid_until", "consumed", "open_withdrawal"}
REQUEST_FIELDS = {"id", "wallet", "status", "resolution", "principal", "bonus_lapsed", "requested_at", "due_at",
                  "resolved_at", "retention_messages", "refund"}
CAMPAIGN_FIELDS = {"id", "store", "name", "pay_amount", "credit_amount", "bonus_amount", "starts_at", "ends_at",
                   "valid_until", "per_consumer_limit", "remaining_stock"}


def assert_time(value):
    assert ISO_WITH_OFFSET.match(value), value


def test_registering_a_consumer_answers_201_with_the_account_name(db):
    response = client_for().post("/api/v1/consumers/register/",
                                 {"account_name": "Carol", "password": "a long passphrase", "email": "c@example.com"},
                                 format="json")
    assert response.status_code == 201
    assert response.json() == {"account_name": "Carol"}


def test_a_token_is_given_for_the_account_name_in_any_letter_case(world):
    world.alice.user.set_password("alice-secret-1")
    world.alice.user.save()
    response = client_for().post("/api/v1/auth/token/", {"username": "ALICE", "password": "alice-secret-1"},
                                 format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    wallets = client_for().get("/api/v1/wallets/", HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert wallets.status_code == 200


def test_stores_are_listed_with_id_and_name(world, alice_api):
    response = alice_api.get("/api/v1/stores/")
    assert response.status_code == 200
    assert {"id": world.store.pk, "name": world.store.name} in response.json()
    assert all(set(s) == {"id", "name"} for s in response.json())


def test_active_campaigns_of_a_store_are_listed_with_amounts_in_yuan(world, alice_api):
    response = alice_api.get(f"/api/v1/campaigns/?store={world.store.pk}")
    assert response.status_code == 200
    [campaign] = response.json()
    assert set(campaign) == CAMPAIGN_FIELDS
    assert campaign["store"] == world.store.pk
    assert (campaign["pay_amount"], campaign["credit_amount"], campaign["bonus_amount"]) == ("80.00", "100.00", "20.00")
    assert campaign["remaining_stock"] == 100 and campaign["per_consumer_limit"] == 5
    for field in ("starts_at", "ends_at", "valid_until"):
        assert_time(campaign[field])


def test_buying_a_campaign_answers_201_with_the_topped_up_wallet(world, alice_api):
    response = alice_api.post(f"/api/v1/campaigns/{world.campaign.pk}/purchase/")
    assert response.status_code == 201
    wallet = response.json()
    assert set(wallet) == WALLET_FIELDS
    assert wallet["store"] == {"id": world.store.pk, "name": world.store.name}
    assert wallet["campaign"] == {"id": world.campaign.pk, "name": "pay 80 get 100"}
    assert (wallet["principal"], wallet["bonus"], wallet["total"]) == ("80.00", "20.00", "100.00")
    assert (wallet["paid"], wallet["credited"]) == ("80.00", "100.00")
    assert wallet["status"] == "active" and wallet["consumed"] is False and wallet["open_withdrawal"] is None
    assert_time(wallet["valid_until"])


def test_my_allowance_lists_my_wallets_with_a_total_count(world, alice_api, spent):
    response = alice_api.get("/api/v1/wallets/")
    assert response.status_code == 200
    assert response["X-Total-Count"] == "1"
    [wallet] = response.json()
    assert (wallet["principal"], wallet["bonus"], wallet["total"], wallet["consumed"]) == ("72.00", "18.00", "90.00", True)


def test_one_wallet_is_shown_by_id(world, alice_api, bought):
    response = alice_api.get(f"/api/v1/wallets/{bought.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == bought.pk and set(response.json()) == WALLET_FIELDS


def test_wallet_entries_show_signed_deltas_and_their_reference(world, alice_api, spent, bought):
    response = alice_api.get(f"/api/v1/wallets/{bought.pk}/entries/")
    assert response.status_code == 200
    assert response["X-Total-Count"] == "2"
    spend, top_up = response.json()
    assert set(spend) == {"kind", "principal_delta", "bonus_delta", "created_at", "reference"}
    assert (spend["kind"], spend["principal_delta"], spend["bonus_delta"], spend["reference"]) == (
        "spend", "-8.00", "-2.00", "order:A-1")
    assert (top_up["kind"], top_up["principal_delta"], top_up["bonus_delta"]) == ("top_up", "80.00", "20.00")
    assert top_up["reference"].startswith("payment:")
    assert_time(spend["created_at"])


def test_withdrawal_preview_of_a_spent_wallet_says_held_with_a_due_time(world, alice_api, spent, bought):
    response = alice_api.get(f"/api/v1/wallets/{bought.pk}/withdrawal-preview/")
    assert response.status_code == 200
    preview = response.json()
    assert set(preview) == {"principal", "bonus_lapsed", "instant", "due_at"}
    assert (preview["principal"], preview["bonus_lapsed"], preview["instant"]) == ("72.00", "18.00", False)
    assert_time(preview["due_at"])


def test_withdrawing_an_unspent_wallet_refunds_it_at_once(world, alice_api, bought):
    response = alice_api.post(f"/api/v1/wallets/{bought.pk}/withdrawals/")
    assert response.status_code == 201
    request = response.json()
    assert set(request) == REQUEST_FIELDS
    assert (request["status"], request["resolution"], request["principal"], request["bonus_lapsed"]) == (
        "refunded", "instant", "80.00", "20.00")
    assert request["wallet"] == bought.pk and request["due_at"] is None
    assert request["refund"]["amount"] == "80.00"
    assert request["refund"]["payout_status"] in {"processing", "succeeded", "needs_attention"}
    assert_time(request["requested_at"]) or assert_time(request["resolved_at"])
    bought.refresh_from_db()
    assert bought.status == Wallet.Status.CLOSED


def test_withdrawing_a_spent_wallet_holds_it_and_shows_it_on_the_wallet(world, alice_api, spent, bought):
    response = alice_api.post(f"/api/v1/wallets/{bought.pk}/withdrawals/")
    assert response.status_code == 201
    request = response.json()
    assert (request["status"], request["resolution"], request["refund"], request["resolved_at"]) == (
        "pending", None, None, None)
    assert_time(request["due_at"])
    wallet = alice_api.get(f"/api/v1/wallets/{bought.pk}/").json()
    assert wallet["status"] == "frozen" and wallet["open_withdrawal"]["id"] == request["id"]


def test_my_withdrawals_are_listed_and_shown_by_id(world, alice_api, spent, bought):
    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    listed = alice_api.get("/api/v1/withdrawals/")
    assert listed.status_code == 200 and listed["X-Total-Count"] == "1"
    assert [r["id"] for r in listed.json()] == [request.pk]
    shown = alice_api.get(f"/api/v1/withdrawals/{request.pk}/")
    assert shown.status_code == 200 and set(shown.json()) == REQUEST_FIELDS


def test_cancelling_a_pending_request_makes_the_wallet_active_again(world, alice_api, spent, bought):
    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    response = alice_api.post(f"/api/v1/withdrawals/{request.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert_time(response.json()["resolved_at"])
    bought.refresh_from_db()
    assert bought.status == Wallet.Status.ACTIVE


def test_cancelling_after_a_retention_message_ends_as_retained(world, alice_api, staff_api, spent, bought):
    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    staff_api.post(f"/api/v1/merchant/withdrawals/{request.pk}/retention/", {"message": "Stay?"}, format="json")
    response = alice_api.post(f"/api/v1/withdrawals/{request.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "retained"
    assert [m["message"] for m in response.json()["retention_messages"]] == ["Stay?"]


def test_paying_an_order_answers_201_with_what_each_wallet_gave(world, alice_api, bought):
    response = alice_api.post("/api/v1/orders/", {"store": world.store.pk, "order_ref": "A-9", "amount": "10"},
                              format="json")
    assert response.status_code == 201
    order = response.json()
    assert set(order) == {"id", "store", "order_ref", "amount", "returned_amount", "allocations"}
    assert (order["store"], order["order_ref"], order["amount"]) == (world.store.pk, "A-9", "10.00")
    assert order["allocations"] == [{"wallet": bought.pk, "principal": "8.00", "bonus": "2.00"}]


def test_returning_an_order_gives_the_amount_back_by_default_all_of_it(world, alice_api, spent, bought):
    partial = alice_api.post(f"/api/v1/orders/{spent.pk}/return/", {"amount": 4}, format="json")
    assert partial.status_code == 200 and partial.json()["returned_amount"] == "4.00"
    rest = alice_api.post(f"/api/v1/orders/{spent.pk}/return/")
    assert rest.status_code == 200 and rest.json()["returned_amount"] == "10.00"
    bought.refresh_from_db()
    assert (bought.principal, bought.bonus) == (8000, 2000)


def test_merchant_staff_create_and_list_their_campaigns(world, staff_api):
    response = staff_api.post("/api/v1/merchant/campaigns/", {
        "store": world.store.pk, "name": "pay 100 get 110", "pay_amount": "100", "credit_amount": 110.0,
        "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2030-01-01T00:00:00+08:00",
        "valid_until": "2031-01-01T00:00:00+08:00", "stock": 10,
    }, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert set(created) == CAMPAIGN_FIELDS | {"stock", "sold_count", "state", "ended_at"}
    assert (created["pay_amount"], created["credit_amount"], created["bonus_amount"]) == ("100.00", "110.00", "10.00")
    assert created["starts_at"] == "2026-01-01T00:00:00+08:00"
    active = staff_api.get("/api/v1/merchant/campaigns/?state=active")
    assert active.status_code == 200
    assert {c["id"] for c in active.json()} == {world.campaign.pk, created["id"]}
    assert staff_api.get("/api/v1/merchant/campaigns/?state=history").json() == []


def test_ending_a_campaign_moves_it_to_history(world, staff_api):
    response = staff_api.post(f"/api/v1/merchant/campaigns/{world.campaign.pk}/end/")
    assert response.status_code == 200
    assert response.json()["state"] == "history"
    assert_time(response.json()["ended_at"])
    assert [c["id"] for c in staff_api.get("/api/v1/merchant/campaigns/?state=history").json()] == [world.campaign.pk]


def test_merchant_finds_a_consumer_by_account_name_exact_or_by_prefix(world, staff_api, bought):
    exact = staff_api.get("/api/v1/merchant/users/?account_name=aLiCe")
    assert exact.status_code == 200
    [row] = exact.json()
    assert row["account_name"] == "Alice"
    assert [w["id"] for w in row["wallets"]] == [bought.pk]
    assert staff_api.get("/api/v1/merchant/users/?account_name=ali").json() == []
    assert [r["account_name"] for r in staff_api.get("/api/v1/merchant/users/?account_name=ali&prefix=true").json()] == ["Alice"]


def test_merchant_lists_pending_requests_soonest_due_first_with_account_name(world, staff_api, spent, bought):
    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    response = staff_api.get("/api/v1/merchant/withdrawals/?status=pending")
    assert response.status_code == 200 and response["X-Total-Count"] == "1"
    [row] = response.json()
    assert set(row) == REQUEST_FIELDS | {"account_name"}
    assert (row["id"], row["account_name"]) == (request.pk, "Alice")


def test_merchant_refunds_a_pending_request_now(world, staff_api, spent, bought):
    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    response = staff_api.post(f"/api/v1/merchant/withdrawals/{request.pk}/refund/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["resolution"], body["principal"], body["bonus_lapsed"]) == (
        "refunded", "merchant", "72.00", "18.00")
    assert body["refund"]["amount"] == "72.00"


def test_merchant_sends_a_retention_message(world, staff_api, spent, bought):
    request = withdrawal_request(wallet=bought, actor=world.alice.user)
    response = staff_api.post(f"/api/v1/merchant/withdrawals/{request.pk}/retention/",
                              {"message": "Keep it for a coupon?"}, format="json")
    assert response.status_code == 201
    assert set(response.json()) == {"message", "created_at"}
    assert request.retention_messages.get().message == "Keep it for a coupon?"


def test_merchant_summary_adds_up_the_store(world, staff_api, spent, bought):
    withdrawal_request(wallet=bought, actor=world.alice.user)
    response = staff_api.get(f"/api/v1/merchant/summary/?store={world.store.pk}")
    assert response.status_code == 200
    assert response.json() == {"outstanding_principal": "72.00", "outstanding_bonus": "18.00", "pending_count": 1,
                               "pending_principal": "72.00", "due_within_48h": 1}


def test_schema_and_docs_are_served_without_a_cdn(db):
    schema = client_for().get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/wallets/{id}/withdrawal-preview/" in paths and "/api/v1/merchant/summary/" in paths
    docs = client_for().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html
