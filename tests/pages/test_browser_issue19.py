"""Issue 19 in a real browser (Debian's Chromium), screenshots in artifacts/screenshots/: the consumer confirms a
withdrawal in one tab after paying an order in another, and user management after Refund now."""
import re

import pytest

from refunds.models import WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory
from tests.pages.helpers import bought_wallet, pending_request
from tests.pages.test_browser_flows import LANGUAGES, _log_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "correct-horse-battery"


def _context(chromium, language="en"):
    context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                   extra_http_headers={"Accept-Language": LANGUAGES[language]})
    context.set_default_timeout(15_000)
    return context


def test_a_withdrawal_confirmed_in_one_tab_after_an_order_in_another_is_shown_again_with_the_new_amounts(
        pages_server, chromium, screenshots_dir):
    # Given a consumer with "pay 80 get 100", 40.50 spent, logged in, with two tabs
    campaign = CampaignFactory()
    consumer = ConsumerFactory(account_name="Nia")
    wallet = bought_wallet(consumer=consumer, campaign=campaign, spend=4050)
    context = _context(chromium)
    preview, checkout = context.new_page(), context.new_page()
    preview.on("dialog", lambda dialog: dialog.accept())
    _log_in(preview, pages_server.url, "Nia", PASSWORD)

    # When the first tab shows the preview: withdraw 47.60 and let 11.90 lapse
    preview.goto(f"{pages_server.url}/me/allowance/{wallet.pk}/withdraw/")
    assert preview.get_by_test_id("preview-principal").inner_text() == "47.60"
    assert preview.get_by_test_id("preview-bonus").inner_text() == "11.90"

    # And the second tab pays a 7.00 order
    checkout.goto(f"{pages_server.url}/me/orders/")
    checkout.select_option("#id_store", str(campaign.store.pk))
    checkout.fill("#id_order_ref", "N-1")
    checkout.fill("#id_amount", "7.00")
    checkout.locator("form button[type=submit].btn-primary").first.click()
    checkout.wait_for_load_state()
    assert "Order N-1 paid" in checkout.locator(".messages").inner_text()

    # And the first tab confirms what it showed
    preview.get_by_role("button", name="Confirm withdrawal").click()
    preview.wait_for_url(re.compile(rf"/me/allowance/{wallet.pk}/withdraw/$"))
    preview.screenshot(path=str(screenshots_dir / "withdrawal-amount-changed.en.png"), full_page=True)

    # Then nothing was withdrawn: the page says the amounts changed and shows the new ones to confirm
    message = preview.locator(".messages").inner_text()
    assert "The amount has changed" in message and "42.00" in message and "10.50" in message
    assert preview.get_by_test_id("preview-principal").inner_text() == "42.00"
    assert preview.get_by_test_id("preview-bonus").inner_text() == "10.50"
    assert not WithdrawalRequest.objects.filter(wallet=wallet).exists()

    # And confirming again makes the request at the amount now shown
    preview.get_by_role("button", name="Confirm withdrawal").click()
    preview.wait_for_url(re.compile(r"/me/allowance/"))
    request = WithdrawalRequest.objects.get(wallet=wallet)
    assert (request.status, request.principal, request.bonus_lapsed) == ("pending", 4200, 1050)
    context.close()


def test_user_management_after_refund_now_shows_the_refund_in_both_languages(pages_server, chromium,
                                                                             screenshots_dir):
    # Given a pending request of 72.00 in the staff member's store
    campaign = CampaignFactory()
    StaffFactory(store=campaign.store, user__username="shopkeeper")
    pending_request(consumer=ConsumerFactory(account_name="Olu"), campaign=campaign)

    # When the staff member refunds it now from user management
    context = _context(chromium)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    _log_in(page, pages_server.url, "shopkeeper", PASSWORD)
    page.goto(f"{pages_server.url}/merchant/users/?account_name=olu")
    page.get_by_role("button", name="Refund now").first.click()
    page.wait_for_url(re.compile(r"/merchant/users/\?account_name=olu$"))

    # Then, in each language, the wallet shows the refund just made, not "no withdrawal request"
    for language, words in (("en", ("Last withdrawal request", "Refunded by the store", "72.00", "18.00")),
                            ("zh-hans", ("最近一次提现申请", "商家已退款", "72.00", "18.00"))):
        shown = _context(chromium, language).new_page()
        shown.context.add_cookies(context.cookies())
        shown.goto(f"{pages_server.url}/merchant/users/?account_name=olu")
        shown.screenshot(path=str(screenshots_dir / f"user-management-after-refund-now.{language}.png"),
                         full_page=True)
        last = shown.get_by_test_id("last-request").inner_text()
        assert all(word in last for word in words), last
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", last), last
        assert "No withdrawal request" not in shown.locator("main").inner_text()
        shown.context.close()
    context.close()
