"""Production: every secret from the environment, no defaults; HTTPS everywhere."""
import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DATABASES, env_bool, env_int


def required(name: str) -> str:
    """A setting production must be given: no default, so a forgotten one stops the start-up, loudly."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in the environment for production")
    return value


SECRET_KEY = required("SECRET_KEY")  # `check --deploy` also says when it is too short or too plain
ALLOWED_HOSTS = [h.strip() for h in required("ALLOWED_HOSTS").split(",") if h.strip()]
DEBUG = False
# The database and the broker hold credentials: production names both itself (no embedded servers,
# no broker that merely follows REDIS_URL).
required("DATABASE_URL")
CELERY_BROKER_URL = required("CELERY_BROKER_URL")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Static files with content-hashed names (collectstatic writes the manifest: the image's build step), so
# whitenoise serves them with a year's cache (immutable) and a new release can never be served stale CSS or JS.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto; SECURE_SSL_REDIRECT=0 only for plain-HTTP
# loopback runs (benchmarks, `make chaos`).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Cookies are Secure whenever the site is served over TLS; a plain-HTTP trial (compose's default) must be able
# to log in, and a browser drops a Secure cookie sent over http:// to anything but localhost.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", SECURE_SSL_REDIRECT)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
