"""The rough edges a new user hit (issue 15), each shown fixed from the outside: pages, emails, the API."""
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from allowance.models import Campaign
from refunds.notifications import withdrawal_notify_send
from refunds.services import withdrawal_retention_message
from tests.api.conftest import client_for
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory
from tests.pages.helpers import bought_wallet, pending_request

ROOT = Path(__file__).resolve().parent.parent.parent
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the hold follows WITHDRAWAL_HOLD_SECONDS ------------------------------------------------------------

@pytest.mark.parametrize("seconds,english,chinese", [
    (172800, "48 hours", "48 小时"), (7200, "2 hours", "2 小时"), (3600, "1 hour", "1 小时"),
    (20, "20 seconds", "20 秒"), (90, "90 seconds", "90 秒"), (1800, "30 minutes", "30 分钟"),
])
def test_the_preview_and_the_questions_name_the_configured_hold(settings, consumer, campaign, seconds, english,
                                                               chinese):
    # Given a hold of `seconds` and a wallet that has been spent from
    settings.WITHDRAWAL_HOLD_SECONDS = seconds
    wallet = bought_wallet(consumer=consumer, campaign=campaign, spend=1000)
    client = logged_in(consumer.user)

    # When the consumer opens the preview and My Allowance, in each language
    for headers, hold in ((EN, english), (ZH, chinese)):
        preview = client.get(f"/me/allowance/{wallet.pk}/withdraw/", **headers).content.decode()
        page = client.get("/me/allowance/", **headers).content.decode()

        # Then both name that hold, and no page speaks of 48 hours unless the hold is 48 hours
        assert hold in preview and hold in page
        if seconds != 172800:
            assert "48 hours" not in preview + page and "48 小时" not in preview + page


# --- one date format per language ------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh-hans"])
def test_the_flash_message_and_the_page_show_the_due_time_the_same_way(consumer, campaign, headers):
    # Given a wallet that has been spent from
    wallet = bought_wallet(consumer=consumer, campaign=campaign, spend=1000)
    client = logged_in(consumer.user)

    # When the consumer asks to withdraw
    response = client.post(f"/me/allowance/{wallet.pk}/withdraw/", {"principal": "72.00"}, follow=True, **headers)

    # Then the flash message shows the due time exactly as the page does
    request = wallet.withdrawal_requests.get()
    shown = timezone.localtime(request.due_at).strftime("%Y-%m-%d %H:%M")
    (flash,) = [str(m) for m in response.context["messages"]]
    assert shown in flash
    # ... in brackets of the page's language (full-width in Chinese, issue 21)
    assert (f"({shown})" if headers is EN else f"（{shown}）") in response.content.decode()
    assert "a.m." not in flash and "p.m." not in flash


# --- past requests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers,outcome", [(EN, "Refunded automatically"), (ZH, "系统已自动退款")],
                         ids=["en", "zh-hans"])
def test_a_past_request_refunded_by_the_system_says_so_once(consumer, campaign, headers, outcome):
    # Given a held request the scheduled job refunded
    request = pending_request(consumer=consumer, campaign=campaign)
    from refunds.services import withdrawal_refund_due

    withdrawal_refund_due(now=request.due_at + timedelta(seconds=1))

    # When the consumer looks at My Allowance
    page = logged_in(consumer.user).get("/me/allowance/", **headers).content.decode()

    # Then the past request reads "Refunded automatically", never "refunded refunded automatically"
    assert "refunded refunded" not in page.lower() and "已退款 系统自动退款" not in page
    assert f'data-testid="request-outcome">{outcome}<' in page


# --- status badges ----------------------------------------------------------------------------------------

def test_status_badges_are_in_chinese_on_chinese_pages(consumer, campaign):
    # Given a frozen wallet, and a closed one whose refund has been paid out
    pending_request(consumer=consumer, campaign=campaign)
    other = CampaignFactory()
    bought_wallet(consumer=consumer, campaign=other)
    from refunds.services import withdrawal_request

    with_refund = withdrawal_request(wallet=consumer.wallets.get(campaign=other), actor=consumer.user)
    assert with_refund.status == "refunded"
    from refunds.models import Refund

    Refund.objects.filter(request=with_refund).update(payout_status="succeeded")  # as the payout task would

    # When the consumer reads My Allowance in Chinese
    page = logged_in(consumer.user).get("/me/allowance/", **ZH).content.decode()

    # Then every badge is in Chinese
    import re

    badges = re.findall(r'<span class="badge [^"]*"[^>]*>([^<]*)</span>', page)
    assert badges and all(not re.search(r"[a-z]", badge) for badge in badges), badges
    assert {"已冻结", "已关闭", "已实时退款", "成功"} <= set(badges)


def test_status_badges_are_in_chinese_in_user_management(consumer, campaign):
    pending_request(consumer=consumer, campaign=campaign)
    staff = StaffFactory(store=campaign.store).user
    page = logged_in(staff).get(f"/merchant/users/?account_name={consumer.account_name}", **ZH).content.decode()
    assert "已冻结" in page and ">frozen<" not in page


# --- the retention email speaks of the page's button -----------------------------------------------------

