"""Every page answers 200 for its owner, and a redirect to log in or a 404 for everybody else."""
import pytest
from django.test import Client

from allowance.models import Order
from refunds.models import WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory
from tests.pages.helpers import bought_wallet, pending_request

PASSWORD = "correct-horse-battery"
PUBLIC_PAGES = ["/", "/accounts/login/", "/accounts/register/"]
CONSUMER_PAGES = ["/me/allowance/", "/me/orders/"]
STAFF_PAGES = ["/merchant/", "/merchant/?state=history", "/merchant/users/", "/merchant/users/?account_name=sho",
               "/merchant/campaigns/new/"]


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def world(db):
    """Two stores, each with staff and a campaign; two consumers, one wallet each in store A."""
    campaign_a, campaign_b = CampaignFactory(), CampaignFactory()
    staff_a = StaffFactory(store=campaign_a.store).user
    staff_b = StaffFactory(store=campaign_b.store).user
    owner, other = ConsumerFactory(), ConsumerFactory()
    request = pending_request(consumer=owner, campaign=campaign_a)
    other_wallet = bought_wallet(consumer=other, campaign=campaign_a)
    return {"campaign_a": campaign_a, "staff_a": staff_a, "staff_b": staff_b, "owner": owner, "other": other,
            "request": request, "wallet": request.wallet, "other_wallet": other_wallet,
            "order": Order.objects.get(consumer=owner)}


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_answer_200_to_anyone(world, path):
    assert client_for().get(path).status_code == 200


@pytest.mark.parametrize("path", CONSUMER_PAGES + STAFF_PAGES)
def test_private_pages_send_anonymous_visitors_to_log_in(world, path):
    response = client_for().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", CONSUMER_PAGES)
def test_consumer_pages_answer_200_to_the_consumer_and_404_to_staff(world, path):
    assert client_for(world["owner"].user).get(path).status_code == 200
    assert client_for(world["staff_a"]).get(path).status_code == 404


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_merchant_pages_answer_200_to_staff_and_404_to_consumers(world, path):
    assert client_for(world["staff_a"]).get(path).status_code == 200
    assert client_for(world["owner"].user).get(path).status_code == 404


def test_the_withdrawal_page_of_a_wallet_answers_only_its_owner(world):
    path = f"/me/allowance/{world['other_wallet'].pk}/withdraw/"
    assert client_for(world["other"].user).get(path).status_code == 200
    assert client_for(world["owner"].user).get(path).status_code == 404
    assert client_for(world["owner"].user).post(path).status_code == 404
    assert client_for(world["staff_a"]).get(path).status_code == 404


def test_nobody_else_can_cancel_a_consumers_request(world):
    path = f"/me/withdrawals/{world['request'].pk}/cancel/"
    assert client_for(world["other"].user).post(path).status_code == 404
    assert client_for(world["staff_a"]).post(path).status_code == 404
    world["request"].refresh_from_db()
    assert world["request"].status == WithdrawalRequest.Status.PENDING


def test_nobody_else_can_return_a_consumers_order(world):
    path = f"/me/orders/{world['order'].pk}/return/"
    assert client_for(world["other"].user).post(path, {"amount": "1.00"}).status_code == 404
    world["order"].refresh_from_db()
    assert world["order"].returned_amount == 0


def test_staff_of_another_store_cannot_see_refund_or_message_the_consumer(world):
    staff_b = client_for(world["staff_b"])
    results = staff_b.get("/merchant/users/", {"account_name": world["owner"].account_name})
    assert results.context["matches"] == []
    assert staff_b.post(f"/merchant/withdrawals/{world['request'].pk}/refund/").status_code == 404
    assert staff_b.post(f"/merchant/withdrawals/{world['request'].pk}/retention/", {"message": "stay"}).status_code == 404
    assert client_for(world["owner"].user).post(f"/merchant/withdrawals/{world['request'].pk}/refund/").status_code == 404
    world["request"].refresh_from_db()
    assert world["request"].status == WithdrawalRequest.Status.PENDING
    assert not world["request"].retention_messages.exists()


def test_staff_of_another_store_cannot_end_its_campaign(world):
    response = client_for(world["staff_b"]).post(f"/merchant/campaigns/{world['campaign_a'].pk}/end/")
    assert response.status_code == 404
    world["campaign_a"].refresh_from_db()
    assert world["campaign_a"].ended_at is None


def test_logging_out_takes_a_post(world):
    client = client_for(world["owner"].user)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/me/allowance/").status_code == 302
