"""Merchant pages through the Django test client: the summary, campaigns and user management."""
import pytest
from django.test import Client

from allowance.models import AuditRecord, Campaign
from refunds.models import WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory
from tests.pages.helpers import bought_wallet, pending_request


@pytest.fixture
def shop(db):
    campaign = CampaignFactory()
    staff = StaffFactory(store=campaign.store).user
    client = Client()
    client.force_login(staff)
    return campaign, staff, client


def test_the_summary_shows_outstanding_money_and_pending_requests(shop):
    campaign, _, client = shop
    pending_request(consumer=ConsumerFactory(), campaign=campaign, spend=1000)  # 72.00 / 18.00, pending
    bought_wallet(consumer=ConsumerFactory(), campaign=campaign)  # 80.00 / 20.00
    summary = client.get("/merchant/").context["summary"]
    assert (summary.outstanding_principal, summary.outstanding_bonus) == (15200, 3800)
    assert (summary.pending_count, summary.pending_principal, summary.due_within_48h) == (1, 7200, 1)


def test_creating_a_campaign_in_yuan_and_ending_it_moves_it_to_history(shop):
    campaign, staff, client = shop
    data = {"store": campaign.store.pk, "name": "pay 100 get 120", "pay_amount": "100", "credit_amount": "120.00",
            "starts_at": "2026-01-01T10:00", "ends_at": "2030-01-01T10:00", "valid_until": "2031-01-01T10:00",
            "per_consumer_limit": "2", "stock": ""}
    assert client.post("/merchant/campaigns/new/", data).status_code == 302
    created = Campaign.objects.get(name="pay 100 get 120")
    assert (created.pay_amount, created.credit_amount, created.stock) == (10000, 12000, None)
    assert created in client.get("/merchant/").context["campaigns"]

    client.post(f"/merchant/campaigns/{created.pk}/end/")
    assert created not in client.get("/merchant/").context["campaigns"]
    assert created in client.get("/merchant/", {"state": "history"}).context["campaigns"]
    assert AuditRecord.objects.filter(action="campaign_end", target_id=str(created.pk), actor=staff).exists()


def test_a_campaign_that_gives_less_than_it_costs_is_refused_beside_the_form(shop):
    campaign, _, client = shop
    data = {"store": campaign.store.pk, "name": "bad", "pay_amount": "100", "credit_amount": "90",
            "starts_at": "2026-01-01T10:00", "ends_at": "2030-01-01T10:00", "valid_until": "2031-01-01T10:00",
            "per_consumer_limit": "1"}
    response = client.post("/merchant/campaigns/new/", data)
    assert response.status_code == 200
    assert response.context["form"].errors == {"credit_amount": ["The credit amount must be at least the pay amount."]}
    assert not Campaign.objects.filter(name="bad").exists()


def test_search_by_account_name_is_case_insensitive_and_matches_prefixes(shop):
    campaign, _, client = shop
    gina = ConsumerFactory(account_name="Gina")
    ConsumerFactory(account_name="Ginger")
    bought_wallet(consumer=gina, campaign=campaign)
    bought_wallet(consumer=ConsumerFactory(account_name="Ginny"), campaign=campaign)
    exact = client.get("/merchant/users/", {"account_name": "gINA"}).context["matches"]
    assert [consumer.account_name for consumer, _ in exact] == ["Gina"]
    prefix = client.get("/merchant/users/", {"account_name": "gin"}).context["matches"]
    assert [consumer.account_name for consumer, _ in prefix] == ["Gina", "Ginny"]  # Ginger holds nothing here


def test_staff_send_a_retention_message_then_refund_now_and_the_list_is_soonest_due_first(shop):
    campaign, staff, client = shop
    first = pending_request(consumer=ConsumerFactory(account_name="Hana"), campaign=campaign)
    second = pending_request(consumer=ConsumerFactory(account_name="Ivo"), campaign=campaign)
    page = client.get("/merchant/users/")
    assert list(page.context["pending"]) == [first, second]

    client.post(f"/merchant/withdrawals/{first.pk}/retention/", {"message": "  Stay with us  ", "account_name": "hana"})
    assert first.retention_messages.get().message == "Stay with us"
    empty = client.post(f"/merchant/withdrawals/{first.pk}/retention/", {"message": "   "}, follow=True)
    assert "This field is required." in empty.content.decode()

    found = client.get("/merchant/users/", {"account_name": "hana"}).content.decode()
    assert '<input type="hidden" name="principal" value="72.00">' in found
    response = client.post(f"/merchant/withdrawals/{first.pk}/refund/", {"account_name": "hana", "principal": "72.00"},
                           follow=True)
    assert "Refunded 72.00 to Hana; 18.00 of bonus lapsed." in response.content.decode()
    assert response.redirect_chain[-1][0] == "/merchant/users/?account_name=hana"
    first.refresh_from_db()
    assert (first.status, first.resolution) == ("refunded", "merchant")
    twice = client.post(f"/merchant/withdrawals/{first.pk}/refund/", {"principal": "72.00"}, follow=True)
    assert "no longer pending" in twice.content.decode()
    assert list(client.get("/merchant/users/").context["pending"]) == [second]
    assert WithdrawalRequest.objects.get(pk=second.pk).status == "pending"


def test_refund_now_after_a_return_shows_the_new_amount_and_moves_nothing_until_confirmed_again(shop):
    from allowance.models import Order
    from refunds.returns import order_return

    campaign, staff, client = shop
    request = pending_request(consumer=ConsumerFactory(account_name="Jun"), campaign=campaign)
    seen = client.get("/merchant/users/", {"account_name": "jun"}).content.decode()
    assert '<input type="hidden" name="principal" value="72.00">' in seen
    # the consumer returns 5.00 of the order while the staff member looks at the page
    order = Order.objects.get(consumer=request.wallet.consumer)
    order_return(order=order, consumer=order.consumer, amount=500)
    stale = client.post(f"/merchant/withdrawals/{request.pk}/refund/", {"principal": "72.00"}, follow=True)
    assert "The amount to refund has changed to 76.00" in stale.content.decode()
    request.refresh_from_db()
    assert (request.status, request.principal) == ("pending", 7600)
    missing = client.post(f"/merchant/withdrawals/{request.pk}/refund/", follow=True)
    assert "reload the page" in missing.content.decode()
    fresh = client.post(f"/merchant/withdrawals/{request.pk}/refund/", {"principal": "76.00"}, follow=True)
    assert "Refunded 76.00 to Jun; 19.00 of bonus lapsed." in fresh.content.decode()


@pytest.mark.parametrize("language, words", [
    ("en", ("Last withdrawal request", "Refunded by the store", "72.00", "processing")),
    ("zh-Hans", ("最近一次提现申请", "商家已退款", "72.00", "打款中")),
])
def test_after_refund_now_user_management_shows_the_refund_just_made(shop, language, words):
    from django.utils import timezone

    campaign, staff, client = shop
    request = pending_request(consumer=ConsumerFactory(account_name="Kai"), campaign=campaign)
    client.post(f"/merchant/withdrawals/{request.pk}/refund/", {"account_name": "kai", "principal": "72.00"})
    request.refresh_from_db()

    # When the staff member looks the consumer up again
    page = client.get("/merchant/users/", {"account_name": "kai"}, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    # Then the wallet shows how its last request ended: outcome, amount, when, and where the payout is
    last = page.split('data-testid="last-request"', 1)[1].split("</div>", 1)[0]
    for word in words:
        assert word in last, (word, last)
    assert timezone.localtime(request.resolved_at).strftime("%Y-%m-%d %H:%M") in last
    assert "No withdrawal request" not in page and "暂无提现申请" not in page


def test_user_management_shows_a_cancelled_request_and_still_says_how_a_refund_can_be_made(shop):
    from refunds.services import withdrawal_cancel

    campaign, staff, client = shop
    request = pending_request(consumer=ConsumerFactory(account_name="Lea"), campaign=campaign)
    withdrawal_cancel(request=request, actor=request.wallet.consumer.user)
    page = client.get("/merchant/users/", {"account_name": "lea"}).content.decode()
    last = page.split('data-testid="last-request"', 1)[1].split("</div>", 1)[0]
    assert "cancelled" in last and "payout" not in last
    assert "A refund can only be made after the consumer applies" in page


def test_user_management_reads_the_last_requests_in_a_fixed_number_of_queries(shop, django_assert_max_num_queries):
    campaign, staff, client = shop
    for n in range(6):
        request = pending_request(consumer=ConsumerFactory(account_name=f"Max{n}"), campaign=campaign)
        client.post(f"/merchant/withdrawals/{request.pk}/refund/", {"principal": "72.00"})
    with django_assert_max_num_queries(10):  # as many for one consumer as for six
        page = client.get("/merchant/users/", {"account_name": "max"})
    assert page.content.decode().count('data-testid="last-request"') == 6
