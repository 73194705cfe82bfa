"""Consumer pages through the Django test client: buying, paying and returning orders, withdrawing — and
domain errors shown beside the form, never a traceback."""
import pytest
from django.test import Client

from allowance.models import Order, Wallet
from refunds.models import WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory
from tests.pages.helpers import bought_wallet


@pytest.fixture
def shopper(db):
    consumer = ConsumerFactory()
    client = Client()
    client.force_login(consumer.user)
    return consumer, client


def test_registering_logs_the_consumer_in_and_a_taken_name_is_refused_in_any_case(db):
    client = Client()
    data = {"account_name": "Erin", "password": "violet-harbour-42", "password_again": "violet-harbour-42"}
    response = client.post("/accounts/register/", data)
    assert response.status_code == 302
    assert client.get("/me/allowance/").status_code == 200
    again = Client().post("/accounts/register/", {**data, "account_name": "ERIN"})
    assert again.status_code == 200
    assert "This account name is already taken." in again.context["form"].errors["account_name"]


def test_registering_with_a_weak_or_mismatched_password_shows_the_reason(db):
    response = Client().post("/accounts/register/", {"account_name": "Finn", "password": "12345678",
                                                    "password_again": "12345678"})
    assert response.status_code == 200 and response.context["form"].errors["password"]
    response = Client().post("/accounts/register/", {"account_name": "Finn", "password": "violet-harbour-42",
                                                    "password_again": "violet-harbour-43"})
    assert response.context["form"].errors["password_again"] == ["The two passwords differ."]


def test_staff_log_in_to_the_merchant_page_and_consumers_to_my_allowance(db):
    from tests.factories import StaffFactory

    staff = StaffFactory().user
    consumer = ConsumerFactory()
    for username, landing in ((staff.username, "/merchant/"), (consumer.account_name.upper(), "/me/allowance/")):
        response = Client().post("/accounts/login/", {"username": username, "password": "correct-horse-battery"})
        assert response.status_code == 302 and response["Location"] == landing


def test_buying_shows_80_and_20_and_a_spend_of_10_shows_72_and_18(shopper):
    consumer, client = shopper
    campaign = CampaignFactory()
    client.post(f"/campaigns/{campaign.pk}/buy/")
    page = client.get("/me/allowance/")
    wallet = page.context["wallets"][0]
    assert (wallet.principal, wallet.bonus) == (8000, 2000)
    assert '<dd data-testid="principal">80.00</dd>' in page.content.decode()

    response = client.post("/me/orders/", {"store": campaign.store.pk, "order_ref": "B-1", "amount": "10"})
    assert response.status_code == 302
    page = client.get("/me/allowance/").content.decode()
    assert '<dd data-testid="principal">72.00</dd>' in page and '<dd data-testid="bonus">18.00</dd>' in page


def test_buying_past_the_limit_is_a_message_not_an_error_page(shopper):
    consumer, client = shopper
    campaign = CampaignFactory(per_consumer_limit=1)
    client.post(f"/campaigns/{campaign.pk}/buy/")
    response = client.post(f"/campaigns/{campaign.pk}/buy/", follow=True)
    assert response.status_code == 200
    assert "maximum number of times (1)" in response.content.decode()
    assert Wallet.objects.get(consumer=consumer).paid == 8000


@pytest.mark.parametrize("amount, message", [
    ("10.001", "at most two decimals"), ("-5", "greater than zero"), ("0", "greater than zero"),
    ("abc", "at most two decimals"), ("1e3", "at most two decimals"), ("NaN", "at most two decimals"),
    ("20000000", "at most 1000000.00"),
])
def test_bad_amounts_are_refused_beside_the_field(shopper, amount, message):
    consumer, client = shopper
    campaign = CampaignFactory()
    bought_wallet(consumer=consumer, campaign=campaign)
    response = client.post("/me/orders/", {"store": campaign.store.pk, "order_ref": "C-1", "amount": amount})
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors["amount"])
    assert not Order.objects.exists()


