"""Bad input found while testing issue 11, on the API and on the pages: each is a clear 4xx (a 400 naming the
field, or a form error on the page) and changes nothing."""
import pytest
from django.test import Client

from allowance.models import Campaign, LedgerEntry, Order, Wallet
from consumers.models import Consumer
from tests.api.conftest import client_for


def balances():
    return list(Wallet.objects.order_by("pk").values_list("principal", "bonus", "status")), LedgerEntry.objects.count()


def campaign_body(store, **change):
    return {"store": store.pk, "name": "pay 80 get 100", "pay_amount": "80", "credit_amount": "100",
            "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2030-01-01T00:00:00+08:00",
            "valid_until": "2031-01-01T00:00:00+08:00", **change}


# --- JSON numbers whose exponent cancels out -------------------------------------------------------------

@pytest.mark.parametrize("number", ["1.0e1", "0.1e1", "1.00E+1", "100e-1", "10e0", "10.0E0"])
def test_a_json_amount_written_with_an_exponent_is_a_400_naming_the_amount(world, alice_api, bought, number):
    before = balances()
    raw = f'{{"store": {world.store.pk}, "order_ref": "X", "amount": {number}}}'
    response = alice_api.generic("POST", "/api/v1/orders/", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["amount"]
    assert balances() == before and not Order.objects.exists()


def test_a_plain_json_number_with_two_places_is_still_accepted(world, alice_api, bought):
    raw = f'{{"store": {world.store.pk}, "order_ref": "X", "amount": 10.50}}'
    response = alice_api.generic("POST", "/api/v1/orders/", raw, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "10.50"


# --- over the maximum --------------------------------------------------------------------------------------

def test_the_over_maximum_message_names_the_maximum(world, alice_api, bought):
    response = alice_api.post("/api/v1/orders/", {"store": world.store.pk, "order_ref": "X", "amount": "1000000.01"},
                              format="json")
    assert response.status_code == 400
    assert response.json() == {"amount": ["The amount must be at most 1000000.00."]}


def test_the_over_maximum_message_is_translated_with_the_maximum(world, alice_api, bought):
    response = alice_api.post("/api/v1/orders/", {"store": world.store.pk, "order_ref": "X", "amount": "1000000.01"},
                              format="json", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert response.json() == {"amount": ["金额不能超过 1000000.00。"]}


# --- non-ASCII digits on the pages -------------------------------------------------------------------------
# Full-width digits (a Chinese keyboard's "１０") are read as ASCII on the pages since issue 21
# (tests/pages/test_pages_part_two.py); other scripts' digits stay a form error.

@pytest.mark.parametrize("amount", ["١٠", "۱۰", "१०", "1٠.5٠"])
def test_paying_an_order_on_the_page_with_non_ascii_digits_is_a_form_error(world, bought, amount):
    client = Client()
    client.force_login(world.alice.user)
    before = balances()
    response = client.post("/me/orders/", {"store": world.store.pk, "order_ref": "X", "amount": amount})
    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [
        "Enter an amount in yuan with at most two decimals, for example 72.50."]
    assert balances() == before and not Order.objects.exists()


@pytest.mark.parametrize("amount", ["١٠", "१०"])
def test_returning_on_the_page_with_non_ascii_digits_changes_nothing(world, spent, bought, amount):
    client = Client()
    client.force_login(world.alice.user)
    before = balances()
    response = client.post(f"/me/orders/{spent.pk}/return/", {"amount": amount}, follow=True)
    assert "Enter an amount in yuan with at most two decimals" in response.content.decode()
    spent.refresh_from_db()
    assert spent.returned_amount == 0 and balances() == before


def test_a_campaign_on_the_page_with_arabic_indic_digits_is_a_form_error(world):
    client = Client()
    client.force_login(world.staff)
    data = {"store": world.store.pk, "name": "wide", "pay_amount": "٨٠", "credit_amount": "100",
            "starts_at": "2026-01-01T10:00", "ends_at": "2030-01-01T10:00", "valid_until": "2031-01-01T10:00",
            "per_consumer_limit": "1", "stock": ""}
    response = client.post("/merchant/campaigns/new/", data)
    assert response.status_code == 200 and "pay_amount" in response.context["form"].errors
    assert not Campaign.objects.filter(name="wide").exists()


def test_a_campaign_on_the_page_with_full_width_digits_is_read_as_yuan(world):
    client = Client()
    client.force_login(world.staff)
    data = {"store": world.store.pk, "name": "wide", "pay_amount": "８０", "credit_amount": "１００．５０",
            "starts_at": "2026-01-01T10:00", "ends_at": "2030-01-01T10:00", "valid_until": "2031-01-01T10:00",
            "per_consumer_limit": "1", "stock": ""}
    assert client.post("/merchant/campaigns/new/", data).status_code == 302
    assert Campaign.objects.filter(name="wide").values_list("pay_amount", "credit_amount").get() == (8000, 10050)


# --- campaign limit and stock beyond what the columns hold -------------------------------------------------

@pytest.mark.parametrize("field,value", [("per_consumer_limit", 2**31), ("per_consumer_limit", 2**31 - 1),
                                         ("stock", 2**31), ("stock", 2**63), ("per_consumer_limit", 10**30)])
def test_a_campaign_page_with_a_huge_limit_or_stock_is_a_form_error(world, field, value):
    client = Client()
    client.force_login(world.staff)
    data = {"store": world.store.pk, "name": "huge", "pay_amount": "80", "credit_amount": "100",
            "starts_at": "2026-01-01T10:00", "ends_at": "2030-01-01T10:00", "valid_until": "2031-01-01T10:00",
            "per_consumer_limit": "1", "stock": "", field: str(value)}
    response = client.post("/merchant/campaigns/new/", data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not Campaign.objects.filter(name="huge").exists()


@pytest.mark.parametrize("field,value", [("per_consumer_limit", 2**31), ("stock", 2**31), ("stock", 2**63),
                                         ("per_consumer_limit", 10**30)])
def test_a_campaign_in_the_api_with_a_huge_limit_or_stock_is_a_400_naming_the_field(world, staff_api, field, value):
    response = staff_api.post("/api/v1/merchant/campaigns/", campaign_body(world.store, **{field: value}),
                              format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not Campaign.objects.exclude(pk__in=[world.campaign.pk, world.other_campaign.pk]).exists()


def test_the_largest_limit_and_stock_allowed_are_stored(world, staff_api):
    from allowance.models import MAX_PER_CONSUMER_LIMIT, MAX_STOCK

    body = campaign_body(world.store, per_consumer_limit=MAX_PER_CONSUMER_LIMIT, stock=MAX_STOCK)
    response = staff_api.post("/api/v1/merchant/campaigns/", body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["per_consumer_limit"], response.json()["stock"]) == (MAX_PER_CONSUMER_LIMIT, MAX_STOCK)


# --- account names that grow when letter case is ignored ---------------------------------------------------

LONG_WHEN_FOLDED = "ß" * 41  # 41 characters, but "ss" × 41 = 82 once case is ignored
TOO_LONG = "This account name is too long once letter case is ignored (ß counts as ss); choose a shorter one."


def test_registering_a_name_that_folds_too_long_in_the_api_is_a_clear_400(db):
    response = client_for().post("/api/v1/consumers/register/",
                                 {"account_name": LONG_WHEN_FOLDED, "password": "a long passphrase"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"account_name": [TOO_LONG]}
    assert not Consumer.objects.exists()


def test_registering_a_name_that_folds_too_long_on_the_page_is_a_form_error(db):
    response = Client().post("/accounts/register/", {
        "account_name": LONG_WHEN_FOLDED, "password": "plum-tree-lantern-9", "password_again": "plum-tree-lantern-9"})
    assert response.status_code == 200
    assert response.context["form"].errors["account_name"] == [TOO_LONG]
    assert not Consumer.objects.exists()


def test_a_name_of_32_sharp_s_still_fits_and_logs_in_in_any_case(db):
    response = client_for().post("/api/v1/consumers/register/",
                                 {"account_name": "ß" * 32, "password": "a long passphrase"}, format="json")
    assert response.status_code == 201
    assert Consumer.objects.get().account_key == "ss" * 32
