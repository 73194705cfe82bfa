"""Settings shared by every environment. Everything that differs is read from the environment."""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "merchants",
    "consumers",
    "allowance",
    "refunds",
    "core.apps.AxesConfig",  # django-axes, login brute-force protection: see AXES_* below
]

MIDDLEWARE = [
    # First: /healthz answers before any HTTPS redirect or Host check (config/security.py).
    "config.security.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into a 429
    "core.views.DatabaseUnavailableMiddleware",  # a database out of reach: 503 + Retry-After, not a 500
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# PostgreSQL only, everywhere: `make run` and `make test` start an embedded one when DATABASE_URL is unset
# (scripts/embedded.py), so there is one code path and no second database to keep working.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DATABASE_URL must be set to a PostgreSQL database (postgres://…). `make run` and `make test` start an "
        "embedded PostgreSQL and Redis when it is unset; see the README's configuration table.")


def database_from_url(url: str) -> dict:
    return dj_database_url.parse(url, conn_max_age=env_int("CONN_MAX_AGE", 60))


def database_named(database: dict, suffix: str) -> dict:
    """The same server and credentials, the database `<name><suffix>`."""
    return {**database, "NAME": f"{database['NAME']}{suffix}"}


# Aliases, and who reads and writes where: core/db.py and docs/scaling.md.
# DATABASE_POOL_MODE=transaction: DATABASE_URL is a transaction-mode PgBouncer, which cannot keep a server-side
# cursor across statements, so `default` never opens one; `.iterator()` reads stream through DATABASE_STREAM_URL
# (a session-mode pool or a direct connection) or the replica.
DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE", "session").strip().lower()
if DATABASE_POOL_MODE not in {"session", "transaction"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATABASE_POOL_MODE must be session (a direct connection or a session pool) or "
                               "transaction (a transaction-mode PgBouncer).")
# Connection budget: with CONN_MAX_AGE > 0 every thread that queries keeps its connection, so a deployment holds
# WEB_CONCURRENCY (x WEB_THREADS) per web + (--concurrency + 1) per worker + (2 x PAYOUT_CONCURRENCY + 1) per payout
# worker (each thread keeps one to our books and one to the sandbox gateway's) + 1 beat + 1 manage.py. docker-compose.yml's defaults: 5 + 3 + 33 + 1 + 1 = 43 of max_connections=100
# (3 reserved); scaled to 4 workers and 2 payout workers, 85. Scaling further: raise max_connections or put
# PgBouncer in front. tests/scheduling/test_deployment_files.py recomputes it; the README's "Connection budget".
DATABASES = {"default": database_from_url(DATABASE_URL)}
if DATABASE_POOL_MODE == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# The sandbox gateway's books, outside the money database as a real provider's are. Unset: the database
# `<name>_gateway` on DATABASE_URL's server, created by `manage.py migrate` when it is missing.
GATEWAY_DATABASE_URL = os.environ.get("GATEWAY_DATABASE_URL", "")
DATABASES["gateway"] = (database_from_url(GATEWAY_DATABASE_URL) if GATEWAY_DATABASE_URL
                        else database_named(DATABASES["default"], "_gateway"))
# Optional: a streaming replica for reads that may lag (insights, exports, reconcile).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = {**database_from_url(os.environ["DATABASE_REPLICA_URL"]), "TEST": {"MIRROR": "default"}}
# Optional: a connection that keeps server-side cursors (session-mode pool or direct) for the streaming reads.
if os.environ.get("DATABASE_STREAM_URL"):
    DATABASES["stream"] = {**database_from_url(os.environ["DATABASE_STREAM_URL"]), "TEST": {"MIRROR": "default"}}
