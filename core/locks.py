"""The one lock order of the whole project. Every service takes row locks through its app's lock module
(`allowance/locks.py`, `refunds/locks.py`), inside `transaction.atomic()`, in this order and never back:

    campaign → order → wallet(s) → withdrawal request(s) → payment(s)    (a purchase: consumer → wallet → campaign)

- Rows of one kind are locked in primary-key order (`ORDER BY id`), so two transactions that want the same
  wallets queue instead of deadlocking.
- Each lock function takes only its own table's rows (`select_for_update(of=("self",))`): a joined row is
  read, never locked by accident.
- A refund row is locked alone, in its own short transaction (the payout's bookkeeping), never while a
  wallet, request or payment is held by that transaction.
- A purchase is the one exception, and it is safe: it locks the buyer's consumer row (FOR NO KEY UPDATE, which
  queues only that buyer's purchases) and their wallet, and takes the campaign row last, with the conditional
  stock UPDATE just before its commit (`campaign_stock_take`). Whoever else holds a campaign row (ending it)
  waits for nothing, so no cycle can form; and the hot row of a flash sale is held only for a commit.
- The sweeps take wallets with SKIP LOCKED: a wallet somebody else holds is theirs to decide; the next sweep
  sees it again.
- The staff-email outbox claims held requests with SKIP LOCKED, with nothing else locked.
"""

LOCK_ORDER = ("campaign", "order", "wallet", "request", "payment")
