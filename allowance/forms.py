"""Page forms for buying, paying orders, returns and campaigns. Amounts are typed in yuan, kept in fen."""
from django import forms
from django.conf import settings
from django.contrib import messages
from django.utils.translation import gettext_lazy as _

from allowance.models import MAX_PER_CONSUMER_LIMIT, MAX_STOCK
from allowance.money import fen_to_yuan, yuan_to_fen


def form_errors_to_messages(request, form) -> None:
    """For a form posted from a list page, where there is no form to show the errors next to: flash them."""
    for field_errors in form.errors.values():
        for error in field_errors:
            messages.error(request, error)


class YuanField(forms.Field):
    """A positive yuan amount with at most two decimals ("72", "72.5", "72.50"), cleaned to integer fen."""

    default_error_messages = {
        "invalid": _("Enter an amount in yuan with at most two decimals, for example 72.50."),
        "not_positive": _("The amount must be greater than zero."),
        "too_large": _("The amount must be at most %(max)s."),
    }

    widget = forms.TextInput

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off", "maxlength": "20"})

    def to_python(self, value):
        value = "" if value is None else str(value).strip()
        if value in self.empty_values:
            return None
        if len(value) > 20:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            fen = yuan_to_fen(value)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if fen <= 0:
            raise forms.ValidationError(self.error_messages["not_positive"], code="not_positive")
        if fen > settings.MAX_AMOUNT_FEN:
            raise forms.ValidationError(
                self.error_messages["too_large"], code="too_large", params={"max": fen_to_yuan(settings.MAX_AMOUNT_FEN)}
            )
        return fen

    def validate(self, value):
        if value is None and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")


class OrderPayForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, label=_("Store"), empty_label=None)
    order_ref = forms.CharField(label=_("Order reference"), max_length=64)
    amount = YuanField(label=_("Amount (yuan)"))

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores

    def clean_order_ref(self):
        ref = self.cleaned_data["order_ref"].strip()
        if not ref:
            raise forms.ValidationError(_("This field is required."), code="required")
        return ref


class OrderReturnForm(forms.Form):
    amount = YuanField(label=_("Amount to return (yuan)"), required=False,
                       help_text=_("Leave empty to return everything not yet returned."))


class CampaignForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, label=_("Store"), empty_label=None)
    name = forms.CharField(label=_("Name"), max_length=120)
    pay_amount = YuanField(label=_("Pay (yuan)"))
    credit_amount = YuanField(label=_("Get (yuan)"))
    starts_at = forms.DateTimeField(label=_("Sale starts"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    ends_at = forms.DateTimeField(label=_("Sale ends"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    valid_until = forms.DateTimeField(label=_("Valid until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    per_consumer_limit = forms.IntegerField(label=_("Per-consumer limit"), min_value=1,
                                            max_value=MAX_PER_CONSUMER_LIMIT, initial=1)
    stock = forms.IntegerField(label=_("Stock"), min_value=1, max_value=MAX_STOCK, required=False,
                               help_text=_("Leave empty for no limit."))

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
