"""Test settings: fast hashing, emails kept in memory, tasks never leave the process."""
import os

from .base import *  # noqa: F401,F403
from .base import REST_FRAMEWORK

SECRET_KEY = os.environ.get("SECRET_KEY") or "test-only-not-a-secret"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
SANDBOX_GATEWAY_LATENCY_MS = 0  # faults stay off unless a test turns them on
SANDBOX_GATEWAY_RATE_LIMIT = 0
CELERY_TASK_EAGER_PROPAGATES = True
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "10000/min", "money": "100000/min"}}

# Tests serve static files from the app folders (no collectstatic step), as `make run` does with DEBUG on.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
