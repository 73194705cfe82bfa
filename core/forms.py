"""Form plumbing the apps' pages share: the yuan amount field (typed in yuan, full-width digits accepted, cleaned
to fen), a date-time field the database can hand back, showing a service's field errors beside the fields, and
flashing a list page's form errors."""
import unicodedata
from datetime import date

from django import forms
from django.conf import settings
from django.contrib import messages
from django.utils.translation import gettext_lazy as _

from core.money import fen_to_yuan, yuan_to_fen


def form_errors_to_messages(request, form) -> None:
    """For a form posted from a list page, where there is no form to show the errors next to: flash them."""
    for field_errors in form.errors.values():
        for error in field_errors:
            messages.error(request, error)


def form_errors_from_domain_error(form, exc) -> None:
    """A service refused the form's data (`DomainError`): its message beside each field it names that the form
    shows, otherwise above the form."""
    named = {name: messages for name, messages in exc.field_errors().items() if name in form.fields}
    for name, messages in named.items():
        form.add_error(name, messages)
    if not named:
        form.add_error(None, str(exc))


class DateTimeInCalendarField(forms.DateTimeField):
    """A date and time whose UTC time Python can hold: 0001-01-01 00:00 in Shanghai is 0000-12-31 in UTC, which
    PostgreSQL stores and no page can read back (a 500 on every page listing it)."""

    default_error_messages = {"out_of_range": _("Enter a date between %(first)s and %(last)s.")}
    FIRST, LAST = date(1, 1, 2), date(9999, 12, 30)  # a day of margin: no time zone is a day away from UTC

    def to_python(self, value):
        value = super().to_python(value)
        if value is not None and not self.FIRST <= value.date() <= self.LAST:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range",
                                        params={"first": self.FIRST.isoformat(), "last": self.LAST.isoformat()})
        return value


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
        # NFKC: full-width digits and point from a Chinese keyboard ("１０", "７２．５") read as "10", "72.5".
        value = "" if value is None else unicodedata.normalize("NFKC", str(value)).strip()
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