def test_the_retention_email_names_the_keep_my_allowance_button(consumer, campaign, django_capture_on_commit_callbacks):
    staff = StaffFactory(store=campaign.store).user
    request = pending_request(consumer=consumer, campaign=campaign)
    withdrawal_retention_message(request=request, actor=staff, message="Stay for 10% off next week!")
    mail.outbox.clear()

    withdrawal_notify_send(event="retention_message", request_id=request.pk)

    (email,) = mail.outbox
    assert "“Keep my allowance”" in email.body and "cancel the withdrawal" not in email.body
    page = logged_in(consumer.user).get("/me/allowance/", **EN).content.decode()
    assert "Keep my allowance" in page


# --- favicon ----------------------------------------------------------------------------------------------

def test_the_favicon_is_served(db):
    response = Client().get("/favicon.ico", follow=True)
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] in (b"\x00\x00\x01\x00", b"<svg") or body.startswith(b"<?xml")


def test_pages_link_the_icon(db):
    assert 'rel="icon"' in Client().get("/").content.decode()


# --- the home page knows what this consumer may still buy ------------------------------------------------

def test_the_home_page_says_the_limit_is_reached_instead_of_buy(consumer):
    campaign = CampaignFactory(per_consumer_limit=1)
    bought_wallet(consumer=consumer, campaign=campaign)  # limit 1, bought once
    client = logged_in(consumer.user)

    page = client.get("/", **EN).content.decode()
    assert "You have bought this the most times allowed (1)." in page
    assert f'action="/campaigns/{campaign.pk}/buy/"' not in page

    chinese = client.get("/", **ZH).content.decode()
    assert "您已达到该活动的购买上限（1 次）。" in chinese

    # …while someone else still sees Buy
    other = logged_in(ConsumerFactory().user).get("/", **EN).content.decode()
    assert f'action="/campaigns/{campaign.pk}/buy/"' in other


def test_the_home_page_says_a_sold_out_campaign_is_sold_out(consumer):
    campaign = CampaignFactory(stock=1, per_consumer_limit=5)
    bought_wallet(consumer=ConsumerFactory(), campaign=campaign)

    for client in (Client(), logged_in(consumer.user)):
        page = client.get("/", **EN).content.decode()
        assert "Sold out" in page and f'action="/campaigns/{campaign.pk}/buy/"' not in page
    assert "已售罄" in Client().get("/", **ZH).content.decode()


def test_a_consumer_under_the_limit_still_sees_buy(consumer):
    campaign = CampaignFactory(per_consumer_limit=2)
    bought_wallet(consumer=consumer, campaign=campaign)
    page = logged_in(consumer.user).get("/", **EN).content.decode()
    assert f'action="/campaigns/{campaign.pk}/buy/"' in page


# --- merchant API refuses consumers the same way everywhere ----------------------------------------------

MERCHANT_GETS = ["/api/v1/merchant/users/?account_name=alice", "/api/v1/merchant/campaigns/",
                 "/api/v1/merchant/withdrawals/", "/api/v1/merchant/withdrawals/?status=pending",
                 "/api/v1/merchant/summary/"]


@pytest.mark.parametrize("path", MERCHANT_GETS)
def test_a_consumer_is_refused_by_every_merchant_read(consumer, campaign, path):
    bought_wallet(consumer=consumer, campaign=campaign)
    response = client_for(consumer.user).get(path)
    assert response.status_code == 403
    assert response.json() == {"detail": "Only merchant staff can do this."}


def test_a_consumer_creating_a_campaign_is_refused_the_same_way(consumer, campaign):
    body = {"store": campaign.store.pk, "name": "mine", "pay_amount": "80", "credit_amount": "100",
            "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2030-01-01T00:00:00+08:00",
            "valid_until": "2031-01-01T00:00:00+08:00"}
    response = client_for(consumer.user).post("/api/v1/merchant/campaigns/", body, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only merchant staff can do this."}
    assert not Campaign.objects.filter(name="mine").exists()


@pytest.mark.parametrize("path", ["/api/v1/merchant/campaigns/{campaign}/end/",
                                  "/api/v1/merchant/withdrawals/{request}/refund/",
                                  "/api/v1/merchant/withdrawals/{request}/retention/"])
def test_a_consumer_naming_a_stores_object_is_told_it_is_not_found_and_nothing_changes(consumer, campaign, path):
    """SPEC §7: someone else's object answers 404, whoever asks (tests/api/test_isolation.py has the matrix)."""
    request = pending_request(consumer=consumer, campaign=campaign)
    body = {"message": "keep it"} if path.endswith("retention/") else {}
    response = client_for(consumer.user).post(path.format(campaign=campaign.pk, request=request.pk), body,
                                              format="json")
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == "pending" and not request.retention_messages.exists()
    assert Campaign.objects.get(pk=campaign.pk).ended_at is None


def test_staff_still_search_their_users(consumer, campaign):
    bought_wallet(consumer=consumer, campaign=campaign)
    staff = StaffFactory(store=campaign.store).user
    response = client_for(staff).get(f"/api/v1/merchant/users/?account_name={consumer.account_name}")
    assert response.status_code == 200 and response.json()[0]["account_name"] == consumer.account_name


# --- quiet start ------------------------------------------------------------------------------------------

def test_starting_a_process_prints_no_axes_banner():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "AXES" not in result.stdout + result.stderr
