"""pytest plugin (`-p tests.embedded_servers` in pytest.ini): real PostgreSQL and Redis for the session.

With no DATABASE_URL / REDIS_URL / CELERY_BROKER_URL in the environment, the session starts embedded servers
(scripts/embedded.py) before Django reads its settings, and stops them when it ends. xdist workers inherit
the URLs from the controlling process, so one pair of servers serves them all. An explicit URL always wins
(CI points at the machine's servers).
"""
import os

import pytest

_servers = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _servers
    from scripts.embedded import start_missing

    _servers = start_missing("test", durable=False)
    if _servers is not None:
        os.environ["EMBEDDED_SERVERS"] = "1"  # for the report header; also tells xdist workers what they use


def pytest_report_header(config):
    where = "embedded (var/embedded/test)" if os.environ.get("EMBEDDED_SERVERS") else "from the environment"
    return [f"servers: {where}: DATABASE_URL={os.environ.get('DATABASE_URL')} REDIS_URL={os.environ.get('REDIS_URL')}"]


def pytest_unconfigure(config):
    global _servers
    if _servers is not None:
        _servers.stop()
        _servers = None
