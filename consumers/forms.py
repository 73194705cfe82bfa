from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from consumers.selectors import account_name_taken
from consumers.services import account_name_check
from core import errors


class RegisterForm(forms.Form):
    account_name = forms.CharField(
        label=_("Account name"), max_length=64,
        help_text=_("2–64 characters: letters of any script (such as 张伟 or Zoë), digits, or . @ + - _. "
                    "It is also your login name; letter case does not matter."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(label=_("Email (optional)"), required=False)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password_again = forms.CharField(label=_("Password again"),
                                     widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_account_name(self):
        # Checked here as well as in the service, so that a bad or taken name is shown together with any password
        # problem (the service still refuses a name taken between this check and its write).
        try:
            account_name = account_name_check(account_name=self.cleaned_data["account_name"])
        except errors.DomainError as exc:
            raise forms.ValidationError(str(exc)) from None
        if account_name_taken(account_name=account_name):
            raise forms.ValidationError(str(errors.AccountNameTaken()))
        return account_name

    def clean(self):
        # Every problem at once: the name, the password's strength and whether the two passwords match.
        cleaned = super().clean()
        password, again = cleaned.get("password"), cleaned.get("password_again")
        if password and again and password != again:
            self.add_error("password_again", _("The two passwords differ."))
        if password:
            try:
                password_validation.validate_password(password)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned
