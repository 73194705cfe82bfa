"""Issue 21 (the pages as people use them, part two) through the Django test client: the product's own error and
lockout pages in both languages, registration showing every error at once, account names in any script, full-width
digits, staff on the home page, past-request badges, the insights campaign filter, the campaign terms in Chinese and
the admin's login-protection app in Chinese. The browser half is test_browser_pages_part_two.py."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from django.urls import get_resolver
from django.utils import translation

from allowance.models import Order
from consumers.models import Consumer
from refunds.services import withdrawal_cancel, withdrawal_retention_message
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory
from tests.pages.helpers import bought_wallet, pending_request

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.mark.parametrize("headers, title, way_back", [(EN, "Page not found", "Back to the stores"),
                                                      (ZH, "页面不存在", "返回店铺列表")])
def test_unknown_and_wrong_role_urls_show_the_products_404_page_in_the_visitors_language(db, headers, title,
                                                                                         way_back):
    # Given a consumer (who has no business on the merchant pages) and a visitor
    consumer = ConsumerFactory()
    signed_in = Client()
    signed_in.force_login(consumer.user)

    for client, path in [(Client(), "/no/such/page/"), (signed_in, "/merchant/"), (signed_in, "/merchant/insights/")]:
        # When they open an unknown address, or one for another role
        response = client.get(path, **headers)

        # Then they get the product's page (with the top bar and a way back), not Django's
        assert response.status_code == 404, path
        page = response.content.decode()
        assert 'data-testid="error-page"' in page and title in page and way_back in page, path
        assert "css/site.css" in page and "Django" not in page


@pytest.mark.parametrize("language, title", [("en", "Not allowed"), ("zh-hans", "无权访问")])
def test_the_403_and_500_handlers_render_the_products_pages(db, language, title):
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()
    with translation.override(language):
        forbidden = get_resolver().resolve_error_handler(403)(request, exception=None)
        broken = get_resolver().resolve_error_handler(500)(request)
    assert forbidden.status_code == 403 and title in forbidden.content.decode()
    assert broken.status_code == 500
    assert ("Something went wrong" if language == "en" else "出错了") in broken.content.decode()
    assert f'<html lang="{language}">' in broken.content.decode()


def test_a_form_sent_without_its_csrf_token_gets_the_products_403_page(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x", "password": "y"}, **ZH)
    assert response.status_code == 403
    assert "表单已失效" in response.content.decode()


@pytest.mark.parametrize("headers, words", [(EN, ["Account locked for now", "Back to log in", "Try again in"]),
                                            (ZH, ["账户暂时锁定", "返回登录", "分钟后重试"])])
def test_the_lockout_page_is_styled_and_in_the_visitors_language(db, settings, headers, words):
    # Given an account and a limit of two failed logins
    settings.AXES_FAILURE_LIMIT = 2
    ConsumerFactory(account_name="Hana")
    client = Client()

    # When the wrong password is tried until the account is locked
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "Hana", "password": "wrong"}, **headers)

    # Then the lockout page is the product's, in the visitor's language, with no English left in the Chinese one
    assert response.status_code == 429
    page = response.content.decode()
    assert 'data-testid="locked-out"' in page and "css/site.css" in page
    assert all(word in page for word in words), page
    if headers is ZH:
        assert "Locked out" not in page and "Back to log in" not in page


def test_registration_shows_every_problem_at_once(db):
    # When someone sends a one-letter name, a short password and a different second password
    response = Client().post("/accounts/register/", {"account_name": "a", "password": "123",
                                                     "password_again": "456"}, **EN)

    # Then the name, the password's strength and the mismatch are all reported together
    errors = response.context["form"].errors
    assert set(errors) == {"account_name", "password", "password_again"}, errors
    assert "2–64 characters" in errors["account_name"][0]
    assert not Consumer.objects.exists()


def test_registration_reports_a_taken_name_together_with_the_password_problems(db):
    # Given an account "Zoë"
    ok = Client().post("/accounts/register/", {"account_name": "Zoë", "password": "a long passphrase",
                                               "password_again": "a long passphrase"}, **EN)
    assert ok.status_code == 302
    # When someone else sends "ZOË" with a short password typed differently twice
    response = Client().post("/accounts/register/", {"account_name": "ZOË", "password": "123",
                                                     "password_again": "456"}, **EN)

    # Then the taken name is reported beside the password problems, not after they are mended
    errors = response.context["form"].errors
    assert set(errors) == {"account_name", "password", "password_again"}, errors
    assert "already taken" in errors["account_name"][0]
    assert Consumer.objects.count() == 1


def test_a_chinese_account_name_is_accepted_and_names_stay_unique_whatever_the_letter_case(db):
    client = Client()
    for name in ("张伟", "Zoë"):
        response = client.post("/accounts/register/", {"account_name": name, "password": "a long passphrase",
                                                        "password_again": "a long passphrase"}, **ZH)
        assert response.status_code == 302, response.context["form"].errors
        client.logout()
    taken = client.post("/accounts/register/", {"account_name": "ZOË", "password": "a long passphrase",
                                                "password_again": "a long passphrase"}, **ZH)
    assert taken.status_code == 200 and "account_name" in taken.context["form"].errors
    assert sorted(Consumer.objects.values_list("account_name", flat=True)) == ["Zoë", "张伟"]
    # ... and the help text says what is allowed, with a Chinese name as its example
    assert "任何文字的字母（如 张伟" in client.get("/accounts/register/", **ZH).content.decode()


def test_full_width_digits_are_accepted_as_an_amount_and_normalised(db):
    # Given a consumer with 100.00 of allowance
    consumer = ConsumerFactory()
    wallet = bought_wallet(consumer=consumer, campaign=CampaignFactory())
    client = Client()
    client.force_login(consumer.user)

    # When they pay an order typing the amount on a Chinese keyboard
    response = client.post("/me/orders/", {"store": wallet.store.pk, "order_ref": "fw-1", "amount": "１２．５"}, **ZH)

    # Then it is 12.50 yuan
    assert response.status_code == 302
    assert Order.objects.get(order_ref="fw-1").amount == 1250
    wallet.refresh_from_db()
    assert wallet.principal + wallet.bonus == 10000 - 1250


def test_staff_see_that_buying_is_for_consumers_instead_of_a_buy_button(db):
    campaign = CampaignFactory()
    staff = StaffFactory(store=campaign.store).user
    client = Client()
    client.force_login(staff)
    for headers, note in [(EN, "Buying is for consumer accounts"), (ZH, "只有消费者账户可以购买")]:
        page = client.get("/", **headers).content.decode()
        assert note in page and 'data-testid="consumers-only"' in page
        assert f"/campaigns/{campaign.pk}/buy/" not in page
    # ... while a consumer still sees the Buy button
    shopper = Client()
    shopper.force_login(ConsumerFactory().user)
    assert f"/campaigns/{campaign.pk}/buy/" in shopper.get("/").content.decode()


def test_past_request_badges_read_as_phrases_in_one_style(db):
    # Given one request cancelled and one kept after the store's message
    consumer = ConsumerFactory()
    cancelled = pending_request(consumer=consumer, campaign=CampaignFactory())
    withdrawal_cancel(request=cancelled, actor=consumer.user)
    other_store = CampaignFactory()  # in a store of its own: the spend lands on this wallet, so it is held
    staff = StaffFactory(store=other_store.store).user
    second = pending_request(consumer=consumer, campaign=other_store)
    withdrawal_retention_message(request=second, actor=staff, message="Stay with us")
    withdrawal_cancel(request=second, actor=consumer.user)
    client = Client()
    client.force_login(consumer.user)

    # Then both badges are phrases starting with a capital, like "Refunded by the store"
    badges = [b for b in client.get("/me/allowance/", **EN).context["wallets"]
              for b in [r.outcome_display for r in b.past_requests]]
    assert sorted(badges) == ["Cancelled by the consumer", "Kept after the store's message"], badges
    page = client.get("/me/allowance/", **ZH).content.decode()
    assert "消费者已撤销" in page and "收到商家消息后已保留" in page
    assert "商家消息：" in page and "（" in page


def test_the_insights_campaign_filter_tells_same_named_campaigns_apart(db):
    first = CampaignFactory(name="Pay 80 get 100")
    second = CampaignFactory(name="Pay 80 get 100", store=first.store)
    client = Client()
    client.force_login(StaffFactory(store=first.store).user)
    choices = dict(client.get("/merchant/insights/").context["form"].fields["campaign"].choices)
    labels = [choices[first.pk], choices[second.pk]]
    assert labels[0] != labels[1]
    assert all(f"#{c.pk}" in label and c.starts_at.astimezone().strftime("%Y") in label
               for c, label in zip((first, second), labels)), labels


def test_the_chinese_pages_use_one_pair_of_campaign_terms(db):
    campaign = CampaignFactory()
    client = Client()
    client.force_login(StaffFactory(store=campaign.store).user)
    form = client.get("/merchant/campaigns/new/", **ZH).content.decode()
    assert "支付（元）" in form and "到账（元）" in form and "充值" not in form and "得到" not in form
    dashboard = client.get("/merchant/", **ZH).content.decode()
    assert "<th class=\"num\">支付</th>" in dashboard and "<th class=\"num\">到账</th>" in dashboard
    refused = client.post("/merchant/campaigns/new/", {
        "store": campaign.store.pk, "name": "bad", "pay_amount": "100", "credit_amount": "90",
        "starts_at": "2026-01-01T10:00", "ends_at": "2030-01-01T10:00", "valid_until": "2031-01-01T10:00",
        "per_consumer_limit": "1"}, **ZH).content.decode()
    assert "到账金额不能低于支付金额" in refused
    home = client.get("/", **ZH).content.decode()
    assert "支付 <strong>" in home and "先付一点，到店多花一点" in home


def test_the_chinese_admin_names_the_login_protection_app_and_its_models_in_chinese(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "admin"))
    page = client.get("/admin/", **ZH).content.decode()
    assert "登录保护" in page and "登录尝试" in page and "登录失败" in page and "登录记录" in page
    assert "Axes" not in page and "AXES" not in page and "Access attempts" not in page
