"""Local development and the demo (`make run`): DEBUG on. PostgreSQL and Redis from the environment, which
`scripts/run.py` fills with embedded servers when DATABASE_URL / REDIS_URL are unset."""
import os

os.environ.setdefault("DEBUG", "1")

from .base import *  # noqa: E402,F401,F403

SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-only-not-a-secret"
