"""The expiry reminder: seven days before valid_until, one email per wallet from the outbox, and a notice."""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from allowance.models import Wallet
from allowance.reminders import wallet_expiry_remind_due
from allowance.services import campaign_purchase, order_spend
from allowance.tasks import wallet_expiry_remind_due as wallet_expiry_remind_task
from tests.factories import CampaignFactory, ConsumerFactory

pytestmark = pytest.mark.django_db


def _campaign(valid_in: timedelta):
    now = timezone.now()
    return CampaignFactory(ends_at=now + min(valid_in, timedelta(days=1)), valid_until=now + valid_in)


@pytest.fixture
def expiring_wallet(db):
    wallet = campaign_purchase(campaign=_campaign(timedelta(days=6)), consumer=ConsumerFactory(account_name="carol"))
    order_spend(consumer=wallet.consumer, store=wallet.store, order_ref="o1", amount=1000)
    wallet.refresh_from_db()
    return wallet


def test_consumer_is_emailed_once_that_principal_will_be_refunded_and_bonus_lapse(expiring_wallet):
    assert wallet_expiry_remind_due() == 1
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["carol@example.com"]
    assert "expires on" in email.subject
    assert "72.00" in email.body and "refunded automatically" in email.body
    assert "18.00" in email.body and "lapse" in email.body
    expiring_wallet.refresh_from_db()
    assert expiring_wallet.expiry_reminded_at is not None

    assert wallet_expiry_remind_due() == 0 and wallet_expiry_remind_task() == 0
    assert len(mail.outbox) == 1


def test_no_reminder_before_the_window_or_for_closed_or_expired_wallets(db):
    far = campaign_purchase(campaign=_campaign(timedelta(days=8)), consumer=ConsumerFactory())
    closed = campaign_purchase(campaign=_campaign(timedelta(days=3)), consumer=ConsumerFactory())
    from refunds.services import withdrawal_request

    withdrawal_request(wallet=closed, actor=closed.consumer.user)
    assert wallet_expiry_remind_due() == 0
    assert mail.outbox == []
    # A day later the first one enters the window.
    assert wallet_expiry_remind_due(now=timezone.now() + timedelta(days=1, minutes=1)) == 1
    assert [m.to for m in mail.outbox] == [[far.consumer.user.email]]


def test_a_failed_email_is_tried_again_on_the_next_run(expiring_wallet, monkeypatch):
    import allowance.reminders as reminders

    def broken(*args, **kwargs):
        raise ConnectionError("smtp down")

    monkeypatch.setattr(reminders, "send_mail", broken)
    assert wallet_expiry_remind_due() == 0
    assert Wallet.objects.get(pk=expiring_wallet.pk).expiry_reminded_at is None
    monkeypatch.undo()
    assert wallet_expiry_remind_due() == 1
    assert len(mail.outbox) == 1


def test_reminders_go_out_in_batches(db):
    campaign = _campaign(timedelta(days=2))
    for _ in range(5):
        campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
    assert wallet_expiry_remind_due(batch_size=2) == 5
    assert len(mail.outbox) == 5
    assert not Wallet.objects.filter(expiry_reminded_at=None).exists()


def test_my_allowance_shows_the_notice_only_for_a_wallet_about_to_expire(expiring_wallet, client):
    later = campaign_purchase(campaign=_campaign(timedelta(days=30)), consumer=expiring_wallet.consumer)
    client.force_login(expiring_wallet.consumer.user)
    html = client.get("/me/allowance/").content.decode()
    assert html.count('data-testid="expiry-notice"') == 1
    notice = html.split('data-testid="expiry-notice">', 1)[1].split("</p>", 1)[0]
    assert "72.00" in notice and "refunded automatically" in notice and "18.00" in notice and "lapse" in notice
    assert later.pk


def test_the_notice_is_in_chinese_for_a_chinese_browser(expiring_wallet, client):
    client.force_login(expiring_wallet.consumer.user)
    html = client.get("/me/allowance/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    notice = html.split('data-testid="expiry-notice">', 1)[1].split("</p>", 1)[0]
    assert "自动退回" in notice and "失效" in notice
