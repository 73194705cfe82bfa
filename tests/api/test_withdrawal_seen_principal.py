"""A consumer's withdrawal is made at the amount they confirmed (issue 19): the page and the API send the principal
seen in the preview; if an order paid (or returned) since has changed it, the answer is a 409 with the new
figures and nothing moves — as the merchant's refund-now already does."""
import pytest
from django.test import Client

from allowance.models import LedgerEntry, Wallet
from allowance.services import order_spend
from refunds.models import WithdrawalRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def previewed(world, bought):
    """Alice spent 40.50 of "pay 80 get 100": the preview says withdraw 47.60, let 11.90 lapse."""
    order_spend(consumer=world.alice, store=world.store, order_ref="A-1", amount=4050)
    return bought


def _pay_seven_yuan(world):
    order_spend(consumer=world.alice, store=world.store, order_ref="A-2", amount=700)  # now 42.00 / 10.50


def _nothing_moved(wallet, entries):
    wallet.refresh_from_db()
    assert (wallet.status, wallet.principal, wallet.bonus) == ("active", 4200, 1050)
    assert not WithdrawalRequest.objects.exists() and LedgerEntry.objects.count() == entries


def test_the_api_refuses_a_stale_principal_with_a_409_and_the_new_figures(world, alice_api, previewed):
    url = f"/api/v1/wallets/{previewed.pk}/withdrawals/"
    assert alice_api.get(f"/api/v1/wallets/{previewed.pk}/withdrawal-preview/").json()["principal"] == "47.60"
    _pay_seven_yuan(world)
    entries = LedgerEntry.objects.count()

    stale = alice_api.post(url, {"principal": "47.60"}, format="json")

    assert stale.status_code == 409, stale.content
    body = stale.json()
    assert (body["code"], body["principal"], body["bonus_lapsed"]) == ("principal_changed", "42.00", "10.50")
    assert "42.00" in body["detail"]
    _nothing_moved(previewed, entries)

    # When the consumer confirms the new amount (in yuan as a string or a number), it is made
    made = alice_api.post(url, {"principal": 42}, format="json")
    assert made.status_code == 201, made.content
    assert (made.json()["status"], made.json()["principal"], made.json()["bonus_lapsed"]) == (
        "pending", "42.00", "10.50")


def test_the_api_still_takes_an_empty_body(world, alice_api, previewed):
    made = alice_api.post(f"/api/v1/wallets/{previewed.pk}/withdrawals/", {}, format="json")
    assert made.status_code == 201 and made.json()["principal"] == "47.60"


@pytest.mark.parametrize("principal", ["abc", "-1", "0", "47.605", True])
def test_a_principal_that_is_not_an_amount_is_a_400_naming_it(world, alice_api, previewed, principal):
    answer = alice_api.post(f"/api/v1/wallets/{previewed.pk}/withdrawals/", {"principal": principal}, format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["principal"]
    assert not WithdrawalRequest.objects.exists()


def test_the_schema_documents_the_principal_of_the_withdrawal_request(world, alice_api):
    schema = alice_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["paths"]["/api/v1/wallets/{id}/withdrawals/"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[1]
    assert "principal" in schema["components"]["schemas"][ref]["properties"]
    assert "required" not in schema["components"]["schemas"][ref]


def test_the_page_refuses_a_stale_confirmation_and_shows_the_new_amounts_to_confirm_again(world, previewed):
    client = Client()
    client.force_login(world.alice.user)
    url = f"/me/allowance/{previewed.pk}/withdraw/"
    # Given the preview, whose confirm form carries the principal shown
    preview = client.get(url).content.decode()
    assert 'name="principal" value="47.60"' in preview
    _pay_seven_yuan(world)
    entries = LedgerEntry.objects.count()

    # When the consumer confirms it after a 7.00 order
    response = client.post(url, {"principal": "47.60"}, follow=True)

    # Then nothing is withdrawn, and the preview is shown again with the new amounts and a message saying so
    _nothing_moved(previewed, entries)
    assert response.redirect_chain[-1][0] == url
    (message,) = [str(m) for m in response.context["messages"]]
    assert "42.00" in message and "10.50" in message
    assert (response.context["preview"].principal, response.context["preview"].bonus_lapsed) == (4200, 1050)
    assert 'name="principal" value="42.00"' in response.content.decode()

    # And confirming the new amounts makes the request
    client.post(url, {"principal": "42.00"})
    assert WithdrawalRequest.objects.get(wallet=previewed).principal == 4200


def test_the_page_without_the_principal_asks_to_reload(world, previewed):
    client = Client()
    client.force_login(world.alice.user)
    response = client.post(f"/me/allowance/{previewed.pk}/withdraw/", follow=True)
    assert "reload the page" in str(list(response.context["messages"])[0])
    assert not WithdrawalRequest.objects.exists()
    assert Wallet.objects.get(pk=previewed.pk).status == "active"
