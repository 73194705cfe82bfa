"""Accounts: register a consumer, log in (staff land on /merchant/, consumers on My Allowance), log out."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core import errors
from consumers.forms import RegisterForm
from consumers.models import Consumer
from consumers.services import consumer_register
from merchants.selectors import is_store_staff


def landing_url(user) -> str:
    if is_store_staff(user=user):
        return reverse("merchants:dashboard")
    if Consumer.objects.filter(user=user).exists():
        return reverse("allowance:my_allowance")
    if user.is_staff:
        return reverse("admin:index")
    return reverse("allowance:home")


class LoginView(auth_views.LoginView):
    template_name = "consumers/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return landing_url(self.request.user)


@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect(landing_url(request.user))
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consumer = consumer_register(
                account_name=form.cleaned_data["account_name"], password=form.cleaned_data["password"],
                email=form.cleaned_data["email"],
            )
        except errors.AccountNameTaken as exc:
            form.add_error("account_name", str(exc))
        except errors.DomainError as exc:
            form.add_error("account_name", str(exc))
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            login(request, consumer.user, backend="consumers.backends.CaseInsensitiveModelBackend")
            messages.success(request, _("Welcome, %(name)s! Your account is ready.") % {"name": consumer.account_name})
            return redirect("allowance:home")
    return render(request, "consumers/register.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule): a link cannot log anyone out behind their back."""
