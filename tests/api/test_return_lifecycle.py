"""Issue 11's three sequences, replayed through the HTTP API: returns across a wallet's whole life (SPEC §3).

1. A wallet bought again after a close, with returns on both sides of the close, must not leave more principal
   than its payments can take back (today it answers 500 and stops every scheduled refund).
2. Returns to a closed wallet give back principal on the running total: a hundred returns of 0.01 give back
   what one return of 1.00 does.
3. A return while a withdrawal is pending updates the request (and refunds it at once when the wallet is
   unconsumed again); the merchant's refund-now carries the amount they saw and gets a 409 if it changed.
"""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from allowance.models import Payment, Wallet
from refunds.models import Refund, WithdrawalRequest
from refunds.services import wallet_expire_due, withdrawal_refund_due
from tests.api.conftest import client_for
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.json()


def refunded_to(consumer) -> int:
    return sum(Refund.objects.filter(wallet__consumer=consumer).values_list("amount", flat=True))


class Shop:
    """A store with one campaign, its staff and one consumer, all speaking to the API."""

    def __init__(self, *, pay, credit, limit=2, name="Carol"):
        self.campaign = CampaignFactory(pay_amount=pay, credit_amount=credit, per_consumer_limit=limit)
        self.store = self.campaign.store
        self.staff = client_for(StaffFactory(store=self.store).user)
        self.consumer = ConsumerFactory(account_name=name)
        self.me = client_for(self.consumer.user)
        self.refs = 0

    def buy(self) -> dict:
        return ok(self.me.post(f"/api/v1/campaigns/{self.campaign.pk}/purchase/"), 201)

    def spend(self, amount: str) -> dict:
        self.refs += 1
        return ok(self.me.post("/api/v1/orders/", {"store": self.store.pk, "order_ref": f"R-{self.refs}",
                                                    "amount": amount}, format="json"), 201)

    def give_back(self, order: dict, amount: str | None = None) -> dict:
        body = {} if amount is None else {"amount": amount}
        return ok(self.me.post(f"/api/v1/orders/{order['id']}/return/", body, format="json"))

    def withdraw(self, wallet: dict) -> dict:
        return ok(self.me.post(f"/api/v1/wallets/{wallet['id']}/withdrawals/"), 201)

    def wallet(self, wallet: dict) -> dict:
        return ok(self.me.get(f"/api/v1/wallets/{wallet['id']}/"))

    def refund_now(self, request: dict, principal: str | None = None):
        body = {} if principal is None else {"principal": principal}
        return self.staff.post(f"/api/v1/merchant/withdrawals/{request['id']}/refund/", body, format="json")


def test_sequence_1_a_wallet_bought_again_after_a_close_never_owes_more_than_its_payments(db):
    # Given "pay 1 get 3", limit 2: three spends of 0.01, one returned to the open wallet, then withdrawn
    shop = Shop(pay=100, credit=300)
    first = shop.buy()
    orders = [shop.spend("0.01") for _ in range(3)]
    shop.give_back(orders[0])
    request = shop.withdraw(first)
    assert (request["status"], request["principal"], request["bonus_lapsed"]) == ("pending", "1.00", "1.98")
    assert ok(shop.refund_now(request))["refund"]["amount"] == "1.00"
    # When the consumer buys again and spends 3.00 of it
    second = shop.buy()
    assert second["id"] != first["id"], "buying after a close opens a new wallet"
    assert (second["principal"], second["bonus"], second["status"]) == ("1.00", "2.00", "active")
    assert shop.wallet(first)["status"] == "closed"
    new_order = shop.spend("3.00")
    assert [a["wallet"] for a in new_order["allocations"]] == [second["id"]]
    # and returns the orders paid before the close (their principal is back with the first payment already),
    for order in orders[1:]:
        shop.give_back(order)
    assert shop.wallet(first)["principal"] == "0.00" and refunded_to(shop.consumer) == 100
    # and returns 2.99 of the new order, then asks to withdraw
    shop.give_back(new_order, "2.99")
    assert (shop.wallet(second)["principal"], shop.wallet(second)["bonus"]) == ("1.00", "1.99")
    request = shop.withdraw(second)
    assert (request["status"], request["principal"], request["bonus_lapsed"]) == ("pending", "1.00", "1.99")
    # Then the merchant's refund-now pays the 1.00 back, to the second payment only
    body = ok(shop.refund_now(request, "1.00"))
    assert (body["status"], body["resolution"], body["refund"]["amount"]) == ("refunded", "merchant", "1.00")
    assert sorted(Payment.objects.filter(consumer=shop.consumer).values_list("wallet_id", "refunded_amount")) == [
        (first["id"], 100), (second["id"], 100)]
    # and never more than was paid, and the scheduled jobs run clean
    assert refunded_to(shop.consumer) == 200
    withdrawal_refund_due(now=timezone.now() + timedelta(days=3))
    wallet_expire_due(now=timezone.now() + timedelta(days=400))
    call_command("reconcile")


