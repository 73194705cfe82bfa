"""The merchant pages' forms: campaigns, the user search and retention messages."""
from django import forms
from django.utils.dateformat import format as date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from allowance.models import MAX_PER_CONSUMER_LIMIT, MAX_STOCK
from core.forms import DateTimeInCalendarField, YuanField


class CampaignForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, label=_("Store"), empty_label=None)
    name = forms.CharField(label=_("Name"), max_length=120)
    pay_amount = YuanField(label=_("Pay (yuan)"))
    credit_amount = YuanField(label=_("Get (yuan)"))
    starts_at = DateTimeInCalendarField(label=_("Sale starts"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    ends_at = DateTimeInCalendarField(label=_("Sale ends"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    valid_until = DateTimeInCalendarField(label=_("Valid until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    per_consumer_limit = forms.IntegerField(label=_("Per-consumer limit"), min_value=1,
                                            max_value=MAX_PER_CONSUMER_LIMIT, initial=1)
    stock = forms.IntegerField(label=_("Stock"), min_value=1, max_value=MAX_STOCK, required=False,
                               help_text=_("Leave empty for no limit."))

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


def campaign_choice_label(campaign) -> str:
    """Name, sale days and number: two campaigns may share a name ("Pay 80 get 100" every month)."""
    days = f"{date_format(localtime(campaign.starts_at), 'Y-m-d')}–{date_format(localtime(campaign.ends_at), 'Y-m-d')}"
    return f"{campaign.name} ({days}, #{campaign.pk})"


class InsightsFilterForm(forms.Form):
    """The insights page's filters: a store and a campaign of the staff member's, and the days (both included)."""

    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    campaign = forms.TypedChoiceField(label=_("Campaign"), required=False, coerce=int, empty_value=None)
    start = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label=_("To"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, stores, campaigns, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [("", _("All stores")), *((s.pk, s.name) for s in stores)]
        self.fields["campaign"].choices = [("", _("All campaigns")), *((c.pk, campaign_choice_label(c)) for c in campaigns)]

    def clean(self):
        from refunds.insights import insights_range_resolve

        data = super().clean()
        start, end, problems = insights_range_resolve(start=data.get("start"), end=data.get("end"))
        for name, message in problems.items():
            self.add_error({"from": "start", "to": "end"}[name], message)
        data["start"], data["end"] = start, end
        return data
