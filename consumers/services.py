import re

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from core import errors
from consumers.models import Consumer

# Letters and digits of any script (\w is Unicode: 张伟, Zoë), or . @ + - _; two characters at least, as many
# Chinese names have two.
ACCOUNT_NAME_RE = re.compile(r"^[\w.@+-]{2,64}$")


def account_name_check(*, account_name: str) -> str:
    """The account name as it will be stored (trimmed), or DomainError saying what is allowed."""
    account_name = (account_name or "").strip()
    if not ACCOUNT_NAME_RE.match(account_name):
        raise errors.DomainError(gettext_lazy(
            "Account names are 2–64 characters: letters of any script (such as 张伟 or Zoë), digits, or . @ + - _"))
    if len(Consumer.key_for(account_name)) > Consumer._meta.get_field("account_key").max_length:
        # Ignoring letter case can lengthen a name ("ß" folds to "ss"): refuse it here rather than let the
        # database refuse the key with a 500.
        raise errors.DomainError(gettext_lazy(
            "This account name is too long once letter case is ignored (ß counts as ss); choose a shorter one."))
    return account_name


def consumer_register(*, account_name: str, password: str, email: str = "", validate: bool = True) -> Consumer:
    """Create a consumer; the account name is the login name, unique whatever its letter case."""
    account_name = account_name_check(account_name=account_name)
    key = Consumer.key_for(account_name)
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
