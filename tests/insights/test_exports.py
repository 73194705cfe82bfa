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


# --- issue 21: the page's language, and the fixed machine-readable columns without ?lang -------------------------

@pytest.mark.parametrize("language, header, statuses", [
    ("en", ["Refund ID", "Created at", "Kind"], {"refunded by the merchant", "refunded automatically"}),
    ("zh-hans", ["退款编号", "创建时间", "类型"], {"实时退款", "商家退款"}),
])
def test_the_refunds_export_from_a_page_is_in_the_pages_language(season, client, language, header, statuses):
    client.force_login(season.staff)
    response = client.get("/merchant/exports/refunds.csv", {**_days(), "lang": language})
    text = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:3] == header
    resolutions = {row[4] for row in rows[1:]}
    assert statuses <= resolutions, resolutions
    assert not {"merchant", "auto"} & resolutions  # not the codes


def test_without_lang_every_export_keeps_the_fixed_column_names_and_codes_whatever_the_pages_language(season,
                                                                                                    client):
    # Given a merchant whose pages are in Chinese
    client.force_login(season.staff)
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
    # When a finance tool fetches the exports without ?lang
    refunds = _csv(client.get("/merchant/exports/refunds.csv", _days(), **zh))
    users = _csv(client.get("/merchant/exports/users.csv", {"account_name": "a"}, **zh))
    wallets = _csv(client.get(f"/merchant/campaigns/{season.long.pk}/wallets.csv", **zh))
    # Then the columns are the documented snake_case names and statuses are codes
    assert list(refunds[0]) == ["refund_id", "created_at", "kind", "request_id", "resolution", "account_name",
                                "store", "campaign", "amount", "payout_status", "paid_at", "gateway_reference"]
    assert {r["resolution"] for r in refunds} <= {"", "instant", "merchant", "auto", "expiry"}
    assert list(users[0])[:5] == ["account_name", "wallet_id", "store", "campaign", "status"]
    assert {r["status"] for r in wallets} <= {"active", "frozen", "closed"}
    # ... and an unknown language is a clear 400, with nothing exported
    bad = client.get("/merchant/exports/refunds.csv", {**_days(), "lang": "fr"})
    assert bad.status_code == 400 and b"lang must be one of" in bad.content


def test_the_pages_export_links_carry_the_pages_language(season, client):
    client.force_login(season.staff)
    page = client.get("/merchant/insights/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "lang=zh-hans" in page and f"/merchant/campaigns/{season.long.pk}/wallets.csv?lang=zh-hans" in page
