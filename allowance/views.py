"""Consumer pages: the store list with campaigns to buy, My Allowance, and orders paid with allowance."""
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import errors
from allowance import selectors
from refunds.selectors import wallets_for_consumer
from allowance.forms import OrderPayForm, OrderReturnForm
from core.forms import form_errors_to_messages
from allowance.models import Campaign, Order
from core.money import fen_to_yuan
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from consumers.models import Consumer
from consumers.selectors import consumer_for_user
from core.views import role_required

consumer_required = role_required(consumer_for_user, attr="consumer")


@require_GET
def home(request):
    consumer = Consumer.objects.filter(user=request.user).first() if request.user.is_authenticated else None
    return render(request, "allowance/home.html", {
        "stores": selectors.stores_with_campaigns_on_sale(consumer=consumer),
        # Staff and admins see that buying is for consumers instead of a Buy button that refuses them.
        "not_a_consumer": request.user.is_authenticated and consumer is None})


@require_POST
def campaign_buy(request, pk: int):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    consumer = Consumer.objects.filter(user=request.user).first()
    if consumer is None:
        messages.error(request, _("Only consumer accounts can buy store allowance."))
        return redirect("allowance:home")
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    except errors.DomainError as exc:
        messages.error(request, str(exc))
        return redirect("allowance:home")
    messages.success(request, _("You bought “%(campaign)s”: %(total)s of allowance at %(store)s.") % {
        "campaign": campaign.name, "total": fen_to_yuan(campaign.credit_amount), "store": campaign.store.name,
    })
    return redirect(f"{reverse('allowance:my_allowance')}#wallet-{wallet.pk}")


@require_GET
@consumer_required
def my_allowance(request):
    wallets = wallets_for_consumer(consumer=request.consumer)
    return render(request, "allowance/my_allowance.html", {"wallets": wallets})


@require_http_methods(["GET", "POST"])
@consumer_required
def orders(request):
    consumer = request.consumer
    form = OrderPayForm(request.POST or None, stores=selectors.stores_for_consumer(consumer=consumer))
    if request.method == "POST" and form.is_valid():
        try:
            order = order_spend(
                consumer=consumer, store=form.cleaned_data["store"], order_ref=form.cleaned_data["order_ref"],
                amount=form.cleaned_data["amount"],
            )
        except errors.OrderRefTaken as exc:
            form.add_error("order_ref", str(exc))
        except errors.DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Order %(ref)s paid: %(amount)s from your allowance.") % {
                "ref": order.order_ref, "amount": fen_to_yuan(order.amount)})
            return redirect("allowance:orders")
    return render(request, "allowance/orders.html", {
        "form": form, "orders": selectors.orders_for_consumer(consumer=consumer), "return_form": OrderReturnForm(),
    })


@require_POST
@consumer_required
def order_return_view(request, pk: int):
    order = Order.objects.filter(pk=pk, consumer=request.consumer).first()
    if order is None:
        raise Http404
    form = OrderReturnForm(request.POST)
    if not form.is_valid():
        form_errors_to_messages(request, form)
        return redirect("allowance:orders")
    try:
        order = order_return(order=order, consumer=request.consumer, amount=form.cleaned_data["amount"])
    except errors.NotFound:
        raise Http404 from None
    except errors.DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Order %(ref)s: %(amount)s returned so far.") % {
            "ref": order.order_ref, "amount": fen_to_yuan(order.returned_amount)})
    return redirect("allowance:orders")
