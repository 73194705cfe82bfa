"""`make chaos`: the real stack under load and faults, then the books are checked (see chaos/run.py)."""
