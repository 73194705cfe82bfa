"""Campaigns, wallets, payments, orders and the append-only ledger. Amounts are integer fen."""
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consumers.models import Consumer
from merchants.models import Store

# Bounds for a campaign's counts, well inside the integer columns that hold them (2^31 − 1), so that a form or
# the API refuses a larger number with a field error instead of the database refusing it with a 500.
MAX_PER_CONSUMER_LIMIT = 1_000_000
MAX_STOCK = 2_000_000_000


def split_principal(*, total: int, paid: int, credited: int) -> int:
    """principal = ceil(total × paid / credited), in integer fen (SPEC §3)."""
    if credited <= 0:
        return 0
    return -((-total * paid) // credited)


class Campaign(models.Model):
    """A store's offer "pay X, get Y" (充X得Y)."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(_("name"), max_length=120)
    pay_amount = models.BigIntegerField(_("pay amount (fen)"))
    credit_amount = models.BigIntegerField(_("credit amount (fen)"))
    starts_at = models.DateTimeField(_("sale starts"))
    ends_at = models.DateTimeField(_("sale ends"))
    valid_until = models.DateTimeField(_("valid until"))
    per_consumer_limit = models.PositiveIntegerField(_("per-consumer limit"), default=1)
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True)
    sold_count = models.PositiveIntegerField(_("sold"), default=0)
    ended_at = models.DateTimeField(_("ended early at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        indexes = [models.Index(fields=["valid_until"], name="campaign_valid_until")]
        constraints = [
            models.CheckConstraint(condition=Q(pay_amount__gt=0), name="campaign_pay_positive"),
            models.CheckConstraint(condition=Q(credit_amount__gte=F("pay_amount")), name="campaign_credit_covers_pay"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="campaign_window_ordered"),
            models.CheckConstraint(condition=Q(valid_until__gte=F("ends_at")), name="campaign_valid_after_sale"),
            models.CheckConstraint(condition=Q(per_consumer_limit__gte=1), name="campaign_limit_positive"),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(sold_count__lte=F("stock")), name="campaign_sold_within_stock"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def bonus_amount(self) -> int:
        return self.credit_amount - self.pay_amount

    @property
    def remaining_stock(self) -> int | None:
        return None if self.stock is None else self.stock - self.sold_count

    def is_on_sale(self, now=None) -> bool:
        now = now or timezone.now()
        return self.ended_at is None and self.starts_at <= now < self.ends_at

    @property
    def state(self) -> str:
        return "active" if self.ended_at is None and timezone.now() < self.ends_at else "history"


class Wallet(models.Model):
    """The allowance one consumer holds from one campaign: principal (本金) and bonus (权益金).

    One life: opened by a purchase, topped up by more purchases while open, closed for good by a refund or at
    expiry. Buying the campaign again after that opens a new wallet.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        FROZEN = "frozen", _("frozen")
        CLOSED = "closed", _("closed")

    # Not indexed alone: wallet_spend_order starts with it.
    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="wallets", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="wallets")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="wallets")
    paid = models.BigIntegerField(_("paid (fen)"), default=0)
    credited = models.BigIntegerField(_("credited (fen)"), default=0)
    principal = models.BigIntegerField(_("principal (fen)"), default=0)
    bonus = models.BigIntegerField(_("bonus (fen)"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    valid_until = models.DateTimeField(_("valid until"))  # the campaign's, copied: it orders spending
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set by the expiry job when it could not close this wallet (SPEC §4.8); `reconcile` counts it while open.
    attention_reason = models.CharField(_("needs attention because"), max_length=200, blank=True, default="", db_default="")
    attention_at = models.DateTimeField(_("marked for attention at"), null=True, blank=True)
    # The outbox of the expiry reminder: empty until the reminder job has emailed the consumer, seven days
    # before valid_until (allowance.reminders).
    expiry_reminded_at = models.DateTimeField(_("expiry reminder sent at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        indexes = [
            models.Index(fields=["consumer", "store", "valid_until", "id"], name="wallet_spend_order"),
            # The expiry job's keyset: open wallets only, in (valid_until, id) order, so closed history is never read.
            models.Index(fields=["valid_until", "id"], name="wallet_open_by_validity", condition=~Q(status="closed")),
            # The reminder job's query: only open wallets not yet reminded.
            models.Index(fields=["valid_until", "id"], name="wallet_expiry_unreminded",
                         condition=~Q(status="closed") & Q(expiry_reminded_at__isnull=True)),
        ]
        constraints = [
            # At most one OPEN wallet per (consumer, campaign): a closed wallet stays closed, and buying again
            # opens a new one, so every payment, spend, return and refund belongs to one wallet's life (SPEC §1).
            models.UniqueConstraint(fields=["consumer", "campaign"], condition=~Q(status="closed"),
                                    name="wallet_one_open_per_consumer_campaign"),
            models.CheckConstraint(condition=Q(principal__gte=0), name="wallet_principal_not_negative"),
            models.CheckConstraint(condition=Q(bonus__gte=0), name="wallet_bonus_not_negative"),
            models.CheckConstraint(condition=Q(paid__gte=0), name="wallet_paid_not_negative"),
            models.CheckConstraint(condition=Q(credited__gte=F("paid")), name="wallet_credited_covers_paid"),
            models.CheckConstraint(condition=Q(principal__lte=F("paid")), name="wallet_principal_within_paid"),
            models.CheckConstraint(
                condition=Q(principal__lte=F("credited") - F("bonus")), name="wallet_total_within_credited"
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | (Q(principal=0) & Q(bonus=0)), name="wallet_closed_is_empty"
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.consumer} · {self.campaign}"

    @property
    def total(self) -> int:
        return self.principal + self.bonus

    @property
    def consumed(self) -> bool:
        """True when some spending has not been returned: the withdrawal then waits for the hold."""
        return self.status != self.Status.CLOSED and self.total < self.credited

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.valid_until

    def expires_soon(self, now=None) -> bool:
        """Open, holding money, and within EXPIRY_REMINDER_DAYS of valid_until: My Allowance shows the notice."""
        now = now or timezone.now()
        return (self.status != self.Status.CLOSED and self.total > 0
                and now < self.valid_until <= now + timedelta(days=settings.EXPIRY_REMINDER_DAYS))

    @property
    def expiry_notice(self) -> bool:
        return self.expires_soon()

    def is_usable(self, now=None) -> bool:
        return self.status == self.Status.ACTIVE and not self.is_expired(now)


class Payment(models.Model):
    """A top-up paid through the gateway. Refunds go back to it, never beyond its amount."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("succeeded")

    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="payments")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="payments")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="payments")
    amount = models.BigIntegerField(_("amount (fen)"))
    credit_amount = models.BigIntegerField(_("credited (fen)"))
    refunded_amount = models.BigIntegerField(_("refunded (fen)"), default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUCCEEDED)
    gateway = models.CharField(max_length=32, default="sandbox")
    gateway_reference = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        # Insights: a campaign's sales over a date range.
        indexes = [models.Index(fields=["campaign", "created_at"], include=["amount", "credit_amount"],
                                name="payment_by_campaign_time")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="payment_refunded_not_negative"),
            models.CheckConstraint(condition=Q(refunded_amount__lte=F("amount")), name="payment_refund_within_amount"),
        ]

    def __str__(self):
        return f"payment #{self.pk}"

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded_amount


class Order(models.Model):
    """An order paid with allowance at a store's checkout."""

    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="orders")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    order_ref = models.CharField(_("order reference"), max_length=64)
    amount = models.BigIntegerField(_("amount (fen)"))
    returned_amount = models.BigIntegerField(_("returned (fen)"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["store", "order_ref"], name="order_unique_ref_per_store"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(condition=Q(returned_amount__gte=0), name="order_returned_not_negative"),
            models.CheckConstraint(condition=Q(returned_amount__lte=F("amount")), name="order_returned_within_amount"),
        ]

    def __str__(self):
        return self.order_ref


class OrderAllocation(models.Model):
    """How much an order took from one wallet; a return gives it back to the same wallet."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="allocations")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="allocations")
    principal = models.BigIntegerField(default=0)
    bonus = models.BigIntegerField(default=0)
    returned_principal = models.BigIntegerField(default=0)
    returned_bonus = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("order allocation")
        verbose_name_plural = _("order allocations")
        constraints = [
            models.UniqueConstraint(fields=["order", "wallet"], name="allocation_one_per_order_wallet"),
            models.CheckConstraint(condition=Q(principal__gte=0) & Q(bonus__gte=0), name="allocation_not_negative"),
            models.CheckConstraint(
                condition=Q(returned_principal__gte=0) & Q(returned_bonus__gte=0), name="allocation_returned_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(returned_principal__lte=F("principal") + F("bonus") - F("returned_bonus")),
                name="allocation_returned_within_taken",
            ),
        ]

    @property
    def amount(self) -> int:
        return self.principal + self.bonus

    @property
    def returned(self) -> int:
        return self.returned_principal + self.returned_bonus

    @property
    def returnable(self) -> int:
        return self.amount - self.returned


class LedgerEntry(models.Model):
    """One change of a wallet's balance. Append-only: a wallet always equals the sum of its entries."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("top-up")
        SPEND = "spend", _("spend")
        SPEND_RETURN = "spend_return", _("order returned")
        WITHDRAWAL_REFUND = "withdrawal_refund", _("withdrawal refund")
        EXPIRY_REFUND = "expiry_refund", _("expiry refund")
        RETURN_REFUND = "return_refund", _("return refunded to payment")
        BONUS_LAPSE = "bonus_lapse", _("bonus lapsed")

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries", db_index=False)  # ledger_by_wallet
    kind = models.CharField(max_length=20, choices=Kind.choices)
    principal_delta = models.BigIntegerField(default=0)
    bonus_delta = models.BigIntegerField(default=0)
    # The causes: each entry has one or two of them. Their indexes are partial (below), so an entry adds index
    # entries only for the causes it has, not a NULL to each of five indexes.
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    # A withdrawal request and a refund live in refunds, which builds on allowance: the ledger keeps their ids.
    # The database still holds both foreign-key constraints (created by 0002/0008, left in place by 0010).
    request_id = models.BigIntegerField(null=True, blank=True)
    refund_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [
            models.Index(fields=["wallet", "id"], name="ledger_by_wallet"),
            *(models.Index(fields=[cause], name=f"ledger_by_{cause.removesuffix('_id')}", condition=Q(**{f"{cause}__isnull": False}))
              for cause in ("payment", "order", "request_id", "refund_id", "actor")),
            # Insights: the entries since a time (refunds.insights). Entries are appended in time order, so a
            # block-range index is a few pages and costs the hottest insert path next to nothing.
            BrinIndex(fields=["created_at"], name="ledger_by_time_brin", autosummarize=True),
        ]

    def __str__(self):
        return f"{self.kind} {self.principal_delta:+d}/{self.bonus_delta:+d}"

    @property
    def reference(self) -> str:
        if self.order_id:
            return f"order:{self.order.order_ref}"
        if self.request_id:
            return f"withdrawal:{self.request_id}"
        if self.payment_id:
            return f"payment:{self.payment_id}"
        return ""

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("ledger entries are append-only")
        super().save(*args, **kwargs)


class AuditRecord(models.Model):
    """Who did what to money: every merchant or admin action. Append-only."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=40)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=40)
    amount = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_by_target")]

    def __str__(self):
        return f"{self.action} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("audit records are append-only")
        super().save(*args, **kwargs)


