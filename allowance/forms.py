"""Page forms for buying, paying orders, returns and campaigns. Amounts are typed in yuan, kept in fen."""
from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import YuanField


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


