"""Issue 15's visual rough edges in a real browser (Debian's Chromium), with screenshots in artifacts/screenshots/:
the admin refund list's "last error" at 1280 px, the home page once the limit is reached, and My Allowance's
badges and hold wording in Chinese."""
import pytest
from django.contrib.auth import get_user_model

from refunds.models import Refund
from refunds.services import withdrawal_request
from tests.factories import CampaignFactory, ConsumerFactory
from tests.pages.helpers import bought_wallet, pending_request
from tests.pages.test_browser_flows import LANGUAGES, _log_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

DESKTOP_1280 = {"width": 1280, "height": 900}
GATEWAY_ERROR = ("gateway timeout after 3 attempts: POST /refunds answered 504 Gateway Time-out from "
                 "sandbox-gateway; the payout stays unknown until it is checked again")


def _page(chromium, language, viewport=DESKTOP_1280):
    context = chromium.new_context(viewport=viewport, extra_http_headers={"Accept-Language": LANGUAGES[language]})
    context.set_default_timeout(15_000)
    return context.new_page()


def test_the_admin_refund_list_shows_the_whole_last_error_at_1280_px(pages_server, chromium, screenshots_dir):
    # Given a refund whose payout needs attention, with a long gateway error
    get_user_model().objects.create_superuser("admin", "admin@example.com", "admin")
    consumer = ConsumerFactory(account_name="Dora")
    wallet = bought_wallet(consumer=consumer, campaign=CampaignFactory())
    request = withdrawal_request(wallet=wallet, actor=consumer.user)
    Refund.objects.filter(request=request).update(payout_status="needs_attention", last_error=GATEWAY_ERROR,
                                                  payout_attempts=3)

    for language in ("en", "zh-hans"):
        # When an admin opens the refund list on a 1280 px screen
        page = _page(chromium, language)
        _log_in(page, pages_server.url, "admin", "admin")
        page.goto(f"{pages_server.url}/admin/refunds/refund/")
        page.screenshot(path=str(screenshots_dir / f"admin-refunds-1280.{language}.png"), full_page=True)

        # Then the whole error is on screen: the list does not scroll sideways, the error's cell lies inside
        # it, at least 14 characters wide, and clips nothing
        results = page.locator("#changelist .results")
        assert results.evaluate("el => el.scrollWidth <= el.clientWidth"), "the list scrolls sideways"
        cell = page.locator("#result_list td.field-error").first
        assert cell.inner_text().strip() == GATEWAY_ERROR
        box, frame = cell.bounding_box(), results.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"], (box, frame)
        assert box["width"] >= 150 and cell.evaluate("el => el.scrollWidth <= el.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP_1280["width"]
        page.context.close()


def test_home_and_my_allowance_read_right_in_both_languages(pages_server, chromium, screenshots_dir, settings):
    # Given a consumer who bought a one-per-person campaign, spent from it and asked to withdraw (a frozen
    # wallet with a pending request), and a sold-out campaign
    settings.WITHDRAWAL_HOLD_SECONDS = 7200
    consumer = ConsumerFactory(account_name="Erin")
    pending_request(consumer=consumer, campaign=CampaignFactory(name="one per person", per_consumer_limit=1))
    sold_out = CampaignFactory(name="last one", stock=1)
    bought_wallet(consumer=ConsumerFactory(), campaign=sold_out)
    wallet = bought_wallet(consumer=consumer, campaign=CampaignFactory(name="pay 80 get 100"), spend=1000)

    for language in ("en", "zh-hans"):
        page = _page(chromium, language, {"width": 390, "height": 844})
        _log_in(page, pages_server.url, "Erin", "correct-horse-battery")
        page.goto(f"{pages_server.url}/")
        page.screenshot(path=str(screenshots_dir / f"home-limit-reached.{language}.png"), full_page=True)
        assert page.get_by_test_id("limit-reached").count() == 1
        assert page.get_by_test_id("sold-out").count() == 1

        page.goto(f"{pages_server.url}/me/allowance/")
        page.screenshot(path=str(screenshots_dir / f"my-allowance-badges.{language}.png"), full_page=True)
        badges = page.locator(".badge").all_inner_texts()
        if language == "zh-hans":
            assert "已冻结" in badges and not any(b.islower() for b in badges), badges

        page.goto(f"{pages_server.url}/me/allowance/{wallet.pk}/withdraw/")
        page.screenshot(path=str(screenshots_dir / f"withdrawal-preview-2h-hold.{language}.png"), full_page=True)
        assert ("2 hours" if language == "en" else "2 小时") in page.get_by_test_id("preview-when").inner_text()
        page.context.close()
