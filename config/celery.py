"""The Celery app (`celery -A config worker --beat`). The beat schedule lives in settings (CELERY_BEAT_SCHEDULE).

Delivery is at-least-once (acks_late, reject_on_worker_lost) and may be more than once (Redis visibility
timeout, a second beat by mistake); every task is idempotent and reads what is due from the database, so
neither a duplicate nor a lost message changes what is refunded or paid. See refunds/tasks.py.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
