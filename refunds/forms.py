from django import forms
from django.utils.translation import gettext_lazy as _


class RetentionMessageForm(forms.Form):
    message = forms.CharField(
        label=_("Retention message"), max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("For example: keep it and get a free gift with your next order.")}),
    )


class MerchantSearchForm(forms.Form):
    account_name = forms.CharField(label=_("Account name"), max_length=64, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "off", "type": "search"}))
