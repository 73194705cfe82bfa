"""Finance CSV exports: streamed, staff of the store only, each one audited with its actor and filters."""
import csv
import io
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from allowance.models import AuditRecord, Wallet
from refunds.models import Refund

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def _days():
    today = timezone.localdate()
    return {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}


def test_refunds_export_lists_every_refund_of_the_store_with_its_payout_and_gateway_reference(season, client):
    client.force_login(season.staff)
    response = client.get("/merchant/exports/refunds.csv", _days())
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    refunds = Refund.objects.filter(wallet__store=season.store)
    assert sorted(int(r["refund_id"]) for r in rows) == sorted(refunds.values_list("pk", flat=True))
    by_name = {r["account_name"]: r for r in rows}
    assert set(by_name) == {"instant", "merchant", "asked_then_refunded", "auto", "expiring"}
    assert (by_name["instant"]["amount"], by_name["instant"]["resolution"]) == ("80.00", "instant")
    assert by_name["expiring"]["kind"] == "expiry"
    assert all(r["payout_status"] in {"processing", "succeeded", "needs_attention"} for r in rows)
    paid = [r for r in rows if r["payout_status"] == "succeeded"]
    assert all(r["gateway_reference"] for r in paid)

    record = AuditRecord.objects.get(action="export_refunds")
    assert record.actor == season.staff
    assert record.details == {"start": _days()["start"], "end": _days()["end"]}


def test_refunds_export_with_bad_dates_is_a_400_and_not_audited(season, client):
    client.force_login(season.staff)
    assert client.get("/merchant/exports/refunds.csv", {"start": "2026-02-30"}).status_code == 400
    assert client.get("/merchant/exports/refunds.csv", {"start": "2026-03-02", "end": "2026-03-01"}).status_code == 400
    assert not AuditRecord.objects.filter(action__startswith="export_").exists()


def test_refunds_export_leaves_out_other_stores(season, client):
    client.force_login(season.other_staff)
    assert _csv(client.get("/merchant/exports/refunds.csv", _days())) == []


def test_user_search_export_has_one_row_per_wallet_of_the_matches(season, client):
    client.force_login(season.staff)
    rows = _csv(client.get("/merchant/exports/users.csv", {"account_name": "a"}))
    assert {r["account_name"] for r in rows} == {"asked_then_refunded", "auto"}
    assert {r["status"] for r in rows} == {"closed"}
    record = AuditRecord.objects.get(action="export_users")
    assert (record.actor, record.details) == (season.staff, {"account_name": "a"})
    # The page offers the link once there are results.
    assert 'data-testid="export-users"' in client.get("/merchant/users/", {"account_name": "a"}).content.decode()


def test_user_search_export_needs_a_name(season, client):
    client.force_login(season.staff)
    assert client.get("/merchant/exports/users.csv").status_code == 400


def test_campaign_wallets_export_matches_the_wallets(season, client):
    client.force_login(season.staff)
    rows = _csv(client.get(f"/merchant/campaigns/{season.long.pk}/wallets.csv"))
    wallets = Wallet.objects.filter(campaign=season.long)
    assert len(rows) == wallets.count() == 7
    twice = next(r for r in rows if r["account_name"] == "twice")
    assert (twice["paid"], twice["credited"], twice["principal"], twice["bonus"]) == ("160.00", "200.00", "136.00", "34.00")
    record = AuditRecord.objects.get(action="export_campaign_wallets")
    assert (record.actor, record.store, record.target_id) == (season.staff, season.store, str(season.long.pk))


def test_exports_are_for_the_stores_own_staff_only(season, client):
    client.force_login(season.other_staff)
    assert client.get(f"/merchant/campaigns/{season.long.pk}/wallets.csv").status_code == 404
    client.force_login(season.consumers["instant"].user)
    for url in ("/merchant/exports/refunds.csv", "/merchant/exports/users.csv?account_name=a",
                f"/merchant/campaigns/{season.long.pk}/wallets.csv"):
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get("/merchant/exports/refunds.csv").status_code == 302
    assert not AuditRecord.objects.filter(action__startswith="export_").exists()


def test_text_that_looks_like_a_formula_is_defused(season, client):
    from allowance.services import campaign_purchase
    from tests.factories import ConsumerFactory

    campaign_purchase(campaign=season.long, consumer=ConsumerFactory(account_name="=HYPERLINK(1)"))
    client.force_login(season.staff)
    rows = _csv(client.get(f"/merchant/campaigns/{season.long.pk}/wallets.csv"))
    assert "'=HYPERLINK(1)" in {r["account_name"] for r in rows}


def test_a_big_export_streams_in_chunks(season, client, django_assert_max_num_queries):
    client.force_login(season.staff)
    response = client.get(f"/merchant/campaigns/{season.long.pk}/wallets.csv")
    chunks = list(response.streaming_content)
    assert len(chunks) == 1 + 7  # the header, then one line per wallet as the cursor yields it
