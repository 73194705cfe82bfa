"""Merchant pages: the summary and campaigns, and user management (search, refund now, retention)."""
from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
import csv
import itertools

from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import errors
from merchants.forms import CampaignForm
from core.forms import form_errors_from_domain_error, form_errors_to_messages
from allowance.models import Campaign
from core.money import fen_to_yuan, yuan_to_fen
from allowance.selectors import campaigns_for_staff
from refunds.selectors import merchant_summary
from allowance.services import campaign_create, campaign_end, export_audit
from merchants.selectors import is_store_staff, stores_for_staff
from merchants.charts import daily_chart_svg
from merchants.forms import InsightsFilterForm, MerchantSearchForm, RetentionMessageForm
from refunds.insights import insights_default_range, insights_for_staff
from refunds.selectors import consumers_with_wallets_for_staff, pending_requests_for_staff, request_for_staff
from refunds import exports
from refunds.services import withdrawal_refund, withdrawal_retention_message


def staff_required(view):
    """Merchant staff only: anonymous users go to the login page, anyone else gets a 404."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_store_staff(user=request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@staff_required
def dashboard(request):
    state = "history" if request.GET.get("state") == "history" else "active"
    return render(request, "merchants/dashboard.html", {
        "summary": merchant_summary(user=request.user),
        "campaigns": campaigns_for_staff(user=request.user, state=state),
        "state": state,
        "stores": stores_for_staff(user=request.user).order_by("name"),
    })


@require_http_methods(["GET", "POST"])
@staff_required
def campaign_new(request):
    stores = stores_for_staff(user=request.user).order_by("name")
    now = timezone.localtime().replace(second=0, microsecond=0)
    initial = {"starts_at": now, "ends_at": now + timedelta(days=30), "valid_until": now + timedelta(days=365),
               "per_consumer_limit": 1}
    form = CampaignForm(request.POST or None, stores=stores, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = campaign_create(actor=request.user, **data)
        except errors.NotFound:
            raise Http404 from None
        except errors.DomainError as exc:
            form_errors_from_domain_error(form, exc)
        else:
            messages.success(request, _("Campaign “%(name)s” created.") % {"name": campaign.name})
            return redirect("merchants:dashboard")
    return render(request, "merchants/campaign_form.html", {"form": form})


@require_POST
@staff_required
def campaign_end_view(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk, store__in=stores_for_staff(user=request.user))
    try:
        campaign_end(campaign=campaign, actor=request.user)
    except errors.NotFound:
        raise Http404 from None
    messages.success(request, _("The sale of “%(name)s” has ended; allowance already bought stays valid.") % {
        "name": campaign.name})
    return redirect("merchants:dashboard")


@require_GET
@staff_required
def users(request):
    form = MerchantSearchForm(request.GET or None)
    account_name = form.cleaned_data["account_name"].strip() if form.is_valid() else ""
    matches = (
        consumers_with_wallets_for_staff(user=request.user, account_name=account_name, prefix=True)
        if account_name else None
    )
    return render(request, "merchants/users.html", {
        "form": form,
        "account_name": account_name,
        "matches": matches,
        "pending": pending_requests_for_staff(user=request.user),
        "retention_form": RetentionMessageForm(),
    })


def _back_to_users(request):
    account_name = request.POST.get("account_name", "").strip()[:64]
    url = reverse("merchants:users")
    return redirect(f"{url}?{urlencode({'account_name': account_name})}" if account_name else url)


@require_POST
@staff_required
def withdrawal_refund_view(request, pk: int):
    withdrawal = request_for_staff(user=request.user, request_id=pk)
    if withdrawal is None:
        raise Http404
    # The form carries the principal the staff member saw (and confirmed): a return since then is a refusal.
    try:
        seen = yuan_to_fen(request.POST.get("principal", ""))
    except (ValueError, ArithmeticError):
        messages.error(request, _("The amount to refund was not sent with the form; reload the page and try again."))
        return _back_to_users(request)
    try:
        withdrawal = withdrawal_refund(request=withdrawal, actor=request.user, seen_principal=seen)
    except errors.NotFound:
        raise Http404 from None
    except errors.DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Refunded %(principal)s to %(name)s; %(bonus)s of bonus lapsed.") % {
            "principal": fen_to_yuan(withdrawal.principal), "name": withdrawal.wallet.consumer.account_name,
            "bonus": fen_to_yuan(withdrawal.bonus_lapsed)})
    return _back_to_users(request)


@require_POST
@staff_required
def retention_message_view(request, pk: int):
    withdrawal = request_for_staff(user=request.user, request_id=pk)
    if withdrawal is None:
        raise Http404
    form = RetentionMessageForm(request.POST)
    if not form.is_valid():
        form_errors_to_messages(request, form)
        return _back_to_users(request)
    try:
        withdrawal_retention_message(request=withdrawal, actor=request.user, message=form.cleaned_data["message"])
    except errors.NotFound:
        raise Http404 from None
    except errors.DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Message sent to %(name)s.") % {"name": withdrawal.wallet.consumer.account_name})
    return _back_to_users(request)


@require_GET
@staff_required
def insights(request):
    stores = list(stores_for_staff(user=request.user).order_by("name"))
    campaigns = list(Campaign.objects.filter(store__in=stores).order_by("-starts_at", "-pk"))
    start, end = insights_default_range()
    form = InsightsFilterForm(request.GET or None, stores=stores, campaigns=campaigns,
                              initial={"start": start, "end": end})
    store = campaign = None
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        store = next((s for s in stores if s.pk == form.cleaned_data["store"]), None)
        campaign = next((c for c in campaigns if c.pk == form.cleaned_data["campaign"]), None)
    data = insights_for_staff(user=request.user, store=store, campaign=campaign, start=start, end=end)
    series = [("sold", _("Sold"), "s-sold"), ("spent", _("Spent"), "s-spent"),
              ("withdrawn", _("Withdrawn"), "s-withdrawn"), ("expired", _("Expired"), "s-expired")]
    chart = daily_chart_svg(days=data.days, series=series, empty_text=_("Nothing happened in these days."),
                            title=_("Daily amounts in yuan, %(start)s to %(end)s") % {"start": start, "end": end})
    export_query = urlencode({"start": start.isoformat(), "end": end.isoformat(),
                              **({"store": store.pk} if store else {}), "lang": translation.get_language()})
    return render(request, "merchants/insights.html", {
        "form": form, "insights": data, "chart": chart, "series": series, "store": store, "campaign": campaign,
        "export_query": export_query,
    })


# --- finance exports: streamed CSV (constant memory), staff of the store only, each one audited ---------------


class _Echo:
    def write(self, value):
        return value


def _csv_response(filename: str, columns, rows, *, language: str | None) -> StreamingHttpResponse:
    """language None: the fixed column names and status codes (for finance tools); "en" / "zh-hans" (what the
    pages' links send): names and statuses as people read them in that language."""
    writer = csv.writer(_Echo())

    def written(table):
        for number, row in enumerate(table):
            # The BOM makes spreadsheet programs read UTF-8 (Chinese names).
            yield ("\ufeff" if number == 0 else "") + writer.writerow(row)

    def lines():
        if language:
            # Streamed after the view has returned: the language is switched here, where the rows are written.
            with translation.override(language):
                yield from written(exports.for_people(columns, rows))
        else:
            yield from written(itertools.chain([[name for name, *_ in columns]], rows))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _export_language(request) -> str | None:
    """?lang=en or ?lang=zh-hans: the export in that language; no lang: the fixed column names and codes."""
    language = request.GET.get("lang") or None
    if language is not None and language not in dict(settings.LANGUAGES):
        raise ValueError(_("lang must be one of: %(codes)s.") % {"codes": ", ".join(dict(settings.LANGUAGES))})
    return language


def _bad_request(message) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


@require_GET
@staff_required
def export_refunds(request):
    try:
        language = _export_language(request)
    except ValueError as exc:
        return _bad_request(str(exc))
    stores = list(stores_for_staff(user=request.user).order_by("name"))
    form = InsightsFilterForm(request.GET, stores=stores, campaigns=[])
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    store = next((s for s in stores if s.pk == form.cleaned_data["store"]), None)
    export_audit(actor=request.user, export="refunds", target=store or request.user, store=store,
                 start=start.isoformat(), end=end.isoformat())
    rows = exports.refund_rows_for_staff(user=request.user, start=start, end=end, store=store)
    return _csv_response(f"refunds-{start}-{end}.csv", exports.REFUND_COLUMNS, rows, language=language)


@require_GET
@staff_required
def export_users(request):
    try:
        language = _export_language(request)
    except ValueError as exc:
        return _bad_request(str(exc))
    form = MerchantSearchForm(request.GET)
    account_name = form.cleaned_data["account_name"].strip() if form.is_valid() else ""
    if not account_name:
        return HttpResponseBadRequest(_("Search for an account name first."), content_type="text/plain; charset=utf-8")
    export_audit(actor=request.user, export="users", target=request.user, account_name=account_name)
    rows = exports.user_rows_for_staff(user=request.user, account_name=account_name)
    return _csv_response("users.csv", exports.USER_COLUMNS, rows, language=language)


@require_GET
@staff_required
def export_campaign_wallets(request, pk: int):
    try:
        language = _export_language(request)
    except ValueError as exc:
        return _bad_request(str(exc))
    campaign = get_object_or_404(Campaign, pk=pk, store__in=stores_for_staff(user=request.user))
    export_audit(actor=request.user, export="campaign_wallets", target=campaign, store=campaign.store)
    rows = exports.wallet_rows_for_campaign(campaign=campaign)
    return _csv_response(f"campaign-{campaign.pk}-wallets.csv", exports.WALLET_COLUMNS, rows, language=language)
