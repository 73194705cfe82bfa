"""REDIS_URL behind Sentinel: the sentinel:// form parses to the Sentinels, the database and the master's name, a
wrong one stops the start-up with a clear message, and the settings point the cache and the broker at the master
the Sentinels name (kombu's `master_name`)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.redis_sentinel import SentinelUrlError, is_sentinel_url, sentinel_config

ROOT = Path(__file__).resolve().parents[2]
URL = "sentinel://127.0.0.1:26391/10;sentinel://127.0.0.1:26392/10;sentinel://127.0.0.1:26393/10"


def test_sentinel_url_names_every_sentinel_the_database_and_the_master():
    config = sentinel_config(URL, "sa-redis")

    assert config.sentinels == (("127.0.0.1", 26391), ("127.0.0.1", 26392), ("127.0.0.1", 26393))
    assert config.db == 10
    assert config.master == "sa-redis"
    assert config.password is None
    assert config.broker_transport_options() == {"master_name": "sa-redis"}


def test_sentinel_url_takes_the_password_and_defaults_port_and_database():
    config = sentinel_config("sentinel://:s%40cret@10.0.0.5;sentinel://10.0.0.6:26380", " mymaster ")

    assert config.sentinels == (("10.0.0.5", 26379), ("10.0.0.6", 26380))
    assert (config.db, config.password, config.master) == (0, "s@cret", "mymaster")


@pytest.mark.parametrize("url, master, message", [
    ("sentinel://127.0.0.1:26391/0", "", "REDIS_SENTINEL_MASTER"),
    ("sentinel://127.0.0.1:port/0", "m", "port"),
    ("sentinel://127.0.0.1:26391/zero", "m", "database must be a number"),
    ("sentinel://127.0.0.1:26391;redis://127.0.0.1:6379", "m", "not a Sentinel address"),
    (";", "m", "at least one Sentinel"),
])
def test_a_wrong_sentinel_url_is_refused_with_what_is_wrong(url, master, message):
    with pytest.raises(SentinelUrlError, match=message):
        sentinel_config(url, master)


def test_only_the_sentinel_scheme_is_a_sentinel_url():
    assert is_sentinel_url(URL)
    assert not is_sentinel_url("redis://127.0.0.1:6379/10")


def _production_settings(env: dict) -> subprocess.CompletedProcess:
    script = ("import json, django; from django.conf import settings; django.setup(); "
              "print(json.dumps({'broker': settings.CELERY_BROKER_URL, "
              "'options': settings.CELERY_BROKER_TRANSPORT_OPTIONS, 'cache': settings.CACHES['default']}))")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_", "DJANGO_"))}
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env={
        **base, "DJANGO_SETTINGS_MODULE": "config.settings.production", "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1", "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://u@h/db"), **env})


def test_production_settings_point_broker_and_cache_at_the_sentinels_master():
    result = _production_settings({"REDIS_URL": URL, "CELERY_BROKER_URL": URL, "REDIS_SENTINEL_MASTER": "sa-redis"})

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["broker"] == URL
    assert loaded["options"]["master_name"] == "sa-redis"
    assert loaded["cache"]["LOCATION"] == URL
    assert loaded["cache"]["OPTIONS"]["sentinel_master"] == "sa-redis"


def test_production_settings_refuse_sentinels_without_a_master_name():
    result = _production_settings({"REDIS_URL": URL, "CELERY_BROKER_URL": URL})

    assert result.returncode != 0
    assert "REDIS_SENTINEL_MASTER must name the master" in result.stderr
