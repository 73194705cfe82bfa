"""The pages in a real browser (Debian's Chromium driven by Playwright) against a live server.

One story, as the issue tells it: a consumer registers, buys, spends, asks for a withdrawal and cancels it;
an unspent allowance is withdrawn at once; merchant staff find the consumer, send a retention message and
refund now; the consumer sees both. Screenshots of the main pages in both languages go to
artifacts/screenshots/.
"""
import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from allowance.models import Campaign
from merchants.models import Store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WIDE = {"width": 1600, "height": 900}  # the admin's changelist next to its sidebar and filters
LANGUAGES = {"en": "en", "zh-hans": "zh-Hans,zh;q=0.9"}


def _context(chromium, language, viewport):
    context = chromium.new_context(viewport=viewport, extra_http_headers={"Accept-Language": LANGUAGES[language]})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm dialogs: the user says yes
    return page


def _log_in(page, base, username, password):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("form button[type=submit].btn-primary").click()
    page.wait_for_load_state()


def _wallet(page, store_campaign):
    return page.locator("article.wallet", has_text=store_campaign)


def _shoot(pages: dict, path: str, name: str, base: str, screenshots_dir):
    """Open the same page in each language and keep a full-page screenshot of it."""
    for language, page in pages.items():
        page.goto(f"{base}{path}")
        page.screenshot(path=str(screenshots_dir / f"{name}.{language}.png"), full_page=True)


