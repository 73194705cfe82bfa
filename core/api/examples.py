"""Example bodies for the OpenAPI schema (the ones of SPEC §3's first rows)."""
from drf_spectacular.utils import OpenApiExample

REQUEST_PENDING = {
    "id": 7, "wallet": 12, "status": "pending", "resolution": None, "principal": "72.00", "bonus_lapsed": "18.00",
    "requested_at": "2026-03-01T10:00:00+08:00", "due_at": "2026-03-03T10:00:00+08:00", "resolved_at": None,
    "retention_messages": [], "refund": None,
}
REQUEST_REFUNDED = {
    **REQUEST_PENDING, "status": "refunded", "resolution": "merchant", "resolved_at": "2026-03-01T11:00:00+08:00",
    "retention_messages": [{"message": "Stay for a 10% coupon?", "created_at": "2026-03-01T10:30:00+08:00"}],
    "refund": {"amount": "72.00", "payout_status": "processing"},
}
WALLET = {
    "id": 12, "store": {"id": 1, "name": "Demo Store"}, "campaign": {"id": 3, "name": "pay 80 get 100"},
    "principal": "72.00", "bonus": "18.00", "total": "90.00", "paid": "80.00", "credited": "100.00",
    "status": "active", "valid_until": "2027-03-01T00:00:00+08:00", "consumed": True, "open_withdrawal": None,
}
WALLET_NEW = {**WALLET, "principal": "80.00", "bonus": "20.00", "total": "100.00", "consumed": False}
CAMPAIGN = {
    "id": 3, "store": 1, "name": "pay 80 get 100", "pay_amount": "80.00", "credit_amount": "100.00",
    "bonus_amount": "20.00", "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2026-12-31T00:00:00+08:00",
    "valid_until": "2027-12-31T00:00:00+08:00", "per_consumer_limit": 1, "remaining_stock": 500,
}
MERCHANT_CAMPAIGN = {**CAMPAIGN, "stock": 1000, "sold_count": 500, "state": "active", "ended_at": None}
ORDER = {
    "id": 5, "store": 1, "order_ref": "A-1001", "amount": "10.00", "returned_amount": "0.00",
    "allocations": [{"wallet": 12, "principal": "8.00", "bonus": "2.00"}],
}
ENTRY = {"kind": "spend", "principal_delta": "-8.00", "bonus_delta": "-2.00",
         "created_at": "2026-03-01T09:00:00+08:00", "reference": "order:A-1001"}
PREVIEW = {"principal": "72.00", "bonus_lapsed": "18.00", "instant": False, "due_at": "2026-03-03T10:00:00+08:00"}
PRINCIPAL_CHANGED = {
    "detail": "The amount has changed since you looked (an order was paid or returned): withdrawing now gives back "
              "42.00 and lets 10.50 of bonus lapse. Check the new amounts and confirm again.",
    "code": "principal_changed", "principal": "42.00", "bonus_lapsed": "10.50",
}
SUMMARY = {"outstanding_principal": "1520.00", "outstanding_bonus": "380.00", "pending_count": 2,
           "pending_principal": "144.00", "due_within_48h": 2}


def response(name, value, status=200):
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


def request(name, value):
    return OpenApiExample(name, value=value, request_only=True)
