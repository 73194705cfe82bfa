"""The merchant pages' forms: campaigns, the user search and retention messages."""
from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import YuanField


class CampaignForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, label=_("Store"), empty_label=None)
    name = forms.CharField(label=_("Name"), max_length=120)
    pay_amount = YuanField(label=_("Pay (yuan)"))
    credit_amount = YuanField(label=_("Get (yuan)"))
    starts_at = forms.DateTimeField(label=_("Sale starts"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    ends_at = forms.DateTimeField(label=_("Sale ends"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    valid_until = forms.DateTimeField(label=_("Valid until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    per_consumer_limit = forms.IntegerField(label=_("Per-consumer limit"), min_value=1, initial=1)
    stock = forms.IntegerField(label=_("Stock"), min_value=1, required=False, help_text=_("Leave empty for no limit."))

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores


class RetentionMessageForm(forms.Form):
    message = forms.CharField(
        label=_("Retention message"), max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("For example: keep it and get a free gift with your next order.")}),
    )


class MerchantSearchForm(forms.Form):
    account_name = forms.CharField(label=_("Account name"), max_length=64, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "off", "type": "search"}))