# Optional: `manage.py migrate` connects here instead of DATABASE_URL (migrations go direct, not through a pool).
DATABASE_DIRECT_URL = os.environ.get("DATABASE_DIRECT_URL", "")
DATABASE_ROUTERS = ["core.db.DatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Axes first: it refuses a locked-out account before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "consumers.backends.CaseInsensitiveModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- Security: brute-force lockout and headers (config/security.py) -------
# An account (by account name, any letter case) is locked for AXES_COOLOFF_MINUTES after AXES_FAILURE_LIMIT
# failed logins in a row, on the login page and the API token endpoint alike; other accounts are unaffected,
# and a successful login clears the count. Locking by address too would let one shared NAT lock everyone out.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 20)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "config.security.axes_username"
AXES_LOCKOUT_CALLABLE = "config.security.axes_lockout_response"
AXES_RESET_ON_SUCCESS = True
# The lock lasts the cool-off from the last counted failure; tries while locked do not extend it, so the
# owner can predict when they may log in again.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
# No "AXES: BEGIN version …" banner in every process's start-up output (web, worker, beat, manage.py).
AXES_VERBOSE = False
# axes.W006 asks to lock by address too; that would let one shared NAT address lock out every account behind
# it. Per-address limits are the login throttle's job (THROTTLE_LOGIN_RATE, per account name and address).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"

# --- Internationalisation -------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date format per language for flash messages, pages, emails and the admin: templates and code name
# DATETIME_FORMAT / DATE_FORMAT and config/formats/<language>/formats.py says what it is.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files (served by the app through whitenoise, no CDN) ----------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
# Files a browser asks for at the site's root (/favicon.ico), served by whitenoise like the static files.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- The product's own rules ----------------------------------------------
WITHDRAWAL_HOLD_SECONDS = env_int("WITHDRAWAL_HOLD_SECONDS", 172800)
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 60)
SWEEP_BATCH_SIZE = env_int("SWEEP_BATCH_SIZE", 500)
# How often the staff are emailed about newly held withdrawal requests (the outbox is the request row).
NOTIFY_INTERVAL_SECONDS = env_int("NOTIFY_INTERVAL_SECONDS", 10)
# The expiry reminder (email + notice on My Allowance) this many days before valid_until; how often beat looks.
EXPIRY_REMINDER_DAYS = env_int("EXPIRY_REMINDER_DAYS", 7)
EXPIRY_REMINDER_INTERVAL_SECONDS = env_int("EXPIRY_REMINDER_INTERVAL_SECONDS", 300)
# How often beat keeps the insights up to the last minute (refunds/insights.py): a page reads live only what came
# after, so this bounds a page view's live read.
INSIGHTS_ROLLUP_INTERVAL_SECONDS = env_int("INSIGHTS_ROLLUP_INTERVAL_SECONDS", 60)
MAX_AMOUNT_FEN = env_int("MAX_AMOUNT_FEN", 100_000_000)  # 1,000,000.00 yuan
IDEMPOTENCY_KEY_TTL_SECONDS = env_int("IDEMPOTENCY_KEY_TTL_SECONDS", 86400)

# --- REST framework --------------------------------------------------------
THROTTLE_LOGIN_RATE = os.environ.get("THROTTLE_LOGIN_RATE", "10/min")
THROTTLE_MONEY_RATE = os.environ.get("THROTTLE_MONEY_RATE", "120/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"login": THROTTLE_LOGIN_RATE, "money": THROTTLE_MONEY_RATE},
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.api.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Store Allowance API",
    "DESCRIPTION": "Store allowance (店铺膨胀金): buy, spend, withdraw; merchant user management.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "WalletStatusEnum": ["active", "frozen", "closed"],
        "WithdrawalStatusEnum": ["pending", "refunded", "cancelled", "retained"],
        "CampaignStateEnum": ["active", "history"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.postprocess_schema",
    ],
}

# --- Cache (throttling, idempotency locks) and broker: Redis only ------------
# Like DATABASE_URL, unset only where `make run` / `make test` start an embedded Redis before settings load.
# Behind Sentinel (failover): REDIS_URL=sentinel://h1:p1/db;sentinel://h2:p2/db and REDIS_SENTINEL_MASTER; the
# cache, the payout limiter and the broker then follow the master the Sentinels name (core/redis_sentinel.py).
REDIS_URL = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "")
if REDIS_URL.startswith("sentinel://"):
    from core.redis_sentinel import SentinelUrlError, sentinel_config

    try:
        sentinel_config(REDIS_URL, REDIS_SENTINEL_MASTER)
    except SentinelUrlError as exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"REDIS_URL: {exc}") from exc
elif not REDIS_URL.startswith(("redis://", "rediss://")):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("REDIS_URL (or CELERY_BROKER_URL) must name a Redis server (redis://…) or its "
                               "Sentinels (sentinel://…); `make run` and `make test` start an embedded one when "
                               "both are unset.")
# Tolerant of a Redis outage for plain gets and sets (throttles fail open for those seconds, never a 500),
# with short socket timeouts so a hung Redis cannot hold a request (config/cache.py).
CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": REDIS_URL,
                      "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2,
                                  **({"sentinel_master": REDIS_SENTINEL_MASTER} if REDIS_URL.startswith("sentinel://")
                                     else {})}}}

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
# Unacknowledged messages (acks_late) come back after this long; it must exceed the longest ETA we
# schedule (PAYOUT_BACKOFF_MAX_SECONDS) or every long retry would be delivered twice. Duplicates are
# harmless (tasks claim their work in the database) but wasteful.
# Short socket timeouts: a hung or unreachable broker fails a publish in about a second (see below).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200),
                                   "socket_connect_timeout": 1, "socket_timeout": 5}
