"""Security glue: headers on every response and how a brute-forced login is answered (django-axes)."""
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and Permissions-Policy (Django 5.2 has no CSP of its own).

    Django's SecurityMiddleware and XFrameOptionsMiddleware already send X-Content-Type-Options, Referrer-Policy,
    Cross-Origin-Opener-Policy and X-Frame-Options. The pages load only their own static files (no CDN), so the
    policy allows 'self' only; the Swagger UI page starts itself with an inline script, so it alone gets a policy
    that allows one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if any(request.path.startswith(p) for p in settings.CONTENT_SECURITY_POLICY_INLINE_SCRIPT_PATHS):
            policy = policy.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
        response.headers.setdefault("Content-Security-Policy", policy)
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
