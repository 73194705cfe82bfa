"""Shared plumbing: errors, money, ids, the API base, bulk SQL, the lock order. Imports no app."""
