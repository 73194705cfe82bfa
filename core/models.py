"""The two tables of the shared plumbing: stored API answers (idempotency) and the sandbox gateway's books.

They moved here from allowance and refunds without moving data: each keeps its table name (`db_table`), and
the migrations that moved them change Django's state only (docs/architecture.md, "core").
"""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """The first answer to a money-moving API request sent with an `Idempotency-Key` header.

    Inserted before the action runs, in the same transaction; the unique (user, key) makes a concurrent twin
    wait on the insert until the first commits, then replay the stored answer instead of acting again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, path and body
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "allowance_idempotencykey"
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        indexes = [models.Index(fields=["created_at"], name="idempotency_by_age")]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class SandboxPayout(models.Model):
    """A payout the sandbox gateway has applied: one row per idempotency key, whoever sent it how often.

    It stands in for the provider's own books, so "paid exactly once" can be counted across processes. It lives in
    the `gateway` database (core/db.py), not the money database: its rows commit on their own, as a provider's do.
    """

    key = models.CharField(max_length=100, unique=True)
    payment_reference = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    reference = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "refunds_sandboxpayout"
        verbose_name = _("sandbox payout")
        verbose_name_plural = _("sandbox payouts")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_payout_positive")]
        # "How much of this payment have you refunded?" (payment_refunded_batch), asked before every payout.
        indexes = [models.Index(fields=["payment_reference"], include=["amount"], name="sandbox_payout_by_payment")]

    def __str__(self):
        return self.key
