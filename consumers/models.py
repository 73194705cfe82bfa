from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Consumer(models.Model):
    """A shopper. The account name (账户名) is also the login name and is unique whatever its letter case."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consumer")
    account_name = models.CharField(_("account name"), max_length=64)
    # The account name folded to lower case: the unique key and what merchant search uses
    # (exact and prefix, both served by an index).
    account_key = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("consumer")
        verbose_name_plural = _("consumers")
        indexes = [
            models.Index(fields=["account_key"], name="consumer_account_prefix", opclasses=["varchar_pattern_ops"]),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(account_key=""), name="consumer_account_key_not_empty"),
        ]

    def __str__(self):
        return self.account_name

    @staticmethod
    def key_for(account_name: str) -> str:
        return account_name.strip().casefold()
