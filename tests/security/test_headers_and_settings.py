"""Security headers on pages and the API, and production settings that pass `check --deploy` with no default
secret."""
import os
import re
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


@pytest.mark.parametrize("path", ["/", "/api/docs/"])
def test_no_page_may_run_an_inline_script_not_even_the_api_docs(client, path):
    # The Swagger UI's start-up script is a file of its own (?script=), so the docs need no 'unsafe-inline'
    response = client.get(path)
    assert response["Content-Security-Policy"].split("script-src")[1].split(";")[0].strip() == "'self'"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode()), "an inline script"


def test_health_url_answers_without_redirect_whatever_the_host(client, settings):
    # Given production behind TLS, whose ALLOWED_HOSTS holds only the real domain
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["allowance.example.com"]

    # When the platform's health check asks over plain HTTP with the container's address
    health = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")

    # Then it is answered, neither redirected nor refused; any other URL still is
    assert (health.status_code, health.content) == (200, b"ok\n")
    assert client.get("/", HTTP_HOST="allowance.example.com").status_code == 301
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def production_setting(expression: str, **overrides) -> str:
    result = subprocess.run([sys.executable, "-c", f"import config.settings.production as s; print({expression})"],
                            cwd=ROOT, env=production_env(**overrides), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_session_and_csrf_cookies_are_secure_exactly_when_tls_is_on():
    both = "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE"
    assert production_setting(both) == "True True"  # the default: behind TLS
    assert production_setting(both, SECURE_SSL_REDIRECT="0") == "False False"  # a plain-HTTP trial can log in
    assert production_setting(both, SECURE_SSL_REDIRECT="0", SECURE_COOKIES="1") == "True True"


def test_production_serves_static_files_under_hashed_names():
    backend = production_setting("s.STORAGES['staticfiles']['BACKEND']")
    assert backend == "whitenoise.storage.CompressedManifestStaticFilesStorage"


BAD_HOST = """
import django
django.setup()
from django.test import Client
print(Client().get("/", HTTP_HOST="evil.example.com").status_code)
"""


def test_a_bad_host_header_is_a_400_logged_in_one_line():
    # When a scanner sends a Host that is not ours to production
    result = subprocess.run([sys.executable, "-c", BAD_HOST], cwd=ROOT, env=production_env(SECURE_SSL_REDIRECT="0"),
                            capture_output=True, text=True, timeout=60)

    # Then it gets a 400, and the log has one line about it, no traceback
    assert result.stdout.strip() == "400", result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if "evil.example.com" in line]
    assert lines == ["Invalid HTTP_HOST header: 'evil.example.com'. You may need to add 'evil.example.com' to "
                     "ALLOWED_HOSTS."], result.stderr


def test_check_deploy_with_production_settings_finds_no_issue():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"])
def test_production_refuses_to_start_without_each_secret_or_address(missing):
    result = load_production_settings(env=production_env(**{missing: None}))
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr
