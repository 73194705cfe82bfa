"""Withdrawal requests (提现申请), retention messages (挽留), refunds and their payouts."""
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allowance.models import Campaign, Order, Payment, Wallet


class WithdrawalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        REFUNDED = "refunded", _("refunded")
        CANCELLED = "cancelled", _("cancelled")
        RETAINED = "retained", _("retained")

    class Resolution(models.TextChoices):
        INSTANT = "instant", _("instant")
        MERCHANT = "merchant", _("refunded by the merchant")
        AUTO = "auto", _("refunded automatically")
        EXPIRY = "expiry", _("refunded at expiry")

    # Not indexed alone: withdrawal_by_wallet starts with it.
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="withdrawal_requests", db_index=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    resolution = models.CharField(_("resolution"), max_length=10, choices=Resolution.choices, null=True, blank=True)
    # While pending: the preview at request time. Once refunded: what was refunded and what lapsed.
    principal = models.BigIntegerField(_("principal (fen)"), default=0)
    bonus_lapsed = models.BigIntegerField(_("bonus lapsed (fen)"), default=0)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The outbox of the staff email: a held request is written with this empty, in the same transaction that
    # freezes the wallet; the notify job emails the store's staff and fills it in.
    staff_notified_at = models.DateTimeField(_("staff notified at"), null=True, blank=True, editable=False)
    # The outbox of the consumer's email for a request ended by expiry: the expiry batch writes it empty and
    # publishes nothing per wallet; the notify job emails the consumer and fills it in.
    consumer_notified_at = models.DateTimeField(_("consumer notified at"), null=True, blank=True, editable=False)
    # Set by the scheduled job when it could not resolve this request (SPEC §4.8): it rolled the row back alone
    # and went on; an admin looks at it, `reconcile` counts it while it is still pending.
    attention_reason = models.CharField(_("needs attention because"), max_length=200, blank=True, default="", db_default="")
    attention_at = models.DateTimeField(_("marked for attention at"), null=True, blank=True)

    class Meta:
        verbose_name = _("withdrawal request")
        verbose_name_plural = _("withdrawal requests")
        indexes = [
            # The sweep's query: only pending rows are indexed, so its cost does not grow with history.
            models.Index(fields=["due_at", "id"], name="withdrawal_pending_due", condition=Q(status="pending")),
            models.Index(fields=["wallet", "-requested_at"], name="withdrawal_by_wallet"),
            # The notify job's query: only held requests whose staff email has not gone out yet.
            models.Index(fields=["requested_at", "id"], name="withdrawal_staff_unnotified",
                         condition=Q(status="pending", staff_notified_at__isnull=True)),
            # The same for the consumer's email after an expiry.
            models.Index(fields=["resolved_at", "id"], name="withdrawal_expiry_unnotified",
                         condition=Q(status="refunded", resolution="expiry", consumer_notified_at__isnull=True)),
            # Insights: requests that ended in a date range.
            models.Index(fields=["resolved_at"], name="withdrawal_by_resolved_at", condition=Q(resolved_at__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet"], condition=Q(status="pending"), name="withdrawal_one_open_per_wallet"
            ),
            models.CheckConstraint(
                condition=(Q(status="pending") & Q(resolution__isnull=True) & Q(resolved_at__isnull=True))
                | (Q(status="refunded") & Q(resolution__isnull=False) & Q(resolved_at__isnull=False))
                | (Q(status__in=["cancelled", "retained"]) & Q(resolution__isnull=True) & Q(resolved_at__isnull=False)),
                name="withdrawal_status_matches_resolution",
            ),
            models.CheckConstraint(condition=Q(principal__gte=0) & Q(bonus_lapsed__gte=0), name="withdrawal_amounts_not_negative"),
        ]

    def __str__(self):
        return f"withdrawal #{self.pk}"

    @property
    def outcome_display(self) -> str:
        """How the request ended, in one phrase: "Refunded automatically", not the status and the resolution
        side by side ("refunded refunded automatically")."""
        if self.status == self.Status.REFUNDED and self.resolution in REFUNDED_HOW:
            return str(REFUNDED_HOW[self.resolution])
        if self.status in ENDED_HOW:  # a phrase in sentence case like the others, not the bare status
            return str(ENDED_HOW[self.status])
        return self.get_status_display()


REFUNDED_HOW = {
    WithdrawalRequest.Resolution.INSTANT: _("Refunded at once"),
    WithdrawalRequest.Resolution.MERCHANT: _("Refunded by the store"),
    WithdrawalRequest.Resolution.AUTO: _("Refunded automatically"),
    WithdrawalRequest.Resolution.EXPIRY: _("Refunded at expiry"),
}
ENDED_HOW = {
    WithdrawalRequest.Status.CANCELLED: _("Cancelled by the consumer"),
    WithdrawalRequest.Status.RETAINED: _("Kept after the store's message"),
}


class RetentionMessage(models.Model):
    """A merchant's message asking the consumer to keep the allowance (挽留)."""

    request = models.ForeignKey(WithdrawalRequest, on_delete=models.PROTECT, related_name="retention_messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    message = models.TextField(_("message"), max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("retention message")
        verbose_name_plural = _("retention messages")
        ordering = ["created_at", "id"]


class Refund(models.Model):
    """Money owed back to the consumer's original payment(s), committed; the payout moves it."""

    class Kind(models.TextChoices):
        WITHDRAWAL = "withdrawal", _("withdrawal")
        EXPIRY = "expiry", _("expiry")
        RETURN = "return", _("order returned to a closed allowance")

    class PayoutStatus(models.TextChoices):
        PROCESSING = "processing", _("processing")
        SUCCEEDED = "succeeded", _("succeeded")
        NEEDS_ATTENTION = "needs_attention", _("needs attention")

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="refunds")
    request = models.OneToOneField(
        WithdrawalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="refund"
    )
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.BigIntegerField(_("amount (fen)"))
    payout_status = models.CharField(
        _("payout status"), max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.PROCESSING
    )
    payout_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"], name="refund_payout_open", condition=Q(payout_status="processing")
            ),
            # The finance export: refunds in a date range.
            models.Index(fields=["created_at", "id"], name="refund_by_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(request__isnull=False) | Q(order__isnull=False), name="refund_has_a_cause"
            ),
        ]

    def __str__(self):
        return f"refund #{self.pk}"