def test_sequence_2_a_hundred_returns_of_a_cent_give_back_what_one_return_of_a_yuan_does(db):
    # Given two consumers who each spent 90.00 of "pay 80 get 100" and withdrew the rest (8.00 refunded)
    one, many = Shop(pay=8000, credit=10000, name="One"), Shop(pay=8000, credit=10000, name="Many")
    orders = {}
    for shop in (one, many):
        wallet = shop.buy()
        orders[shop] = shop.spend("90.00")
        assert ok(shop.refund_now(shop.withdraw(wallet)))["principal"] == "8.00"
    # When one returns 1.00 at once and the other returns 0.01 a hundred times
    one.give_back(orders[one], "1.00")
    for _ in range(100):
        many.give_back(orders[many], "0.01")
    # Then both get back the same 0.80 of principal (the order took 72.00 principal of 90.00), the rest lapses
    assert refunded_to(one.consumer) == refunded_to(many.consumer) == 800 + 80
    # and returning the whole order in tiny pieces never gives back more than the order's principal
    for _ in range(30):
        many.give_back(orders[many], "0.03")
    many.give_back(orders[many])
    assert refunded_to(many.consumer) == 8000
    call_command("reconcile")


def test_sequence_2b_tiny_returns_to_a_closed_pay_1_get_3_never_give_back_everything(db):
    # Given "pay 1 get 3" bought twice (one wallet: paid 2.00, credited 6.00), spent whole in two orders, closed
    # at expiry
    shop = Shop(pay=100, credit=300)
    shop.buy()
    big = shop.spend("3.00")
    shop.buy()
    second_big = shop.spend("3.00")
    wallet_expire_due(now=timezone.now() + timedelta(days=400))
    # When 1.00 of each order is returned in 0.01 pieces while the rest of the goods are kept
    for _ in range(100):
        shop.give_back(big, "0.01")
        shop.give_back(second_big, "0.01")
    # Then they give back a third of what was paid, not the whole of it: each order's running total would allow
    # ceil(100 × 100 / 300) = 34 fen, but the wallet's fair share of the 2.00 now unconsumed is
    # ceil(200 × 200 / 600) = 67 fen, and no more than 0.01 of bonus may become principal (SPEC §3)
    assert refunded_to(shop.consumer) == 67
    call_command("reconcile")


def test_sequence_3_a_return_while_a_request_is_pending_updates_it_and_refunds_it_when_unconsumed(db):
    # Given a consumer who spent 50.00 of "pay 80 get 100" and asked to withdraw (40.00 pending)
    shop = Shop(pay=8000, credit=10000)
    wallet = shop.buy()
    order = shop.spend("50.00")
    request = shop.withdraw(wallet)
    assert (request["status"], request["principal"], request["bonus_lapsed"]) == ("pending", "40.00", "10.00")
    # When 10.00 of the order comes back
    shop.give_back(order, "10.00")
    # Then the request, the merchant's list and the summary show the wallet's current amounts
    assert ok(shop.me.get(f"/api/v1/withdrawals/{request['id']}/"))["principal"] == "48.00"
    [row] = ok(shop.staff.get("/api/v1/merchant/withdrawals/?status=pending"))
    assert (row["principal"], row["bonus_lapsed"]) == ("48.00", "12.00")
    summary = ok(shop.staff.get(f"/api/v1/merchant/summary/?store={shop.store.pk}"))
    assert (summary["pending_principal"], summary["outstanding_principal"]) == ("48.00", "48.00")
    # and a refund-now with the amount seen before the return is refused, nothing moving
    stale = shop.refund_now(request, "40.00")
    assert stale.status_code == 409 and "48.00" in str(stale.json())
    assert WithdrawalRequest.objects.get(pk=request["id"]).status == "pending" and not Refund.objects.exists()
    # When the rest of the order comes back, the wallet is unconsumed: the request is refunded at once
    shop.give_back(order)
    body = ok(shop.me.get(f"/api/v1/withdrawals/{request['id']}/"))
    assert (body["status"], body["resolution"], body["principal"], body["bonus_lapsed"]) == (
        "refunded", "instant", "80.00", "20.00")
    assert body["refund"]["amount"] == "80.00"
    assert shop.wallet(wallet)["status"] == "closed"
    assert ok(shop.staff.get("/api/v1/merchant/withdrawals/?status=pending")) == []
    call_command("reconcile")


def test_refund_now_with_the_amount_seen_refunds_and_a_bad_amount_is_a_400(db):
    shop = Shop(pay=8000, credit=10000)
    wallet = shop.buy()
    shop.spend("10.00")
    request = shop.withdraw(wallet)
    bad = shop.refund_now(request, "seventy")
    assert bad.status_code == 400 and "principal" in bad.json()
    body = ok(shop.refund_now(request, "72"))
    assert (body["status"], body["resolution"], body["refund"]["amount"]) == ("refunded", "merchant", "72.00")
    assert Wallet.objects.get(pk=wallet["id"]).status == "closed"
