"""Security glue: the health URL, headers on every response, one-line logs of bad Host headers and how a
brute-forced login is answered (django-axes)."""
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    """`GET /healthz` → 200 "ok" for the platform's health checks (compose's web healthcheck).

    First in MIDDLEWARE, so it answers before SecurityMiddleware can redirect to HTTPS (the check speaks plain
    HTTP to the container) and before anything reads the Host header (the check's 127.0.0.1 is not in a
    production ALLOWED_HOSTS). It says the process serves requests; nothing more is exposed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return HttpResponse("ok\n", content_type="text/plain")
        return self.get_response(request)


class OneLine(logging.Filter):
    """Drops the traceback of a record: a bad Host header is a client's mistake, worth one line, not thirty."""

    def filter(self, record):
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and Permissions-Policy (Django 5.2 has no CSP of its own).

    Django's SecurityMiddleware and XFrameOptionsMiddleware already send X-Content-Type-Options, Referrer-Policy,
    Cross-Origin-Opener-Policy and X-Frame-Options. The pages load only their own static files (no CDN), so the
    policy allows 'self' only — the Swagger UI page too: its start-up script is a file of its own
    (SpectacularSwaggerSplitView), so no page needs an inline script.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def axes_username(request, credentials) -> str:
    """Account names log in whatever their letter case, so "Alice" and "ALICE" count as one account's failures."""
    name = (credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD)
    if name is None and request is not None and hasattr(request, "POST"):
        name = request.POST.get(settings.AXES_USERNAME_FORM_FIELD)
    return (name or "").strip().casefold()


def axes_lockout_response(request, original_response=None, credentials=None):
    """A locked-out account gets 429: JSON for the API, the product's page (templates/locked_out.html)
    for the login form."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _("Too many failed login attempts for this account. Try again in %(minutes)s minutes.") % {
        "minutes": minutes
    }
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=status)
    else:
        response = render(request, "locked_out.html", {"message": message}, status=status)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
