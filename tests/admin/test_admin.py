"""The Django admin: every model's list and detail pages answer, money rows are read-only, and each action
calls the service, changes what it should and leaves an audit record naming the admin."""
import pytest
from django.contrib import admin as django_admin
from django.urls import reverse

from allowance.models import AuditRecord, Wallet
from merchants.models import StoreMembership
from refunds.models import Refund, WithdrawalRequest
from refunds.services import withdrawal_request, withdrawal_retention_message
from tests.factories import CampaignFactory, ConsumerFactory, UserFactory
from tests.pages.helpers import bought_wallet, pending_request


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def request_pending(db):
    return pending_request(consumer=ConsumerFactory(account_name="Dora"), campaign=CampaignFactory(), spend=1000)


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_every_registered_model_lists_searches_and_shows_a_row(client, request_pending):
    # Given rows of every kind (a purchase, a spend, a pending request with a message, an instant refund)
    wallet = bought_wallet(consumer=ConsumerFactory(), campaign=CampaignFactory())
    withdrawal_request(wallet=wallet, actor=wallet.consumer.user)
    staff = UserFactory(is_staff=True)
    StoreMembership.objects.create(store=request_pending.wallet.store, user=staff)
    withdrawal_retention_message(request=request_pending, actor=staff, message="stay")
    for model, model_admin in django_admin.site._registry.items():
        if model._meta.app_label not in {"allowance", "refunds", "merchants", "consumers"}:
            continue
        url = _changelist(model)
        # When the admin opens the list, searches it by an account name and opens the first row
        assert client.get(url).status_code == 200, url
        assert client.get(url, {"q": "dora"}).status_code == 200, url
        assert client.get(url, {"q": "12345"}).status_code == 200, url
        row = model.objects.order_by("pk").first()
        if row is not None:
            detail = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[row.pk])
            assert client.get(detail).status_code == 200, detail


def test_withdrawal_requests_can_be_found_by_account_name_in_any_letter_case_and_by_id(client, request_pending):
    url = _changelist(WithdrawalRequest)
    assert "Dora" in client.get(url, {"q": "DORA"}).content.decode()
    assert client.get(url, {"q": str(request_pending.pk)}).context["cl"].result_count == 1
    assert client.get(url, {"status__exact": "pending"}).context["cl"].result_count == 1
    assert client.get(url, {"status__exact": "refunded"}).context["cl"].result_count == 0


def test_balances_and_the_ledger_are_read_only_in_the_admin(client, request_pending):
    wallet = request_pending.wallet
    response = client.post(reverse("admin:allowance_wallet_change", args=[wallet.pk]), {"principal": "1"})
    assert response.status_code == 403
    entry = wallet.entries.first()
    assert client.post(reverse("admin:allowance_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    wallet.refresh_from_db()
    assert (wallet.principal, wallet.bonus) == (7200, 1800)


def test_the_refund_now_action_first_asks_for_confirmation_listing_the_requests_and_amounts(client, request_pending):
    # Given a second pending request and one already refunded, all three selected
    other = pending_request(consumer=ConsumerFactory(account_name="Emil"), campaign=CampaignFactory(), spend=2000)
    done = pending_request(consumer=ConsumerFactory(account_name="Fay"), campaign=CampaignFactory(), spend=1000)
    client.post(_changelist(WithdrawalRequest), {"action": "refund_now", "_selected_action": [done.pk], "post": "yes"})
    refunds = Refund.objects.count()

    # When the admin picks "refund now" and presses Go
    response = client.post(_changelist(WithdrawalRequest), {
        "action": "refund_now", "_selected_action": [request_pending.pk, other.pk, done.pk]})

    # Then nothing moves yet: a page lists each pending request with its amounts and asks to confirm with post=yes
    assert response.status_code == 200
    assert Refund.objects.count() == refunds
    assert WithdrawalRequest.objects.filter(pk__in=[request_pending.pk, other.pk], status="pending").count() == 2
    html = response.content.decode()
    assert "Are you sure you want to refund these 2 pending withdrawal requests now?" in html
    for name, principal, bonus in (("Dora", "72.00", "18.00"), ("Emil", "64.00", "16.00")):
        row = html.split(f'data-testid="refund-row-{name}"', 1)[1].split("</tr>", 1)[0]
        assert principal in row and bonus in row
    assert "136.00" in html  # the principal refunded in all
    assert "Fay" in html.split('data-testid="not-pending"', 1)[1]  # shown as skipped, not refunded twice
    assert 'name="post" value="yes"' in html and 'name="action" value="refund_now"' in html
    for pk in (request_pending.pk, other.pk):
        assert f'name="_selected_action" value="{pk}"' in html
    assert f'name="principal-{request_pending.pk}" value="72.00"' in html


def test_the_refund_now_confirmation_refuses_a_request_whose_amount_changed_since(client, request_pending):
    from refunds.returns import order_return
    from allowance.models import Order

    # Given the confirmation page showed 72.00, then 5.00 of the order came back (the request now says 76.00)
    client.post(_changelist(WithdrawalRequest), {"action": "refund_now", "_selected_action": [request_pending.pk]})
    order = Order.objects.get(allocations__wallet=request_pending.wallet)
    order_return(order=order, consumer=order.consumer, amount=500)

    # When the admin confirms
    response = client.post(_changelist(WithdrawalRequest), {
        "action": "refund_now", "_selected_action": [request_pending.pk], "post": "yes",
        f"principal-{request_pending.pk}": "72.00"}, follow=True)

    # Then it is not refunded, and the message gives the new amount
    assert "76.00" in response.content.decode()
    assert not Refund.objects.filter(request=request_pending).exists()


def test_the_refund_now_action_refunds_a_pending_request_and_is_audited(client, admin_user, request_pending):
    # When the admin runs "refund now" on the pending request and confirms
    response = client.post(_changelist(WithdrawalRequest), {
        "action": "refund_now", "_selected_action": [request_pending.pk], "post": "yes",
        f"principal-{request_pending.pk}": "72.00"}, follow=True)

    # Then it is refunded (principal back, bonus lapsed, wallet closed) and the audit names the admin
    assert response.status_code == 200
    assert "1 request refunded." in response.content.decode()
    request_pending.refresh_from_db()
    assert (request_pending.status, request_pending.resolution) == ("refunded", "merchant")
    assert request_pending.refund.amount == 7200
    assert Wallet.objects.get(pk=request_pending.wallet_id).status == Wallet.Status.CLOSED
    audit = AuditRecord.objects.get(action="admin_withdrawal_refund")
    assert (audit.actor, audit.target_id, audit.amount) == (admin_user, str(request_pending.pk), 7200)


def test_the_refund_now_action_refuses_a_request_that_is_not_pending(client, request_pending):
    confirmed = {"action": "refund_now", "_selected_action": [request_pending.pk], "post": "yes"}
    client.post(_changelist(WithdrawalRequest), confirmed)
    response = client.post(_changelist(WithdrawalRequest), confirmed, follow=True)
    assert "no longer pending" in response.content.decode()
    assert Refund.objects.filter(request=request_pending).count() == 1
    assert AuditRecord.objects.filter(action="admin_withdrawal_refund").count() == 1


def test_the_end_sale_action_ends_a_campaign_and_is_audited(client, admin_user):
    campaign = CampaignFactory()
    response = client.post(_changelist(type(campaign)), {
        "action": "end_sale", "_selected_action": [campaign.pk]}, follow=True)
    assert "1 campaign ended." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.ended_at is not None
    assert not campaign.is_on_sale()
    audit = AuditRecord.objects.get(action="admin_campaign_end")
    assert (audit.actor, audit.target_id, audit.store_id) == (admin_user, str(campaign.pk), campaign.store_id)


def test_the_payout_retry_action_sends_a_payout_that_needs_attention_again_and_is_audited(
    client, admin_user, request_pending, django_capture_on_commit_callbacks
):
    # Given a refund whose payout kept failing
    client.post(_changelist(WithdrawalRequest), {"action": "refund_now", "_selected_action": [request_pending.pk],
                                                 "post": "yes"})
    refund = Refund.objects.get(request=request_pending)
    Refund.objects.filter(pk=refund.pk).update(payout_status=Refund.PayoutStatus.NEEDS_ATTENTION,
                                               payout_attempts=8, last_error="gateway declined")

    # When the admin retries it
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_changelist(Refund), {"action": "payout_retry", "_selected_action": [refund.pk]},
                               follow=True)

    # Then the payout is sent again (the sandbox pays it) and the audit names the admin
    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.payout_status == Refund.PayoutStatus.SUCCEEDED
    audit = AuditRecord.objects.get(action="payout_retry")
    assert (audit.actor, audit.target_id, audit.amount) == (admin_user, str(refund.pk), 7200)


@pytest.mark.parametrize("query", ["starts_at__year=9999&starts_at__month=12&starts_at__day=31",
                                   "starts_at__year=9999&starts_at__month=12", "starts_at__year=9999"])
def test_the_date_drill_down_at_the_end_of_the_calendar_is_a_redirect_not_a_500(client, query):
    # Django's date hierarchy adds a day (or a month, or a year) to the last one the calendar holds
    response = client.get(f"{_changelist(type(CampaignFactory()))}?{query}")
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"].endswith("?e=1")
