"""The Celery app (`celery -A config worker --beat`) and the beat schedule, in code.

Delivery is at-least-once (acks_late, reject_on_worker_lost) and may be more than once (Redis visibility
timeout, a second beat by mistake); every task is idempotent and reads what is due from the database, so
neither a duplicate nor a lost message changes what is refunded or paid. See refunds/tasks.py.
"""
import os
from datetime import timedelta

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def beat_schedule(settings) -> dict:
    """The beat only says "look now": what is due is read from the database each time, so a lost, late or
    doubled beat message (or two beats by mistake) never loses or doubles money. A sweep message that waited
    longer than one interval is dropped (`expires`): the next one does the same work."""
    def every(seconds):
        return {"schedule": timedelta(seconds=seconds), "options": {"expires": max(seconds, 5)}}

    sweep, notify = every(settings.SWEEP_INTERVAL_SECONDS), every(settings.NOTIFY_INTERVAL_SECONDS)
    return {
        "refund-due-withdrawals": {"task": "refunds.tasks.withdrawal_refund_due", **sweep},
        "expire-wallets": {"task": "refunds.tasks.wallet_expire_due", **sweep},
        "redrive-payouts": {"task": "refunds.tasks.refund_payouts_redrive", **sweep},
        "notify-held-withdrawals": {"task": "refunds.tasks.withdrawal_held_notify_due", **notify},
        "notify-expired-withdrawals": {"task": "refunds.tasks.withdrawal_expiry_notify_due", **notify},
        "purge-idempotency-keys": {"task": "core.tasks.idempotency_keys_purge", "schedule": timedelta(hours=1)},
        "roll-up-insights": {"task": "refunds.tasks.insights_rollup_all",
                             **every(settings.INSIGHTS_ROLLUP_INTERVAL_SECONDS)},
        "remind-expiring-wallets": {"task": "allowance.tasks.wallet_expiry_remind_due",
                                    **every(settings.EXPIRY_REMINDER_INTERVAL_SECONDS)},
    }


@app.on_after_configure.connect
def _beat_schedule_set(sender, **kwargs):
    from django.conf import settings  # configured by now (config_from_object read it)

    sender.conf.beat_schedule = beat_schedule(settings)