def test_an_order_larger_than_the_allowance_says_how_much_is_available(shopper):
    consumer, client = shopper
    campaign = CampaignFactory()
    bought_wallet(consumer=consumer, campaign=campaign)
    response = client.post("/me/orders/", {"store": campaign.store.pk, "order_ref": "D-1", "amount": "100.01"})
    assert response.context["form"].non_field_errors() == ["Not enough allowance: 100.00 available."]
    response = client.post("/me/orders/", {"store": campaign.store.pk, "order_ref": "D-1", "amount": "5"})
    again = client.post("/me/orders/", {"store": campaign.store.pk, "order_ref": "D-1", "amount": "5"})
    assert again.context["form"].errors["order_ref"] == ["An order with this reference already exists in this store."]


def test_an_order_is_returned_in_part_then_in_full(shopper):
    consumer, client = shopper
    campaign = CampaignFactory()
    wallet = bought_wallet(consumer=consumer, campaign=campaign)
    client.post("/me/orders/", {"store": campaign.store.pk, "order_ref": "E-1", "amount": "10"})
    order = Order.objects.get(order_ref="E-1")
    client.post(f"/me/orders/{order.pk}/return/", {"amount": "4.00"})
    wallet.refresh_from_db()
    assert wallet.total == 9400
    too_much = client.post(f"/me/orders/{order.pk}/return/", {"amount": "7.00"}, follow=True)
    assert "Only 6.00 of this order can still be returned." in too_much.content.decode()
    client.post(f"/me/orders/{order.pk}/return/", {"amount": ""})
    wallet.refresh_from_db()
    assert (wallet.principal, wallet.bonus) == (8000, 2000)


def test_the_withdrawal_preview_then_confirmation_of_a_spent_wallet_holds_it(shopper):
    consumer, client = shopper
    wallet = bought_wallet(consumer=consumer, campaign=CampaignFactory(), spend=1000)
    preview = client.get(f"/me/allowance/{wallet.pk}/withdraw/")
    assert (preview.context["preview"].principal, preview.context["preview"].bonus_lapsed) == (7200, 1800)
    assert not preview.context["preview"].instant
    assert not WithdrawalRequest.objects.exists()  # looking is not asking

    client.post(f"/me/allowance/{wallet.pk}/withdraw/", {"principal": "72.00"})  # the amount the preview showed
    request = WithdrawalRequest.objects.get(wallet=wallet)
    assert request.status == "pending"
    page = client.get("/me/allowance/").content.decode()
    assert 'class="countdown" data-countdown="172' in page  # ~172800 seconds left, ticking in the browser

    # A second confirmation (a double click) is refused with a message, not a second request
    again = client.post(f"/me/allowance/{wallet.pk}/withdraw/", {"principal": "72.00"}, follow=True)
    assert "already has a withdrawal request in progress" in again.content.decode()
    assert WithdrawalRequest.objects.filter(wallet=wallet).count() == 1


def test_keeping_the_allowance_after_a_retention_message_ends_the_request_as_retained(shopper):
    from merchants.models import StoreMembership
    from refunds.services import withdrawal_request, withdrawal_retention_message
    from tests.factories import UserFactory

    consumer, client = shopper
    wallet = bought_wallet(consumer=consumer, campaign=CampaignFactory(), spend=1000)
    request = withdrawal_request(wallet=wallet, actor=consumer.user)
    staff = UserFactory()
    StoreMembership.objects.create(store=wallet.store, user=staff)
    withdrawal_retention_message(request=request, actor=staff, message="Stay, a gift awaits")
    page = client.get("/me/allowance/").content.decode()
    assert "Stay, a gift awaits" in page and "Keep my allowance" in page
    response = client.post(f"/me/withdrawals/{request.pk}/cancel/", follow=True)
    assert "You kept your allowance. Thank you!" in response.content.decode()
    request.refresh_from_db()
    wallet.refresh_from_db()
    assert (request.status, wallet.status) == ("retained", "active")
