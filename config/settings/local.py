"""Local development and the demo (`make run`): DEBUG on, SQLite and a file broker by default."""
import os

os.environ.setdefault("DEBUG", "1")

from .base import *  # noqa: E402,F401,F403

SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-only-not-a-secret"
