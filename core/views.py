"""View plumbing the apps' pages share."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader


def role_required(lookup, *, attr: str):
    """A view decorator: logged-in users for whom `lookup(user=…)` finds something, which is set on the request
    as `attr`; anonymous users go to the login page, anyone else gets a 404 (as for an object that does not
    exist). The apps pass their own selector, e.g. `role_required(consumer_for_user, attr="consumer")`."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            found = lookup(user=request.user)
            if found is None:
                raise Http404
            setattr(request, attr, found)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# The product's own error pages (templates/403.html, 404.html, 500.html), in the visitor's language, with the
# top bar so there is a way on. config/urls.py names them; `make run` serves them too (DEBUG off, see run.py).
def page_not_found(request, exception):
    return render(request, "404.html", status=404)


def permission_denied(request, exception):
    return render(request, "403.html", status=403)


def server_error(request):
    # No request context: whatever broke (the database, a context processor) must not break this page too.
    return HttpResponseServerError(loader.get_template("500.html").render())


class DatabaseUnavailableMiddleware:
    """A page whose database cannot be reached (a failover in progress, a pool restarting) answers 503 with
    Retry-After and templates/503.html, not the 500 page: the transaction rolled back and nothing changed. The
    API's views answer the same in JSON (core/api/exceptions.py); this covers the pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        import logging

        logging.getLogger("allowance.pages").warning("database unavailable, page answered 503: %s",
                                                     str(exception).strip().splitlines()[0] if str(exception) else "")
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "2"
        return response
