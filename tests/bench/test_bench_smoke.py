"""The benchmark's own code at a tiny size: its set-up writes what the services would, the hand-written SQL
ceilings have exactly the effect of the project's sweep and purchase, and the flash sale's load script answers
every buyer once. PostgreSQL only (the SQL is)."""
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from allowance.models import Wallet
from bench import ceiling, seed
from core import errors
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


def _pgbench_dsn_args():
    from django.db import connection

    s = connection.settings_dict
    return ["-h", s["HOST"] or "127.0.0.1", "-p", str(s["PORT"] or 5432), "-U", s["USER"], s["NAME"]]


def test_the_flash_sale_sql_ceiling_sells_exactly_the_stock_as_the_purchase_service_does():
    from allowance.models import Campaign
    from allowance.services import campaign_purchase
    from bench import flash
    from consumers.models import Consumer

    # given: the flash phase's set-up at a tiny size — stock 10, 30 buyers — bought through the service
    fx = flash._setup(buyers=30, stock=10)
    started = timezone.now()
    campaign = Campaign.objects.get(pk=fx["flash_id"])
    refused = 0
    for consumer in Consumer.objects.order_by("pk"):
        try:
            campaign_purchase(campaign=campaign, consumer=consumer)
        except errors.OutOfStock:
            refused += 1
    ours = seed.fingerprint()
    assert refused == 20 and flash._outcome(fx["flash_id"], started)["payments"] == 10

    # when: the same set-up sold by the hand-written SQL through pgbench, 4 clients at once
    fx = flash._setup(buyers=30, stock=10)
    start = flash._ceiling(campaign_id=fx["flash_id"], first_buyer=fx["rows"][0][1], buyers=30, connections=4,
                           dsn_args=_pgbench_dsn_args())

    # then: exactly the stock sold, one wallet per buyer, and the same rows (wallets, ledger sums) as the service
    from datetime import datetime, timezone as tz

    out = flash._outcome(fx["flash_id"], datetime.fromtimestamp(start, tz.utc))
    flash._check("SQL ceiling", out)
    assert (out["sold_count"], out["payments"], out["buyers"], out["drift"]) == (10, 10, 10, 0)
    assert seed.fingerprint() == ours
    call_command("reconcile")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (the bench's load generator) is not installed")
def test_the_flash_sale_load_answers_every_buyer_once_and_counts_the_sold_out(live_server):
    from bench import api, flash

    # given: stock 10 and 40 buyers, through wrk's flash script against a live server, 8 connections
    fx = flash._setup(buyers=40, stock=10)
    data = Path(tempfile.mkdtemp()) / "buyers.txt"
    data.write_text("".join(f"{token} {cid}\n" for token, cid in fx["rows"]))
    port = int(live_server.url.rsplit(":", 1)[1])
    started = timezone.now()

    r = api._wrk("flash.lua", data, 120, 8, port, str(fx["flash_id"]), until=flash._every_buyer_answered(40))

    # then: every buyer was answered once: 10 sales, 30 clear 409 out_of_stock, nothing else; rows agree
    assert "FLASH sold=10 sold_out=30 refused=0 failed=0" in r["output"], r["output"]
    out = flash._outcome(fx["flash_id"], started)
    flash._check("sale", out)
    assert (out["sold_count"], out["payments"], out["buyers"]) == (10, 10, 10)


def test_insights_in_a_busy_hour_agree_with_the_ledger_at_a_tiny_size():
    from argparse import Namespace

    from bench import insights

    # given/when: the hot-hour phase over 40 wallets bought, spent and half refunded minutes ago
    results = {}
    insights.phase_insights_hot_hour(Namespace(insights_hot_wallets=40, insights_samples=3), results,
                                     say=lambda *args: None)

    # then: its figures agreed with the ledger (the phase checks) and it timed the selector
    assert results["insights_hot_hour_p95_ms"] > 0
    assert seed.fingerprint()["drift"] == [(0,)]
    call_command("reconcile")
