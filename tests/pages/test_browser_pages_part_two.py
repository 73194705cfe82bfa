"""Issue 21 (the pages as people use them, part two) in a real browser (Debian's Chromium via Playwright), with
screenshots in artifacts/screenshots/: no table header, button or date of the merchant pages breaks inside a word
in Chinese (or English) at 1280 px and 390 px; one confirm dialog on a double click; the countdown at zero; a
64-character order reference inside its card; the error and lockout pages in both languages."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model

from allowance.models import Campaign
from allowance.services import order_spend
from refunds.services import withdrawal_refund_due
from tests.factories import CampaignFactory, ConsumerFactory
from tests.pages.helpers import bought_wallet, pending_request
from tests.pages.test_browser_flows import LANGUAGES, _log_in
from tests.pages.test_browser_insights import _a_week_of_business

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DESKTOP_1280 = {"width": 1280, "height": 900}
PHONE_390 = {"width": 390, "height": 844}
# What must never break inside a word: table headers, buttons, badges, dates, amounts, countdowns, tabs.
UNBREAKABLE = "th, .btn, button, .badge, .date, .table td.num, .countdown, .tabs a"

# For each element: the line breaks inside its text (a character whose box starts below the one before it), and
# whether each falls at a space or a punctuation mark (allowed: "Outstanding / principal") or inside a word
# (已/售, 2027-/06-30). Collapsed spaces have no box: the next character remembers that one (or a <br>) came
# before it.
MID_WORD_BREAKS = """(selector) => {
  const bad = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length) continue;  // not shown
    const chars = [];
    let spaceBefore = false;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeType === Node.ELEMENT_NODE) {  // a <br> is a line break the page asks for
        if (node.tagName === "BR") spaceBefore = true;
        continue;
      }
      for (let i = 0; i < node.data.length; i++) {
        const ch = node.data[i];
        if (/\\s/.test(ch)) { spaceBefore = true; continue; }
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect) continue;
        chars.push({ch, top: rect.top, height: rect.height, spaceBefore});
        spaceBefore = false;
      }
    }
    for (let i = 1; i < chars.length; i++) {
      const before = chars[i - 1], here = chars[i];
      if (here.top > before.top + before.height / 2
          && !here.spaceBefore && !/[\\/·,，、;；:：)）]/.test(before.ch) && !/[(（\\/·]/.test(here.ch)) {
        bad.push(el.tagName + " «" + el.textContent.trim().replace(/\\s+/g, " ") + "» breaks between «"
                 + before.ch + "» and «" + here.ch + "»");
      }
    }
  }
  return bad;
}"""


def _page(chromium, language, viewport):
    context = chromium.new_context(viewport=viewport, extra_http_headers={"Accept-Language": LANGUAGES[language]})
    context.set_default_timeout(30_000)
    return context.new_page()


def test_no_header_button_or_date_of_the_merchant_or_consumer_pages_breaks_inside_a_word(pages_server, chromium,
                                                                                          screenshots_dir):
    # Given the demo store after a week of business, with a campaign whose name is long (alice has bought it)
    store = _a_week_of_business()
    long_name = ("Spring festival allowance for the members of the store's loyalty club, pay 80 get 100, "
                 "春节会员专享膨胀金活动")
    long_one = Campaign.objects.get(store=store, name="pay 80 get 100")
    Campaign.objects.filter(pk=long_one.pk).update(name=long_name)
    pages = {"dashboard": "/merchant/", "insights": "/merchant/insights/", "users": "/merchant/users/?account_name=a"}

    for language in ("zh-hans", "en"):
        for width, viewport in ((1280, DESKTOP_1280), (390, PHONE_390)):
            # When the merchant opens the dashboard, insights and user management at that width
            page = _page(chromium, language, viewport)
            _log_in(page, pages_server.url, "merchant", "merchant")
            for name, path in pages.items():
                page.goto(pages_server.url + path)
                page.screenshot(path=str(screenshots_dir / f"nowrap-{name}-{width}.{language}.png"), full_page=True)

                # Then no header, button, badge, date or amount breaks inside a word
                assert page.locator(UNBREAKABLE).count() > 3, (name, width, language)
                assert page.evaluate(MID_WORD_BREAKS, UNBREAKABLE) == [], (name, width, language)
                # ... and nothing made the page wider than the screen (wide tables scroll inside their card)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width, language)
                # ... and a long campaign name carries its full text in its title
                if name in ("dashboard", "insights"):
                    assert page.locator(f'td.name[title="{long_name}"]').count() >= 1, (name, language)
            page.context.close()

            # ... and the same holds for a consumer's pages
            page = _page(chromium, language, viewport)
            _log_in(page, pages_server.url, "alice", "alice")
            for name, path in {"home": "/", "my-allowance": "/me/allowance/", "orders": "/me/orders/"}.items():
                page.goto(pages_server.url + path)
                page.screenshot(path=str(screenshots_dir / f"nowrap-{name}-{width}.{language}.png"), full_page=True)
                assert page.evaluate(MID_WORD_BREAKS, UNBREAKABLE) == [], (name, width, language)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width, language)
            page.context.close()


def test_a_double_click_on_buy_shows_one_dialog_and_the_button_waits_while_it_is_open(pages_server, chromium):
    # Given a consumer on the home page with one campaign on sale
    campaign = CampaignFactory(name="double click", per_consumer_limit=5)
    ConsumerFactory(account_name="Ivy")
    for language in ("en", "zh-hans"):
        page = _page(chromium, language, PHONE_390)
        _log_in(page, pages_server.url, "Ivy", "correct-horse-battery")
        page.goto(pages_server.url + "/")
        buy = page.locator(f'form[action$="/campaigns/{campaign.pk}/buy/"] button')

        # When they double-click Buy and say no
        dialogs = []
        page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        buy.dblclick()
        page.wait_for_timeout(800)

        # Then one dialog was shown, nothing was bought, and the button works again afterwards
        assert len(dialogs) == 1, dialogs
        campaign.refresh_from_db()
        assert campaign.sold_count == (0 if language == "en" else 1)

        # When they double-click again and say yes
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        with page.expect_navigation():
            buy.dblclick()

        # Then one more dialog, and one purchase
        assert len(dialogs) == 2, dialogs
        campaign.refresh_from_db()
        assert campaign.sold_count == (1 if language == "en" else 2)
        page.context.close()


def test_the_countdown_at_zero_says_the_refund_is_being_made_and_the_page_then_shows_it(pages_server, chromium,
                                                                                        settings, screenshots_dir):
    # Given a consumer whose held withdrawal request is due in a few seconds
    settings.WITHDRAWAL_HOLD_SECONDS = 5
    consumer = ConsumerFactory(account_name="Jun")
    request = pending_request(consumer=consumer, campaign=CampaignFactory(name="held"))
    page = _page(chromium, "zh-hans", PHONE_390)
    _log_in(page, pages_server.url, "Jun", "correct-horse-battery")
    page.goto(pages_server.url + "/me/allowance/")
    countdown = page.locator("[data-testid=pending-request] .countdown")

    # When the countdown reaches zero
    page.wait_for_function("() => document.querySelector('.countdown').textContent.includes('正在退款')",
                           timeout=15_000)

    # Then it says that the refund is being made (no "自动退款倒计时" before it, no 00:00:00)
    line = page.locator("[data-testid=pending-request] .countdown-line").inner_text()
    assert "正在退款" in countdown.inner_text() and "00:00:00" not in line and "倒计时" not in line, line
    page.screenshot(path=str(screenshots_dir / "countdown-at-zero.zh-hans.png"), full_page=True)

    # When the beat's sweep refunds it (the page counts down whole seconds, so it may reach zero a little early)
    assert withdrawal_refund_due(now=request.due_at + timedelta(seconds=1)) == 1

    # Then the page refreshes by itself and shows the refund, with no reload by the user
    page.wait_for_selector("[data-testid=pending-request]", state="detached", timeout=40_000)
    request.refresh_from_db()
    assert request.status == "refunded"
    assert page.get_by_test_id("request-outcome").first.inner_text() == "系统已自动退款"
    page.context.close()


def test_a_64_character_order_reference_stays_inside_its_card(pages_server, chromium, screenshots_dir):
    consumer = ConsumerFactory(account_name="Kai")
    wallet = bought_wallet(consumer=consumer, campaign=CampaignFactory())
    reference = "ORDER-" + "7" * 58
    order_spend(consumer=consumer, store=wallet.store, order_ref=reference, amount=500)
    for language in ("en", "zh-hans"):
        page = _page(chromium, language, PHONE_390)
        _log_in(page, pages_server.url, "Kai", "correct-horse-battery")
        page.goto(pages_server.url + "/me/orders/")
        page.screenshot(path=str(screenshots_dir / f"orders-long-ref.{language}.png"), full_page=True)
        card = page.get_by_test_id("order").first.bounding_box()
        title = page.get_by_test_id("order").first.locator("h2").bounding_box()
        assert title["x"] + title["width"] <= card["x"] + card["width"], (title, card)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        page.context.close()


def test_error_and_lockout_pages_in_both_languages(pages_server, chromium, screenshots_dir, settings):
    settings.AXES_FAILURE_LIMIT = 2
    ConsumerFactory(account_name="Lin")
    for language, words in [("en", ("Page not found", "Account locked for now")),
                            ("zh-hans", ("页面不存在", "账户暂时锁定"))]:
        page = _page(chromium, language, PHONE_390)
        response = page.goto(pages_server.url + "/merchant/nothing-here/")
        assert response.status == 404 and words[0] in page.locator("h1").inner_text()
        page.screenshot(path=str(screenshots_dir / f"error-404.{language}.png"), full_page=True)
        for _ in range(3):
            _log_in(page, pages_server.url, "Lin", "wrong password")
        assert words[1] in page.locator("h1").inner_text()
        # the page is styled: the site's stylesheet is loaded and the top bar is there
        assert page.locator(".topbar").count() == 1
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
        page.screenshot(path=str(screenshots_dir / f"locked-out.{language}.png"), full_page=True)
        page.context.close()
        AccessAttempt.objects.all().delete()  # the next language starts unlocked


def test_a_long_campaign_title_in_the_admin_does_not_run_under_the_history_button(pages_server, chromium,
                                                                                    screenshots_dir):
    get_user_model().objects.create_superuser("admin", "admin@example.com", "admin")
    campaign = CampaignFactory(name="Spring festival allowance for the members of the store's loyalty club, "
                                    "pay 80 get 100, 春节会员专享膨胀金活动，限时供应")
    for language in ("en", "zh-hans"):
        page = _page(chromium, language, DESKTOP_1280)
        _log_in(page, pages_server.url, "admin", "admin")
        page.goto(f"{pages_server.url}/admin/allowance/campaign/{campaign.pk}/change/")
        page.screenshot(path=str(screenshots_dir / f"admin-long-campaign-title.{language}.png"), full_page=True)
        title = page.locator("#content h2").first.bounding_box()
        tools = page.locator(".object-tools").first.bounding_box()
        overlap_x = min(title["x"] + title["width"], tools["x"] + tools["width"]) - max(title["x"], tools["x"])
        overlap_y = min(title["y"] + title["height"], tools["y"] + tools["height"]) - max(title["y"], tools["y"])
        assert overlap_x <= 0 or overlap_y <= 0, (title, tools)
        # ... and the button is the admin's "History" (历史), not the dashboard's "past campaigns" tab (历史活动)
        assert page.locator(".object-tools").inner_text().strip().lower() == {"en": "history", "zh-hans": "历史"}[language]
        page.context.close()