def test_consumer_and_merchant_story_in_a_real_browser(pages_server, chromium, screenshots_dir):
    # Given the demo data and a second, cheaper campaign in the demo store
    call_command("seed_demo", "--force", stdout=open("/dev/null", "w"))
    store = Store.objects.get(name="Demo Store")
    now = timezone.now()
    Campaign.objects.create(
        store=store, name="pay 100 get 110", pay_amount=10000, credit_amount=11000, starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30), valid_until=now + timedelta(days=200), per_consumer_limit=1,
    )
    base = pages_server.url

    # When a consumer registers and buys the demo campaign
    carol = _context(chromium, "en", PHONE)
    carol.goto(f"{base}/accounts/register/")
    carol.fill("#id_account_name", "Carol")
    carol.fill("#id_password", "plum-tree-lantern-9")
    carol.fill("#id_password_again", "plum-tree-lantern-9")
    carol.locator("form button[type=submit].btn-primary").click()
    carol.wait_for_url(f"{base}/")
    carol.locator("article.campaign", has_text="pay 80 get 100").get_by_role("button").click()
    carol.wait_for_url(re.compile(r"/me/allowance/"))

    # Then My Allowance shows 80.00 of principal and 20.00 of bonus
    wallet = _wallet(carol, "pay 80 get 100")
    assert wallet.get_by_test_id("principal").inner_text() == "80.00"
    assert wallet.get_by_test_id("bonus").inner_text() == "20.00"

    # When she pays a 10.00 order with it, the split follows: 72.00 / 18.00
    carol.goto(f"{base}/me/orders/")
    carol.fill("#id_order_ref", "A-1001")
    carol.fill("#id_amount", "10.00")
    carol.locator("form.form-grid button[type=submit]").click()
    carol.wait_for_load_state()
    assert "A-1001" in carol.locator("article.order").first.inner_text()
    carol.goto(f"{base}/me/allowance/")
    wallet = _wallet(carol, "pay 80 get 100")
    assert wallet.get_by_test_id("principal").inner_text() == "72.00"
    assert wallet.get_by_test_id("bonus").inner_text() == "18.00"
    assert wallet.get_by_test_id("total").inner_text() == "90.00"

    # And the Chinese page, asked for by the browser's language, uses the product's words
    carol_zh = _context(chromium, "zh-hans", PHONE)
    _log_in(carol_zh, base, "carol", "plum-tree-lantern-9")  # any letter case logs in
    carol_zh.goto(f"{base}/me/allowance/")
    text = carol_zh.locator("body").inner_text()
    for word in ("膨胀金", "本金", "权益金", "申请提现"):
        assert word in text

    # When she applies for a withdrawal, the preview says what comes back, what lapses, and that it is held
    wallet.get_by_role("link", name="Apply for withdrawal").click()
    carol.wait_for_url(re.compile(r"/withdraw/$"))
    assert carol.get_by_test_id("preview-principal").inner_text() == "72.00"
    assert carol.get_by_test_id("preview-bonus").inner_text() == "18.00"
    assert "48 hours" in carol.get_by_test_id("preview-when").inner_text()
    confirm_path = carol.url.removeprefix(base)
    _shoot({"zh-hans": carol_zh}, confirm_path, "withdrawal-confirmation", base, screenshots_dir)
    carol.screenshot(path=str(screenshots_dir / "withdrawal-confirmation.en.png"), full_page=True)

    # And confirms: the request is pending with a live countdown
    carol.get_by_role("button", name="Confirm withdrawal").click()
    carol.wait_for_url(re.compile(r"/me/allowance/"))
    pending = _wallet(carol, "pay 80 get 100").get_by_test_id("pending-request")
    countdown = pending.locator(".countdown")
    first = countdown.inner_text()
    assert re.fullmatch(r"1 d 23:59:\d\d|2 d 00:00:00", first), first
    time.sleep(1.6)
    assert countdown.inner_text() != first  # it ticks in the page, without a reload

    # When she cancels, the allowance can be used again
    pending.get_by_role("button", name="Cancel request").click()
    carol.wait_for_url(re.compile(r"/me/allowance/"))
    assert "Withdrawal request cancelled" in carol.locator(".messages").inner_text()
    assert _wallet(carol, "pay 80 get 100").locator(".badge").first.inner_text() == "active"

    # When she buys the second campaign and withdraws it unspent, it is refunded at once
    carol.goto(f"{base}/")
    carol.locator("article.campaign", has_text="pay 100 get 110").get_by_role("button").click()
    carol.wait_for_url(re.compile(r"/me/allowance/"))
    _wallet(carol, "pay 100 get 110").get_by_role("link", name="Apply for withdrawal").click()
    assert "instant" in carol.get_by_test_id("preview-when").inner_text()
    carol.get_by_role("button", name="Confirm withdrawal").click()
    carol.wait_for_url(re.compile(r"/me/allowance/"))
    unspent = _wallet(carol, "pay 100 get 110")
    assert unspent.locator(".badge").first.inner_text() == "closed"
    assert unspent.get_by_test_id("principal").inner_text() == "0.00"
    past = unspent.get_by_test_id("past-request").first.inner_text()
    assert "refunded" in past and "100.00" in past and "succeeded" in past

    # And she asks again for the spent one, which waits for the store
    _wallet(carol, "pay 80 get 100").get_by_role("link", name="Apply for withdrawal").click()
    carol.get_by_role("button", name="Confirm withdrawal").click()
    carol.wait_for_url(re.compile(r"/me/allowance/"))
    _shoot({"en": carol, "zh-hans": carol_zh}, "/me/allowance/", "my-allowance", base, screenshots_dir)

    # When merchant staff log in they land on the merchant page, and find her by another letter case
    merchant = _context(chromium, "en", DESKTOP)
    merchant_zh = _context(chromium, "zh-hans", DESKTOP)
    _log_in(merchant, base, "merchant", "merchant")
    assert merchant.url == f"{base}/merchant/"
    assert merchant.get_by_test_id("pending-count").inner_text() == "1"
    _log_in(merchant_zh, base, "merchant", "merchant")
    merchant.goto(f"{base}/merchant/users/")
    merchant.fill("#id_account_name", "cAROL")
    merchant.get_by_role("button", name="Search").click()
    match = merchant.get_by_test_id("match")
    assert match.locator("h2").inner_text() == "Carol"
    assert re.search(r"time left\s+1 d 23:59:\d\d", match.inner_text())

    # And send a retention message
    match.locator("textarea[name=message]").fill("Keep it: a free gift comes with your next order!")
    match.get_by_role("button", name="Send retention message").click()
    merchant.wait_for_load_state()
    assert "Message sent to Carol" in merchant.locator(".messages").inner_text()
    _shoot({"en": merchant, "zh-hans": merchant_zh}, "/merchant/users/?account_name=carol", "user-management",
           base, screenshots_dir)

    # Then the consumer sees the message, with "Keep my allowance"
    carol.goto(f"{base}/me/allowance/")
    pending = _wallet(carol, "pay 80 get 100").get_by_test_id("pending-request")
    assert "a free gift comes with your next order" in pending.get_by_test_id("retention-message").inner_text()
    assert pending.get_by_role("button", name="Keep my allowance").is_visible()

    # When the staff refund now (after the confirm dialog)
    merchant.goto(f"{base}/merchant/users/?account_name=CAROL")
    merchant.get_by_test_id("match").get_by_role("button", name="Refund now").click()
    merchant.wait_for_load_state()
    assert "Refunded 72.00 to Carol; 18.00 of bonus lapsed." in merchant.locator(".messages").inner_text()
    assert merchant.get_by_test_id("pending-row").count() == 0

    # Then the consumer sees the refund, its payout, and the message that came with the request
    carol.goto(f"{base}/me/allowance/")
    spent = _wallet(carol, "pay 80 get 100")
    assert spent.locator(".badge").first.inner_text() == "closed"
    history = spent.locator("details.history").first  # open: the wallet is closed, its refund is the news
    refunded = history.get_by_test_id("past-request").first.inner_text()
    assert "Refunded by the store" in refunded and "72.00" in refunded and "succeeded" in refunded
    assert "a free gift comes with your next order" in history.inner_text()

    # And the admin changelist of withdrawal requests, in both languages
    admin_en = _context(chromium, "en", WIDE)
    admin_zh = _context(chromium, "zh-hans", WIDE)
    for page in (admin_en, admin_zh):
        _log_in(page, base, "admin", "admin")
    _shoot({"en": admin_en, "zh-hans": admin_zh}, "/admin/refunds/withdrawalrequest/", "admin-changelist", base,
           screenshots_dir)
    assert "Carol" in admin_en.locator("#result_list").inner_text()
    assert "提现申请" in admin_zh.locator("body").inner_text()
    for page in (carol, carol_zh, merchant, merchant_zh, admin_en, admin_zh):
        page.context.close()