class RefundAllocation(models.Model):
    """The part of a refund that goes back to one original payment (newest payment first)."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="allocations")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refund_allocations")
    amount = models.BigIntegerField()
    gateway_reference = models.CharField(max_length=64, blank=True, default="")
    # Set (and committed) before the first payout call: from then on the outcome is asked of the
    # gateway before anything is sent again, so a lost answer or a killed worker never pays twice.
    payout_requested_at = models.DateTimeField(null=True, blank=True)
    # Names the payout at the gateway (refunds.payouts.payout_key): drawn when the part is written, never reused,
    # unlike ids, which a sequence can hand out again after a failover lost the transaction that used them. Empty
    # on parts written before it existed (and by code of that age during a deploy), whose key stays the old one.
    payout_uuid = models.UUIDField(null=True, blank=True, unique=True, editable=False, default=uuid.uuid4)

    class Meta:
        verbose_name = _("refund allocation")
        verbose_name_plural = _("refund allocations")
        constraints = [
            models.UniqueConstraint(fields=["refund", "payment"], name="refund_allocation_once_per_payment"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_allocation_positive"),
        ]


class InsightsHour(models.Model):
    """One campaign's figures for one local hour, up to its roll-up mark (refunds.insights): the roll-up adds each
    minute it keeps to it; nothing else writes it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()  # local (TIME_ZONE)
    hour = models.PositiveSmallIntegerField()  # local, 0–23
    figures = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("insights hour")
        verbose_name_plural = _("insights hours")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "hour"], name="insights_hour_once_per_campaign"),
        ]


class InsightsRollup(models.Model):
    """How far a campaign's InsightsHour rows go (everything before `through` is kept) and its outstanding
    principal and bonus at `through`. Locked while rolling up."""

    campaign = models.OneToOneField(Campaign, primary_key=True, on_delete=models.CASCADE, related_name="+")
    through = models.DateTimeField(null=True, blank=True)
    principal = models.BigIntegerField(default=0)
    bonus = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("insights roll-up")
        verbose_name_plural = _("insights roll-ups")
