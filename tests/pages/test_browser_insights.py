"""Campaign insights, a finance export and the expiry notice in a real browser (Chromium via Playwright), in
English and Chinese. Screenshots go to artifacts/screenshots/ (insights.*, my-allowance-expiring.*)."""
import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from allowance.models import Campaign
from allowance.services import campaign_purchase, order_spend
from consumers.models import Consumer
from merchants.models import Store
from refunds import services
from tests.pages.test_browser_flows import DESKTOP, PHONE, _context, _log_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _a_week_of_business():
    """The demo store after some business: sales, spending, each kind of withdrawal, a campaign about to end."""
    call_command("seed_demo", "--force", stdout=open("/dev/null", "w"))
    store = Store.objects.get(name="Demo Store")
    demo = Campaign.objects.get(store=store, name="pay 80 get 100")
    now = timezone.now()
    short = Campaign.objects.create(
        store=store, name="pay 100 get 110", pay_amount=10000, credit_amount=11000, starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=2), valid_until=now + timedelta(days=5), per_consumer_limit=1,
    )
    staff = store.memberships.first().user
    alice, bob = Consumer.objects.get(account_name="alice"), Consumer.objects.get(account_name="bob")
    for consumer, campaign in [(alice, demo), (bob, demo), (alice, short)]:
        campaign_purchase(campaign=campaign, consumer=consumer)
    order_spend(consumer=alice, store=store, order_ref="B-1", amount=3000)
    order_spend(consumer=bob, store=store, order_ref="B-2", amount=1000)
    bob_wallet = bob.wallets.get(campaign=demo)
    request = services.withdrawal_request(wallet=bob_wallet.pk, actor=bob.user)
    services.withdrawal_retention_message(request=request, actor=staff, message="Keep it, a gift awaits")
    services.withdrawal_refund(request=request, actor=staff)
    return store


def _download_csv(page, test_id) -> list[list[str]]:
    with page.expect_download() as info:
        page.get_by_test_id(test_id).click()
    with open(info.value.path(), encoding="utf-8-sig") as handle:
        return list(csv.reader(io.StringIO(handle.read())))


def test_insights_and_a_refunds_export_in_both_languages(pages_server, chromium, screenshots_dir):
    _a_week_of_business()
    base = pages_server.url

    for language, words in [("en", ("Campaign insights", "Day by day", "Sold")),
                            ("zh-hans", ("活动数据", "逐日走势", "已售"))]:
        page = _context(chromium, language, DESKTOP)
        page.context.set_default_timeout(30_000)
        _log_in(page, base, "merchant", "merchant")
        page.get_by_role("navigation", name="Main" if language == "en" else "主导航").get_by_role(
            "link", name="Insights" if language == "en" else "数据").click()
        page.wait_for_url(f"{base}/merchant/insights/")
        body = page.locator("body").inner_text()
        for text in words:
            assert text in body
        assert page.get_by_test_id("sold-count").inner_text() == "3"
        assert page.get_by_test_id("spent").inner_text() == "40.00"
        assert page.get_by_test_id("retention-rate").inner_text() == "0%"
        assert page.locator("svg.chart polyline").count() == 4
        page.screenshot(path=str(screenshots_dir / f"insights.{language}.png"), full_page=True)

        # The page's export is in the page's language (issue 21); ?lang-less URLs keep the fixed names and codes
        rows = _download_csv(page, "export-refunds")
        header, resolution = {"en": (["Refund ID", "Created at", "Kind"], "refunded by the merchant"),
                              "zh-hans": (["退款编号", "创建时间", "类型"], "商家退款")}[language]
        assert rows[0][:3] == header
        assert [(r[5], r[8], r[4]) for r in rows[1:]] == [("bob", "72.00", resolution)]
        page.context.close()


def test_my_allowance_shows_the_expiry_notice_in_both_languages(pages_server, chromium, screenshots_dir):
    _a_week_of_business()
    base = pages_server.url
    for language, text in [("en", "will be refunded automatically"), ("zh-hans", "自动退回")]:
        page = _context(chromium, language, PHONE)
        _log_in(page, base, "alice", "alice")
        page.goto(f"{base}/me/allowance/")
        notice = page.get_by_test_id("expiry-notice")
        assert notice.count() == 1 and text in notice.inner_text()
        page.screenshot(path=str(screenshots_dir / f"my-allowance-expiring.{language}.png"), full_page=True)
        page.context.close()
