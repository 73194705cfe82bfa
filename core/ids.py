"""Bounds of ids: the largest a bigint primary key can hold (inputs above it are a 404 or 400, not a 500)."""
MAX_ID = 2**63 - 1
