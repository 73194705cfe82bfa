"""`seed_demo` (SPEC §10) and the withdrawal emails sent by the worker."""
from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from allowance.models import Campaign
from allowance.services import campaign_purchase, order_spend
from merchants.models import Store
from merchants.selectors import is_store_staff
from refunds.models import WithdrawalRequest
from refunds.notifications import withdrawal_held_notify_due, withdrawal_notify_send
from refunds.services import withdrawal_refund, withdrawal_request, withdrawal_retention_message
from tests.factories import StaffFactory


def test_seed_demo_creates_the_demo_and_a_second_run_changes_nothing(settings, db):
    # Given DEBUG on; when the demo is seeded twice
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")

    # Then there is one Demo Store with one on-sale "pay 80 get 100" campaign, and every demo login works
    store = Store.objects.get(name="Demo Store")
    assert store.merchant.name == "Demo Merchant"
    campaign = Campaign.objects.get(store=store)
    assert (campaign.name, campaign.pay_amount, campaign.credit_amount, campaign.per_consumer_limit) == (
        "pay 80 get 100", 8000, 10000, 1)
    assert campaign.is_on_sale() and campaign.valid_until > timezone.now() + timedelta(days=364)
    merchant = authenticate(RequestFactory().post("/accounts/login/"), username="merchant", password="merchant")
    assert is_store_staff(user=merchant, store=store) and not merchant.is_staff
    assert authenticate(RequestFactory().post("/accounts/login/"), username="alice", password="alice").consumer.account_name == "alice"
    assert authenticate(RequestFactory().post("/accounts/login/"), username="bob", password="bob").consumer.account_name == "bob"
    admin = authenticate(RequestFactory().post("/accounts/login/"), username="admin", password="admin")
    assert admin.is_superuser and admin.is_staff


def test_seed_demo_refuses_without_debug_unless_forced(settings, db):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not Store.objects.exists()
    call_command("seed_demo", "--force")
    assert Store.objects.filter(name="Demo Store").exists()


@pytest.fixture
def held_request(consumer, campaign, django_capture_on_commit_callbacks):
    StaffFactory(store=campaign.store, user__email="staff@example.com")
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    order_spend(consumer=consumer, store=campaign.store, order_ref="A-1", amount=1000)
    with django_capture_on_commit_callbacks(execute=False):
        return withdrawal_request(wallet=wallet, actor=consumer.user)


def test_merchant_staff_are_told_of_a_held_request_and_the_time_left(held_request):
    # When the worker sends the held-request email with 47 hours left
    sent = withdrawal_notify_send(event="withdrawal_held", request_id=held_request.pk,
                                  now=held_request.due_at - timedelta(hours=47))

    # Then the store's staff get one email naming the consumer, the amounts and the time left
    assert sent
    (email,) = mail.outbox
    assert email.to == ["staff@example.com"]
    assert held_request.wallet.consumer.account_name in email.subject and "47 h 00 min" in email.subject
    assert "72.00 yuan" in email.body and "18.00 yuan" in email.body


def test_a_message_delivered_twice_sends_one_email(held_request):
    withdrawal_notify_send(event="withdrawal_held", request_id=held_request.pk)
    withdrawal_notify_send(event="withdrawal_held", request_id=held_request.pk)
    assert len(mail.outbox) == 1


def test_the_consumer_gets_the_retention_message_and_the_refund_by_email(held_request, staff, consumer):
    # Given a retention message from the store
    withdrawal_retention_message(request=held_request, actor=staff, message="Stay for 10% off next week!")
    withdrawal_notify_send(event="retention_message", request_id=held_request.pk)

    # When the merchant refunds it anyway
    withdrawal_refund(request=held_request, actor=staff)
    withdrawal_notify_send(event="refunded", request_id=held_request.pk)

    # Then the consumer got both, in order
    assert [m.to for m in mail.outbox] == [[consumer.user.email]] * 2
    assert "Stay for 10% off next week!" in mail.outbox[0].body
    assert "refunded" in mail.outbox[1].subject and "72.00 yuan" in mail.outbox[1].body
    assert WithdrawalRequest.objects.get(pk=held_request.pk).status == "refunded"


def test_no_held_request_email_once_the_request_has_ended(held_request, consumer):
    from refunds.services import withdrawal_cancel

    withdrawal_cancel(request=held_request, actor=consumer.user)
    assert withdrawal_notify_send(event="withdrawal_held", request_id=held_request.pk) is False
    assert mail.outbox == []


def test_the_notify_job_emails_the_staff_once_about_each_new_held_request(held_request, consumer, campaign):
    # Given a held request (the request itself published nothing) and an instant withdrawal of an unspent wallet
    from tests.factories import ConsumerFactory

    other = ConsumerFactory()
    unspent = campaign_purchase(campaign=campaign, consumer=other)
    instant = withdrawal_request(wallet=unspent, actor=other.user)
    assert instant.status == "refunded"
    mail.outbox.clear()

    # When the beat's notify job runs twice
    first, second = withdrawal_held_notify_due(), withdrawal_held_notify_due()

    # Then the staff got one email, about the held request only, and it is marked as announced
    assert (first, second) == (1, 0)
    (email,) = mail.outbox
    assert email.to == ["staff@example.com"] and f"#{held_request.pk}" in email.body
    assert WithdrawalRequest.objects.get(pk=held_request.pk).staff_notified_at is not None


def test_a_request_cancelled_before_the_notify_job_runs_sends_no_email(held_request, consumer):
    from refunds.services import withdrawal_cancel

    withdrawal_cancel(request=held_request, actor=consumer.user)
    assert withdrawal_held_notify_due() == 0
    assert mail.outbox == []


def test_a_failed_staff_email_is_tried_again_by_the_next_run(held_request, monkeypatch):
    # Given the mail server refuses the first attempt
    import refunds.notifications as notifications

    real_send, calls = notifications.send_mail, []

    def flaky_send(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionRefusedError("mail server down")
        return real_send(*args, **kwargs)

    monkeypatch.setattr(notifications, "send_mail", flaky_send)

    # When the job runs, then runs again
    assert withdrawal_held_notify_due() == 0
    assert WithdrawalRequest.objects.get(pk=held_request.pk).staff_notified_at is None
    assert withdrawal_held_notify_due() == 1

    # Then the second run delivered it, once
    assert len(mail.outbox) == 1 and len(calls) == 2
