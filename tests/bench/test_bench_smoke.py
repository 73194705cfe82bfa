"""The benchmark's own code at a tiny size: its set-up writes what the services would, and the
hand-written SQL ceiling has exactly the effect of the project's sweep. PostgreSQL only (the SQL is)."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from allowance.models import Wallet
from bench import ceiling, seed
from refunds.models import WithdrawalRequest
from refunds.services import withdrawal_refund_due

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _dsn():
    from django.db import connection

    s = connection.settings_dict
    return f"dbname={s['NAME']} user={s['USER']} host={s['HOST']} port={s['PORT'] or 5432}"


def _seed_due(count, background=0):
    seed.reset()
    ids = seed.fixtures()
    every = (count + background) // count
    seed.seed(ids=ids, lo=1, hi=count * every, kind_sql=seed.kind_by_modulus(every))
    return ids


def test_seeded_wallets_reconcile_and_hold_the_split_the_rule_gives():
    # given: 5 due requests among 15 rows that are held, cancelled or refunded
    _seed_due(5, background=15)

    # then: every wallet equals its ledger entries and reconcile finds nothing to report
    assert seed.fingerprint()["drift"] == [(0,)]
    call_command("reconcile")
    frozen = Wallet.objects.filter(status=Wallet.Status.FROZEN).first()
    assert (frozen.principal, frozen.bonus) == (7200, 1800)  # pay 80 get 100, spent 10.00
    due = WithdrawalRequest.objects.filter(status="pending", due_at__lte=timezone.now())
    assert due.count() == 5


def test_the_sql_ceiling_has_the_same_effect_as_the_project_sweep(django_capture_on_commit_callbacks):
    # given: the same 12 due requests (with rows that are not due around them) swept both ways
    _seed_due(12, background=24)
    with django_capture_on_commit_callbacks(execute=False):
        assert withdrawal_refund_due(batch_size=5) == 12
    ours = seed.fingerprint()

    _seed_due(12, background=24)
    done, _ = ceiling.sweep(dsn=_dsn(), now=timezone.now() + timedelta(seconds=1), limit=5)

    # then: identical requests, refunds, allocations, payments, wallets and ledger sums, and no drift
    assert done == 12
    assert seed.fingerprint() == ours
    assert ours["drift"] == [(0,)]
    call_command("reconcile")
