"""View plumbing the apps' pages share."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404


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