if CELERY_BROKER_URL.startswith("sentinel://"):  # kombu asks the Sentinels for this master
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_SENTINEL_MASTER
CELERY_TASK_IGNORE_RESULT = True
# Web requests publish after commit (emails, payouts). A broker that is down or unreachable must not hold them:
# Celery's default (connect timeout 4 s, 3 publish retries) stalled each withdrawal 0.6 s with Redis refusing and
# several seconds with it unreachable. Now one quick retry, then the caller logs the failure and the beat's
# sweep and payout re-drive pick the work up from the database.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# Payout calls wait on the gateway, not the CPU: they have a queue of their own, consumed by a thread-pool worker
# (`-Q payouts --pool threads --concurrency $PAYOUT_CONCURRENCY`) while the default worker runs the sweeps.
# A worker started without -Q consumes both queues, so an older command line still pays (at prefork speed).
PAYOUT_QUEUE = os.environ.get("PAYOUT_QUEUE", "payouts")
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(PAYOUT_QUEUE)]
CELERY_TASK_ROUTES = {"refunds.tasks.refund_payouts": {"queue": PAYOUT_QUEUE}}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The beat schedule is in config/celery.py; its intervals are these settings.

# --- Payment gateway and payouts --------------------------------------------
PAYMENT_GATEWAY = os.environ.get("PAYMENT_GATEWAY", "core.gateway.SandboxGateway")
SANDBOX_GATEWAY_LATENCY_MS = env_int("SANDBOX_GATEWAY_LATENCY_MS", 50)
SANDBOX_GATEWAY_FAILURE_RATE = float(os.environ.get("SANDBOX_GATEWAY_FAILURE_RATE") or 0)
SANDBOX_GATEWAY_TIMEOUT_RATE = float(os.environ.get("SANDBOX_GATEWAY_TIMEOUT_RATE") or 0)
SANDBOX_GATEWAY_LOST_ANSWER_RATE = float(os.environ.get("SANDBOX_GATEWAY_LOST_ANSWER_RATE") or 0)
# The provider's own limit, modelled: calls per second beyond it are refused as HTTP 429 (0: no limit).
SANDBOX_GATEWAY_RATE_LIMIT = env_int("SANDBOX_GATEWAY_RATE_LIMIT", 500)
# Our side of it: all payout workers together call the gateway at most this often (a limiter in Redis).
PAYOUT_RATE_LIMIT = float(os.environ.get("PAYOUT_RATE_LIMIT") or 500)
# Prefix of the rate limiters' Redis keys: two deployments (or two test runs) sharing one Redis keep apart.
RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "")
# Payout batches in flight per payout worker process (its thread pool; see the Procfile and docs/perf.md).
PAYOUT_CONCURRENCY = env_int("PAYOUT_CONCURRENCY", 16)
# Payouts per gateway batch call (the provider's batch size); each takes one slot of PAYOUT_RATE_LIMIT.
PAYOUT_BATCH_SIZE = env_int("PAYOUT_BATCH_SIZE", 100)
# After a 429 the refund is looked at again in 1–2 × this, without spending an attempt.
PAYOUT_RATE_LIMITED_RETRY_SECONDS = float(os.environ.get("PAYOUT_RATE_LIMITED_RETRY_SECONDS") or 1)
PAYOUT_MAX_ATTEMPTS = env_int("PAYOUT_MAX_ATTEMPTS", 8)  # then the refund needs attention (admin retries it)
PAYOUT_BACKOFF_BASE_SECONDS = float(os.environ.get("PAYOUT_BACKOFF_BASE_SECONDS") or 30)
PAYOUT_BACKOFF_MAX_SECONDS = float(os.environ.get("PAYOUT_BACKOFF_MAX_SECONDS") or 1800)
# A worker that claims a payout holds it this long; if it dies, the re-drive picks the refund up after that.
PAYOUT_LEASE_SECONDS = env_int("PAYOUT_LEASE_SECONDS", 120)
# A payout whose message should have run this long ago (lost message, dead worker) is sent again by the beat.
PAYOUT_STUCK_SECONDS = env_int("PAYOUT_STUCK_SECONDS", 120)

# --- Email (console by default) -------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Store Allowance <no-reply@allowance.local>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line": {"()": "config.security.OneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler"},
                 "console_one_line": {"class": "logging.StreamHandler", "filters": ["one_line"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # django-axes logs every successful login at INFO ("Deleted 0 failed login attempts"); its warnings
        # (lockouts) are what an operator needs.
        "axes": {"level": "WARNING"},
        # Scanners send bad Host headers all day: one line each ("Invalid HTTP_HOST header: …"), no traceback.
        "django.security.DisallowedHost": {"handlers": ["console_one_line"], "propagate": False},
    },
}
