"""Run by tests/insights/test_exports_pgbouncer.py in a process of its own, with the environment of a deployment
behind PgBouncer (DATABASE_URL a transaction pool, DATABASE_POOL_MODE=transaction, DATABASE_STREAM_URL a session
pool): stream the refunds export, pausing after its first row so the test can look at the server, then count."""
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connections  # noqa: E402
from datetime import timedelta  # noqa: E402

from django.utils import timezone  # noqa: E402

from refunds.exports import refund_rows_for_staff  # noqa: E402

user = get_user_model().objects.get(username=sys.argv[1])
today = timezone.localdate()
rows = refund_rows_for_staff(user=user, start=today - timedelta(days=2), end=today)
first = next(rows)
print(f"DEFAULT_DISABLES_CURSORS {connections['default'].settings_dict.get('DISABLE_SERVER_SIDE_CURSORS', False)}")
print("STREAMING", flush=True)
sys.stdin.readline()  # the test has looked at the server
print(f"ROWS {1 + sum(1 for _ in rows)}", flush=True)
