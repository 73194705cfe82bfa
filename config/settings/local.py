"""Local development and the demo (`make run`): DEBUG on. PostgreSQL and Redis from the environment, which
`scripts/run.py` fills with embedded servers when DATABASE_URL / REDIS_URL are unset."""
import os

os.environ.setdefault("DEBUG", "1")

from .base import *  # noqa: E402,F401,F403

SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-only-not-a-secret"

# Static files straight from the app folders (no collectstatic step), whether DEBUG is on or off: `make run`
# runs with DEBUG off so that visitors' error pages are the product's own (scripts/run.py).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
