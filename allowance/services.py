"""Writes for campaigns, purchases, spending and returns. Lock, then check, then write — in one transaction."""
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy

from allowance import errors
from allowance.models import (
    MAX_PER_CONSUMER_LIMIT,
    MAX_STOCK,
    AuditRecord,
    Campaign,
    LedgerEntry,
    Order,
    OrderAllocation,
    Payment,
    Wallet,
    split_principal,
)
from allowance.money import fen_to_yuan
from consumers.models import Consumer
from merchants.selectors import store_staff_check


# --- shared building blocks ----------------------------------------------------------------


def audit_record(*, actor, action: str, target, store=None, amount: int | None = None, **details) -> AuditRecord:
    """Record who did what to money. Called inside the transaction of the action itself."""
    return AuditRecord.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        store=store,
        target_type=target._meta.model_name,
        target_id=str(target.pk),
        amount=amount,
        details=details,
    )


def wallet_set_total(*, wallet: Wallet, total: int) -> tuple[int, int]:
    """Move a locked wallet to a new total; the split follows the rule. Returns (principal Δ, bonus Δ)."""
    principal = split_principal(total=total, paid=wallet.paid, credited=wallet.credited)
    principal_delta = principal - wallet.principal
    bonus_delta = (total - principal) - wallet.bonus
    wallet.principal, wallet.bonus = principal, total - principal
    return principal_delta, bonus_delta


def ledger_write(*, wallet: Wallet, kind: str, principal_delta: int, bonus_delta: int, actor=None, **causes) -> LedgerEntry:
    return LedgerEntry.objects.create(
        wallet=wallet,
        kind=kind,
        principal_delta=principal_delta,
        bonus_delta=bonus_delta,
        actor=actor if getattr(actor, "pk", None) else None,
        **causes,
    )


def wallets_lock(ids, *, owner=None) -> dict[int, Wallet]:
    """Lock wallets in primary-key order (the one order every path uses), return them by id.

    With `owner` (a user), only that consumer's wallets: the ownership check is part of the locking read.
    """
    wallets = Wallet.objects.select_for_update(of=("self",)).filter(pk__in=list(ids)).order_by("pk")
    if owner is not None:
        wallets = wallets.filter(consumer__user_id=owner.pk)
    return {w.pk: w for w in wallets}


# --- campaigns -----------------------------------------------------------------------------


def _campaign_validate(*, pay_amount, credit_amount, starts_at, ends_at, valid_until, per_consumer_limit, stock):
    if pay_amount <= 0:
        raise errors.InvalidCampaign(gettext_lazy("The pay amount must be positive."))
    if credit_amount < pay_amount:
        raise errors.InvalidCampaign(gettext_lazy("The credit amount must be at least the pay amount."))
    if ends_at <= starts_at:
        raise errors.InvalidCampaign(gettext_lazy("The sale must end after it starts."))
    if valid_until < ends_at:
        raise errors.InvalidCampaign(gettext_lazy("The allowance must stay valid at least until the sale ends."))
    if per_consumer_limit < 1:
        raise errors.InvalidCampaign(gettext_lazy("The per-consumer limit must be at least 1."))
    if stock is not None and stock < 1:
        raise errors.InvalidCampaign(gettext_lazy("Stock must be at least 1 when given."))
    if per_consumer_limit > MAX_PER_CONSUMER_LIMIT:
        raise errors.InvalidCampaign(gettext_lazy("The per-consumer limit must be at most %(max)s."),
                                     max=MAX_PER_CONSUMER_LIMIT)
    if stock is not None and stock > MAX_STOCK:
        raise errors.InvalidCampaign(gettext_lazy("Stock must be at most %(max)s."), max=MAX_STOCK)


def campaign_create(
    *, store, actor, name: str, pay_amount: int, credit_amount: int, starts_at, ends_at, valid_until,
    per_consumer_limit: int = 1, stock: int | None = None,
) -> Campaign:
    """A store's staff create a "pay X, get Y" campaign."""
    store_staff_check(user=actor, store=store)
    _campaign_validate(
        pay_amount=pay_amount, credit_amount=credit_amount, starts_at=starts_at, ends_at=ends_at,
        valid_until=valid_until, per_consumer_limit=per_consumer_limit, stock=stock,
    )
    with transaction.atomic():
        campaign = Campaign.objects.create(
            store=store, name=name, pay_amount=pay_amount, credit_amount=credit_amount, starts_at=starts_at,
            ends_at=ends_at, valid_until=valid_until, per_consumer_limit=per_consumer_limit, stock=stock,
        )
        audit_record(
            actor=actor, action="campaign_create", target=campaign, store=store, amount=pay_amount,
            credit_amount=credit_amount, valid_until=valid_until.isoformat(),
        )
    return campaign


def store_actor_check(*, actor, store, as_admin: bool) -> str:
    """Who may act on a store's money: its own staff, or an admin (`is_staff`) from the Django admin.

    Anyone else gets the answer for an object that does not exist. Returns the audit action's prefix.
    """
    if as_admin:
        if not getattr(actor, "is_staff", False):
            raise errors.NotFound()
        return "admin_"
    store_staff_check(user=actor, store=store)
    return ""


def campaign_end(*, campaign: Campaign, actor, as_admin: bool = False) -> Campaign:
    """Stop the sale early. Wallets already bought stay valid until `valid_until`."""
    prefix = store_actor_check(actor=actor, store=campaign.store, as_admin=as_admin)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.ended_at is None:
            campaign.ended_at = timezone.now()
            campaign.save(update_fields=["ended_at"])
            audit_record(actor=actor, action=f"{prefix}campaign_end", target=campaign, store=campaign.store)
    return campaign


def campaign_admin_end(*, campaign: Campaign, actor) -> Campaign:
    """An admin stops a campaign's sale from the Django admin: the same rule, audited as `admin_campaign_end`."""
    return campaign_end(campaign=campaign, actor=actor, as_admin=True)


def campaign_purchase(*, campaign: Campaign, consumer: Consumer, now=None) -> Wallet:
    """Buy a campaign: the sandbox payment succeeds at once and tops up the consumer's open wallet of it, or
    opens a new wallet (the first purchase, or after the last one closed). The limit counts every purchase."""
    now = now or timezone.now()
    with transaction.atomic():
        # The campaign row serialises purchases of it: stock and per-consumer limit are checked under lock.
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not campaign.is_on_sale(now):
            raise errors.CampaignNotActive()
        if campaign.stock is not None and campaign.sold_count >= campaign.stock:
            raise errors.OutOfStock()
        bought = Payment.objects.filter(consumer=consumer, campaign=campaign).count()
        if bought >= campaign.per_consumer_limit:
            raise errors.PurchaseLimitReached(limit=campaign.per_consumer_limit)
        # The locked campaign row serialises this with every other purchase of it, so two open wallets of one
        # (consumer, campaign) cannot both be created; the partial unique constraint is the last line.
        wallet = (
            Wallet.objects.select_for_update().filter(consumer=consumer, campaign=campaign)
            .exclude(status=Wallet.Status.CLOSED).first()
        )
        if wallet is not None and wallet.status == Wallet.Status.FROZEN:
            raise errors.WalletFrozen()
        if wallet is None:
            # A closed wallet stays closed: this purchase opens a new one (SPEC §1).
            wallet = Wallet.objects.create(consumer=consumer, campaign=campaign, store_id=campaign.store_id,
                                           valid_until=campaign.valid_until)
        from refunds.gateway import get_gateway

        # The sandbox charge completes at once with no I/O, so it may run under the lock; a real provider's
        # checkout would instead create a pending payment here and confirm it from its callback.
        charge = get_gateway().charge(key=f"topup-{uuid.uuid4().hex}", amount=campaign.pay_amount)
        payment = Payment.objects.create(
            consumer=consumer, wallet=wallet, campaign=campaign, amount=campaign.pay_amount,
            credit_amount=campaign.credit_amount, gateway=charge.gateway, gateway_reference=charge.reference,
        )
        total = wallet.total + campaign.credit_amount
        wallet.paid += campaign.pay_amount
        wallet.credited += campaign.credit_amount
        principal_delta, bonus_delta = wallet_set_total(wallet=wallet, total=total)
        wallet.save(update_fields=["paid", "credited", "principal", "bonus"])
        ledger_write(
            wallet=wallet, kind=LedgerEntry.Kind.TOP_UP, principal_delta=principal_delta,
            bonus_delta=bonus_delta, payment=payment, actor=consumer.user,
        )
        campaign.sold_count += 1
        campaign.save(update_fields=["sold_count"])
    return wallet


# --- spending and returns ------------------------------------------------------------------


def order_spend(*, consumer: Consumer, store, order_ref: str, amount: int, now=None) -> Order:
    """Pay an order from the consumer's usable wallets in the store, soonest `valid_until` first, then oldest.

    All or nothing: if the usable balance is short nothing is charged and the error says what is available.
    """
    if amount <= 0:
        raise errors.InsufficientAllowance(gettext_lazy("The amount must be positive."))
    now = now or timezone.now()
    with transaction.atomic():
        ids = Wallet.objects.filter(consumer=consumer, store=store).exclude(status=Wallet.Status.CLOSED)
        locked = wallets_lock(ids.values_list("pk", flat=True))
        usable = sorted(
            (w for w in locked.values() if w.is_usable(now) and w.total > 0), key=lambda w: (w.valid_until, w.pk)
        )
        available = sum(w.total for w in usable)
        if available < amount:
            raise errors.InsufficientAllowance(available=fen_to_yuan(available))
        try:
            # The unique (store, order_ref) constraint is the check: a taken reference fails this insert, and the
            # error leaving the atomic block rolls everything back (no look-up first, no savepoint).
            order = Order.objects.create(consumer=consumer, store=store, order_ref=order_ref, amount=amount)
        except IntegrityError as exc:
            raise errors.OrderRefTaken() from exc
        remaining = amount
        for wallet in usable:
            if remaining == 0:
                break
            take = min(wallet.total, remaining)
            remaining -= take
            principal_delta, bonus_delta = wallet_set_total(wallet=wallet, total=wallet.total - take)
            wallet.save(update_fields=["principal", "bonus"])
            OrderAllocation.objects.create(order=order, wallet=wallet, principal=-principal_delta, bonus=-bonus_delta)
            ledger_write(
                wallet=wallet, kind=LedgerEntry.Kind.SPEND, principal_delta=principal_delta,
                bonus_delta=bonus_delta, order=order, actor=consumer.user,
            )
    return order


@dataclass(frozen=True)
class ReturnPart:
    allocation: OrderAllocation
    amount: int


def _return_parts(order: Order, amount: int) -> list[ReturnPart]:
    """Which allocations a return gives back to: the last wallet charged first."""
    parts, remaining = [], amount
    for allocation in order.allocations.order_by("-id"):
        if remaining == 0:
            break
        take = min(allocation.returnable, remaining)
        if take:
            parts.append(ReturnPart(allocation, take))
            remaining -= take
    return parts


def order_return(*, order: Order, consumer: Consumer, amount: int | None = None, now=None) -> Order:
    """Return an order, whole (default) or in part, to the wallets it was paid from (SPEC §3 "Returns").

    An open wallet (active or frozen) gets the amount back and the split follows; a pending withdrawal request
    on it follows the wallet in the same transaction, and is refunded at once if the wallet is unconsumed again.
    A closed or expired wallet pays the principal part straight back to its own payments and the bonus part
    lapses; the principal is computed on the allocation's running total (`_closed_return_principal`).
    """
    # refunds builds on allowance, not the other way round
    from refunds.models import WithdrawalRequest
    from refunds.services import refund_create, withdrawal_follow_wallet

    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.consumer_id != consumer.pk:
            raise errors.NotFound()
        returnable = order.amount - order.returned_amount
        amount = returnable if amount is None else amount
        if amount <= 0 or amount > returnable:
            raise errors.ReturnExceedsOrder(returnable=fen_to_yuan(returnable))
        parts = _return_parts(order, amount)
        locked = wallets_lock(p.allocation.wallet_id for p in parts)
        # Lock order: wallet → request → payments. A frozen wallet's pending request is locked before any refund.
        pending = {
            r.wallet_id: r for r in WithdrawalRequest.objects.select_for_update().filter(
                wallet_id__in=[w.pk for w in locked.values() if w.status == Wallet.Status.FROZEN],
                status=WithdrawalRequest.Status.PENDING,
            ).order_by("pk")
        }
        followed = []
        for part in parts:
            wallet, allocation = locked[part.allocation.wallet_id], part.allocation
            if wallet.status != Wallet.Status.CLOSED and not wallet.is_expired(now):
                principal_delta, bonus_delta = wallet_set_total(wallet=wallet, total=wallet.total + part.amount)
                wallet.save(update_fields=["principal", "bonus"])
                ledger_write(
                    wallet=wallet, kind=LedgerEntry.Kind.SPEND_RETURN, principal_delta=principal_delta,
                    bonus_delta=bonus_delta, order=order, actor=consumer.user,
                )
                if wallet.pk in pending:
                    followed.append(wallet)
            else:
                principal_delta = _closed_return_principal(wallet=wallet, allocation=allocation, amount=part.amount)
                bonus_delta = part.amount - principal_delta
                refund = refund_create(wallet=wallet, amount=principal_delta, kind="return", order=order) if principal_delta else None
                # The wallet's balance does not move: the money passes through it to the payment and the bonus lapses.
                ledger_write(wallet=wallet, kind=LedgerEntry.Kind.SPEND_RETURN, principal_delta=principal_delta,
                             bonus_delta=bonus_delta, order=order, actor=consumer.user)
                if principal_delta:
                    ledger_write(wallet=wallet, kind=LedgerEntry.Kind.RETURN_REFUND, principal_delta=-principal_delta,
                                 bonus_delta=0, order=order, refund=refund, actor=consumer.user)
                if bonus_delta:
                    ledger_write(wallet=wallet, kind=LedgerEntry.Kind.BONUS_LAPSE, principal_delta=0,
                                 bonus_delta=-bonus_delta, order=order, actor=consumer.user)
            allocation.returned_principal += principal_delta
            allocation.returned_bonus += bonus_delta
            allocation.save(update_fields=["returned_principal", "returned_bonus"])
        for wallet in followed:
            withdrawal_follow_wallet(wallet=wallet, request=pending[wallet.pk], actor=consumer.user, now=now)
        order.returned_amount += amount
        order.save(update_fields=["returned_amount"])
    return order


def _closed_return_principal(*, wallet: Wallet, allocation: OrderAllocation, amount: int) -> int:
    """The principal a return of `amount` to a closed (or expired) locked wallet gives back.

    On the allocation's running total (SPEC §3): after returns of r in all from an allocation that took a, of
    which p principal, ceil(r × p / a) has been given back — so one return of 1.00 and a hundred of 0.01 give
    the same. Never more than the wallet's own payments have left, nor more than its fair share: refunded plus
    held stays within ceil(paid × unconsumed / credited), so no sequence moves over 0.01 of bonus into principal.
    """
    returned_after = allocation.returned + amount
    running = -((-returned_after * allocation.principal) // allocation.amount) - allocation.returned_principal
    refunded = Payment.objects.filter(wallet=wallet).aggregate(s=Sum("refunded_amount"))["s"] or 0
    net_spent = OrderAllocation.objects.filter(wallet=wallet).aggregate(
        s=Sum(F("principal") + F("bonus") - F("returned_principal") - F("returned_bonus"))
    )["s"] or 0
    unconsumed = wallet.credited - (net_spent - amount)
    fair = split_principal(total=unconsumed, paid=wallet.paid, credited=wallet.credited) - refunded - wallet.principal
    return max(0, min(running, fair, amount))
