"""Consumer withdrawal pages: the preview and confirmation, and ending a pending request."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core import errors
from core.money import fen_to_yuan, yuan_to_fen
from allowance.selectors import wallet_for_consumer
from consumers.selectors import consumer_for_user
from core.views import role_required
from refunds.models import WithdrawalRequest
from refunds.selectors import request_for_consumer
from refunds.services import withdrawal_cancel, withdrawal_preview, withdrawal_request

consumer_required = role_required(consumer_for_user, attr="consumer")


def _my_allowance(wallet_id=None) -> str:
    url = reverse("allowance:my_allowance")
    return f"{url}#wallet-{wallet_id}" if wallet_id else url


@require_http_methods(["GET", "POST"])
@consumer_required
def withdrawal_confirm(request, wallet_id: int):
    """GET shows the preview (principal back, bonus that lapses, instant or when); POST confirms it."""
    wallet = wallet_for_consumer(consumer=request.consumer, wallet_id=wallet_id)
    if wallet is None:
        raise Http404
    if request.method == "POST":
        # The form carries the principal the consumer saw (and confirmed): an order paid or returned since then
        # is a refusal, and the preview is shown again with the new amounts.
        try:
            seen = yuan_to_fen(request.POST.get("principal", ""))
        except (ValueError, ArithmeticError):
            messages.error(request, _("The amount to withdraw was not sent with the form; reload the page and try "
                                      "again."))
            return redirect("refunds:withdrawal_confirm", wallet_id=wallet.pk)
        try:
            withdrawal = withdrawal_request(wallet=wallet, actor=request.user, seen_principal=seen)
        except errors.NotFound:
            raise Http404 from None
        except errors.WithdrawalAmountChanged as exc:
            messages.error(request, str(exc))
            return redirect("refunds:withdrawal_confirm", wallet_id=wallet.pk)
        except errors.DomainError as exc:
            messages.error(request, str(exc))
            return redirect(_my_allowance(wallet.pk))
        if withdrawal.status == WithdrawalRequest.Status.REFUNDED:
            messages.success(request, _(
                "Withdrawal done: %(principal)s is on its way back to your original payment; %(bonus)s of bonus lapsed."
            ) % {"principal": fen_to_yuan(withdrawal.principal), "bonus": fen_to_yuan(withdrawal.bonus_lapsed)})
        else:
            messages.success(request, _(
                "Withdrawal requested: %(principal)s will be refunded by %(due)s unless the store refunds it sooner."
            ) % {"principal": fen_to_yuan(withdrawal.principal), "due": _local(withdrawal.due_at)})
        return redirect(_my_allowance(wallet.pk))
    try:
        preview = withdrawal_preview(wallet=wallet)
    except errors.DomainError as exc:
        messages.error(request, str(exc))
        return redirect(_my_allowance(wallet.pk))
    return render(request, "refunds/withdrawal_confirm.html", {"wallet": wallet, "preview": preview})


def _local(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@require_POST
@consumer_required
def withdrawal_cancel_view(request, pk: int):
    """"Cancel request" and "Keep my allowance" both end the request; after a retention message it is `retained`."""
    withdrawal = request_for_consumer(consumer=request.consumer, request_id=pk)
    if withdrawal is None:
        raise Http404
    try:
        withdrawal = withdrawal_cancel(request=withdrawal, actor=request.user)
    except errors.NotFound:
        raise Http404 from None
    except errors.DomainError as exc:
        messages.error(request, str(exc))
    else:
        if withdrawal.status == WithdrawalRequest.Status.RETAINED:
            messages.success(request, _("You kept your allowance. Thank you!"))
        else:
            messages.success(request, _("Withdrawal request cancelled: your allowance can be used again."))
    return redirect(_my_allowance(withdrawal.wallet_id))
