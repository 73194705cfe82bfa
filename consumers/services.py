import re

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from core import errors
from consumers.models import Consumer

ACCOUNT_NAME_RE = re.compile(r"^[\w.@+-]{3,64}$")


def consumer_register(*, account_name: str, password: str, email: str = "", validate: bool = True) -> Consumer:
    """Create a consumer; the account name is the login name, unique whatever its letter case."""
    account_name = (account_name or "").strip()
    if not ACCOUNT_NAME_RE.match(account_name):
        raise errors.DomainError(gettext_lazy("Account names are 3–64 letters, digits or . @ + - _ characters."))
    key = Consumer.key_for(account_name)
    if len(key) > Consumer._meta.get_field("account_key").max_length:
        # Ignoring letter case can lengthen a name ("ß" folds to "ss"): refuse it here rather than let the
        # database refuse the key with a 500.
        raise errors.DomainError(gettext_lazy(
            "This account name is too long once letter case is ignored (ß counts as ss); choose a shorter one."))
    User = get_user_model()
    user = User(username=account_name, email=email or "")
    if validate:
        validate_password(password, user)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=account_name).exists():
                raise errors.AccountNameTaken()
            user.set_password(password)
            user.save()
            return Consumer.objects.create(user=user, account_name=account_name, account_key=key)
    except IntegrityError as exc:
        raise errors.AccountNameTaken() from exc
