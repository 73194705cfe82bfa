"""View plumbing the apps' pages share."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseServerError
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
