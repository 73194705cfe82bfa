"""The expiry reminder with real processes: a beat and a worker email the consumer once, seven days ahead."""
from datetime import timedelta

import pytest
from django.utils import timezone

from allowance.models import Wallet
from allowance.services import campaign_purchase
from tests.factories import CampaignFactory, ConsumerFactory
from tests.scheduling.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_beat_reminds_the_consumer_once_a_week_before_expiry(celery_cluster):
    # Given a wallet valid for six more days and one valid for a month, a worker and a beat looking every second
    now = timezone.now()
    soon = campaign_purchase(campaign=CampaignFactory(ends_at=now + timedelta(days=1), valid_until=now + timedelta(days=6)),
                             consumer=ConsumerFactory(account_name="dora"))
    later = campaign_purchase(campaign=CampaignFactory(), consumer=ConsumerFactory(account_name="erin"))
    celery_cluster.worker(wait=False, EXPIRY_REMINDER_INTERVAL_SECONDS=1)
    celery_cluster.beat(EXPIRY_REMINDER_INTERVAL_SECONDS=1)
    celery_cluster.wait_ready()

    # When the reminder job has run, and run again
    wait_for(lambda: Wallet.objects.filter(pk=soon.pk, expiry_reminded_at__isnull=False).exists(),
             timeout=30, what="the expiring wallet reminded")
    wait_for(lambda: len(celery_cluster.task_results("allowance.tasks.wallet_expiry_remind_due")) >= 3,
             timeout=30, what="two more runs of the reminder job")

    # Then dora got exactly one email saying the principal will be refunded and the bonus lapse; erin none
    mail = "\n".join(p.read_text() for p in (celery_cluster.tmp / "mail").glob("*.log"))
    assert mail.count("Subject: Your allowance in") == 1
    assert "dora@example.com" in mail and "refunded automatically" in mail and "erin@example.com" not in mail
    assert Wallet.objects.get(pk=later.pk).expiry_reminded_at is None
