"""Security headers on pages and the API, and production settings that pass `check --deploy` with no default
secret."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def production_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT"}}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "allowance.example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgres://allowance@db.example.com/allowance",
        "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    })
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def load_production_settings(*, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import config.settings.production"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/v1/stores/"])
def test_pages_and_api_answers_carry_the_security_headers(client, path):
    response = client.get(path)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "camera=()" in response["Permissions-Policy"]


def test_only_the_api_docs_page_may_run_its_inline_script(client):
    assert "script-src 'self' 'unsafe-inline'" in client.get("/api/docs/")["Content-Security-Policy"]
    assert "unsafe-inline" not in client.get("/")["Content-Security-Policy"].split("script-src")[1].split(";")[0]


def test_check_deploy_with_production_settings_finds_no_issue():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"])
def test_production_refuses_to_start_without_each_secret_or_address(missing):
    result = load_production_settings(env=production_env(**{missing: None}))
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr
