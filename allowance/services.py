"""Writes for campaigns, purchases and spending. Lock (allowance/locks.py), then check, then write — in one
transaction. Returns, which may refund, are refunds' (refunds/returns.py)."""
import uuid
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from allowance import locks, selectors
from core import errors
from core.gateway import get_gateway
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
from core.money import fen_to_yuan
from consumers.locks import consumer_lock
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


# --- campaigns -----------------------------------------------------------------------------


def _campaign_validate(*, pay_amount, credit_amount, starts_at, ends_at, valid_until, per_consumer_limit, stock,
                       now):
    if pay_amount <= 0:
        raise errors.InvalidCampaign(gettext_lazy("The pay amount must be positive."), field="pay_amount")
    if credit_amount < pay_amount:
        raise errors.InvalidCampaign(gettext_lazy("The credit amount must be at least the pay amount."),
                                     field="credit_amount")
    if ends_at <= starts_at:
        raise errors.InvalidCampaign(gettext_lazy("The sale must end after it starts."), field="ends_at")
    if valid_until < ends_at:
        raise errors.InvalidCampaign(gettext_lazy("The allowance must stay valid at least until the sale ends."),
                                     field="valid_until")
    # A sale already over would go straight into History, sold to nobody; both dates are named at once.
    over = {name: message for name, when, message in (
        ("ends_at", ends_at, gettext_lazy("The sale has already ended: choose an end in the future.")),
        ("valid_until", valid_until, gettext_lazy("The validity is already over: choose a time in the future.")),
    ) if when <= now}
    if over:
        name = next(iter(over))
        raise errors.InvalidCampaign(over.pop(name), field=name, other_fields=over)
    if per_consumer_limit < 1:
        raise errors.InvalidCampaign(gettext_lazy("The per-consumer limit must be at least 1."),
                                     field="per_consumer_limit")
    if stock is not None and stock < 1:
        raise errors.InvalidCampaign(gettext_lazy("Stock must be at least 1 when given."), field="stock")
    if per_consumer_limit > MAX_PER_CONSUMER_LIMIT:
        raise errors.InvalidCampaign(gettext_lazy("The per-consumer limit must be at most %(max)s."),
                                     field="per_consumer_limit", max=MAX_PER_CONSUMER_LIMIT)
    if stock is not None and stock > MAX_STOCK:
        raise errors.InvalidCampaign(gettext_lazy("Stock must be at most %(max)s."), field="stock", max=MAX_STOCK)


def campaign_create(
    *, store, actor, name: str, pay_amount: int, credit_amount: int, starts_at, ends_at, valid_until,
    per_consumer_limit: int = 1, stock: int | None = None, now=None,
) -> Campaign:
    """A store's staff create a "pay X, get Y" campaign; its sale and its validity must end after `now`."""
    store_staff_check(user=actor, store=store)
    _campaign_validate(
        pay_amount=pay_amount, credit_amount=credit_amount, starts_at=starts_at, ends_at=ends_at,
        valid_until=valid_until, per_consumer_limit=per_consumer_limit, stock=stock, now=now or timezone.now(),
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


def store_actor_check(*, actor, store, by_admin: bool) -> None:
    """Who may act on a store's money: its own staff, or an admin (`is_staff`) from the Django admin.

    Anyone else gets the answer for an object that does not exist.
    """
    if by_admin:
        if not getattr(actor, "is_staff", False):
            raise errors.NotFound()
        return
    store_staff_check(user=actor, store=store)


def campaign_end(*, campaign: Campaign, actor) -> Campaign:
    """Store staff stop the sale early. Wallets already bought stay valid until `valid_until`."""
    return _campaign_end(campaign=campaign, actor=actor, by_admin=False)


def campaign_admin_end(*, campaign: Campaign, actor) -> Campaign:
    """An admin stops a campaign's sale from the Django admin: the same rule, audited as `admin_campaign_end`."""
    return _campaign_end(campaign=campaign, actor=actor, by_admin=True)


def _campaign_end(*, campaign: Campaign, actor, by_admin: bool) -> Campaign:
    store_actor_check(actor=actor, store=campaign.store, by_admin=by_admin)
    with transaction.atomic():
        campaign = locks.campaign_lock(id=campaign.pk)
        if campaign.ended_at is None:
            campaign.ended_at = timezone.now()
            campaign.save(update_fields=["ended_at"])
            audit_record(actor=actor, action="admin_campaign_end" if by_admin else "campaign_end", target=campaign,
                         store=campaign.store)
    return campaign


def campaign_purchase_check(*, campaign: Campaign, now=None) -> None:
    """The refusals a purchase needs no lock for: the campaign is not on sale, or is seen sold out (sold is only
    ever counted up, so a campaign seen sold out is sold out). Raises CampaignNotActive or OutOfStock."""
    if not campaign.is_on_sale(now or timezone.now()):
        raise errors.CampaignNotActive()
    if campaign.stock is not None and campaign.sold_count >= campaign.stock:
        raise errors.OutOfStock()


def campaign_purchase(*, campaign: Campaign, consumer: Consumer, now=None,
                      before_stock_take: Callable[[Wallet, bool], None] | None = None) -> Wallet:
    """Buy a campaign: the sandbox payment succeeds at once and tops up the consumer's open wallet of it, or
    opens a new wallet (the first purchase, or after the last one closed). The limit counts every purchase.

    `campaign` is used as the caller read it (not locked, as any read here would be): the stock take re-checks
    the sale and the stock under the row's lock, and the rest of a campaign (price, credit, limit, validity,
    store) never changes once created. The consumer's row queues that consumer's purchases (limit, one open
    wallet); the stock is taken last, with one conditional UPDATE just before the commit, so a sale's buyers
    queue on the campaign row only for their commits (docs/perf.md, the flash sale). A buyer refused there
    leaves nothing: the transaction rolls back.

    `before_stock_take(wallet, opened)` runs in the transaction once the wallet, payment and entry are written,
    just before the stock take (the API stores its answer there, so nothing but the UPDATE and the COMMIT runs
    under the campaign row); whatever it writes rolls back with the purchase if the stock is gone."""
    now = now or timezone.now()
    campaign_purchase_check(campaign=campaign, now=now)
    with transaction.atomic():
        consumer_lock(id=consumer.pk)
        bought = selectors.purchases_count(consumer_id=consumer.pk, campaign_id=campaign.pk)
        if bought >= campaign.per_consumer_limit:
            raise errors.PurchaseLimitReached(limit=campaign.per_consumer_limit)
        # The locked consumer row serialises this with the consumer's other purchases, so two open wallets of one
        # (consumer, campaign) cannot both be created; the partial unique constraint is the last line. Without a
        # payment there is no wallet to look for: a wallet is only opened by a purchase, with its payment.
        wallet = locks.open_wallet_lock(consumer=consumer, campaign=campaign) if bought else None
        if wallet is not None and wallet.status == Wallet.Status.FROZEN:
            raise errors.WalletFrozen()
        opened = wallet is None
        if opened:
            # A closed wallet stays closed: this purchase opens a new one (SPEC §1), inserted below with its figures.
            wallet = Wallet(consumer=consumer, campaign=campaign, store_id=campaign.store_id,
                            valid_until=campaign.valid_until)
        # The sandbox charge completes at once with no I/O and is undone with the transaction if the stock is
        # gone; a real provider's checkout would instead create a pending payment here and confirm it from its
        # callback, taking the stock then.
        charge = get_gateway().charge(key=f"topup-{uuid.uuid4().hex}", amount=campaign.pay_amount)
        total = wallet.total + campaign.credit_amount
        wallet.paid += campaign.pay_amount
        wallet.credited += campaign.credit_amount
        principal_delta, bonus_delta = wallet_set_total(wallet=wallet, total=total)
        if opened:
            wallet.save(force_insert=True)
        else:
            wallet.save(update_fields=["paid", "credited", "principal", "bonus"])
        payment = Payment.objects.create(
            consumer=consumer, wallet=wallet, campaign=campaign, amount=campaign.pay_amount,
            credit_amount=campaign.credit_amount, gateway=charge.gateway, gateway_reference=charge.reference,
        )
        ledger_write(
            wallet=wallet, kind=LedgerEntry.Kind.TOP_UP, principal_delta=principal_delta,
            bonus_delta=bonus_delta, payment=payment, actor=consumer.user,
        )
        if before_stock_take is not None:
            before_stock_take(wallet, opened)
        if not locks.campaign_stock_take(id=campaign.pk, now=now):
            # Sold out (or ended) while this purchase was being written: the error rolls all of it back.
            campaign.refresh_from_db(fields=["stock", "sold_count", "ended_at"])
            raise errors.CampaignNotActive() if not campaign.is_on_sale(now) else errors.OutOfStock()
    return wallet


# --- spending and returns ------------------------------------------------------------------


def order_spend(*, consumer: Consumer, store, order_ref: str, amount: int, now=None) -> Order:
    """Pay an order from the consumer's usable wallets in the store, soonest `valid_until` first, then oldest.

    All or nothing: if the usable balance is short nothing is charged and the error says what is available.
    """
    if amount <= 0:
        raise errors.InvalidAmount()
    now = now or timezone.now()
    with transaction.atomic():
        ids = Wallet.objects.filter(consumer=consumer, store=store).exclude(status=Wallet.Status.CLOSED)
        locked = locks.wallets_lock(ids=ids.values_list("pk", flat=True))
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


def export_audit(*, actor, export: str, target, store=None, **filters) -> None:
    """Record that a staff member exported money data, with the filters, before the first row is sent."""
    audit_record(actor=actor, action=f"export_{export}", target=target, store=store,
                 **{name: value for name, value in filters.items() if value not in (None, "")})
