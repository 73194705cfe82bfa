"""Settings for the real worker and beat processes that the scheduling tests start (tests/scheduling).

Test settings, but tasks really go through the broker (no eager mode) and emails are written to files so
the test can read what the worker sent. Everything else (database, broker, faults, hold) comes from the
environment the test passes in.
"""
import os

from kombu import Queue

from .test import *  # noqa: F401,F403
from .base import env_int

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
SANDBOX_GATEWAY_LATENCY_MS = env_int("SANDBOX_GATEWAY_LATENCY_MS", 0)
SANDBOX_GATEWAY_RATE_LIMIT = env_int("SANDBOX_GATEWAY_RATE_LIMIT", 0)
if os.environ.get("REDIS_URL"):
    # Shared by all the processes, so an email is sent once however many workers see its message.
    # Prefixed per test run, so parallel runs (xdist workers) sharing one Redis never see each other's marks.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"],
                          "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "")}}
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", "/tmp/store-allowance-e2e-mail")
# Each test run gets its own queue on the shared Redis database, so runs never see each other's messages.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
# Payouts too, unless a test starts a payout worker on a queue of its own.
PAYOUT_QUEUE = os.environ.get("PAYOUT_QUEUE", CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_QUEUES = [Queue(q) for q in dict.fromkeys([CELERY_TASK_DEFAULT_QUEUE, PAYOUT_QUEUE])]
CELERY_TASK_ROUTES = {"refunds.tasks.refund_payouts": {"queue": PAYOUT_QUEUE}}
