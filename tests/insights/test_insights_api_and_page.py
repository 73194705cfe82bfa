"""GET /api/v1/merchant/insights/ and /merchant/insights/: merchant staff only, their stores only, bad input a 400."""
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/merchant/insights/"


def _range():
    today = timezone.localdate()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def test_staff_get_their_stores_figures_as_yuan_strings(season):
    answer = client_for(season.staff).get(URL, {**_range(), "store": season.store.pk})
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"]["sold"] == {"count": 10, "principal": "790.00", "bonus": "180.00"}
    assert body["total"]["withdrawals"] == {"instant": 1, "merchant": 2, "auto": 1, "expiry": 1, "cancelled": 1,
                                            "retained": 1}
    assert body["total"]["retention_rate"] == 0.5
    assert {c["name"] for c in body["campaigns"]} == {"pay 80 get 100", "pay 100 get 110", "pay 50 get 60"}
    assert len(body["days"]) == 3 and set(body["days"][0]) == {"date", "sold", "spent", "withdrawn", "expired"}
    short = next(c for c in body["campaigns"] if c["id"] == season.short.pk)
    assert short["figures"]["expiring_7d"] == {"principal": "97.28", "bonus": "9.72"}  # 107.00 left of pay 100 get 110


def test_one_campaign_by_id(season):
    body = client_for(season.staff).get(URL, {**_range(), "campaign": season.long.pk}).json()
    assert [c["id"] for c in body["campaigns"]] == [season.long.pk]
    assert body["total"]["sold"]["count"] == 8


def test_the_default_range_is_the_last_30_days(season):
    body = client_for(season.staff).get(URL).json()
    assert len(body["days"]) == 30 and body["to"] == timezone.localdate().isoformat()


def test_a_consumer_is_refused_like_at_every_merchant_endpoint(season):
    assert client_for(season.consumers["instant"].user).get(URL).status_code == 403
    assert client_for().get(URL).status_code == 401


@pytest.mark.parametrize("which", ["store", "campaign"])
def test_someone_elses_store_or_campaign_answers_404(season, which):
    other = season.other_campaign.store.pk if which == "store" else season.other_campaign.pk
    assert client_for(season.staff).get(URL, {which: other}).status_code == 404


def test_a_campaign_of_another_of_the_callers_stores_is_not_mixed_up(season):
    assert client_for(season.staff).get(URL, {"store": season.store.pk, "campaign": 10**12}).status_code == 404


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ({"from": "2024-01-01", "to": "2026-01-01"}, "to"), ({"store": "abc"}, "store"), ({"campaign": "0"}, "campaign"),
    ({"store": ""}, "store"), ({"campaign": str(2**70)}, "campaign"), ({"to": "9999-12-31"}, "to"),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
])
def test_bad_dates_and_ids_are_a_clear_400(season, query, field):
    answer = client_for(season.staff).get(URL, query)
    assert answer.status_code == 400
    assert field in answer.json()


def test_the_page_shows_the_figures_and_an_svg_chart(season, client):
    client.force_login(season.staff)
    today = timezone.localdate()
    page = client.get("/merchant/insights/", {"start": today - timedelta(days=1), "end": today + timedelta(days=1)})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="sold-count">10<' in html
    assert "<svg" in html and "polyline" in html and "https://" not in html.split("<svg", 1)[1].split("</svg>")[0]
    assert "pay 100 get 110" in html and "50%" in html
    assert f"/merchant/campaigns/{season.long.pk}/wallets.csv" in html
    assert "/merchant/exports/refunds.csv?" in html


def test_the_page_is_in_chinese_for_a_chinese_browser(season, client):
    client.force_login(season.staff)
    html = client.get("/merchant/insights/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    for words in ("活动数据", "已售", "挽留成功率", "退款中位时长", "逐日走势", "财务导出"):
        assert words in html


def test_the_page_answers_bad_dates_with_the_form_error_not_a_500(season, client):
    client.force_login(season.staff)
    page = client.get("/merchant/insights/", {"start": "2026-03-05", "end": "2026-03-01"})
    assert page.status_code == 200
    assert "The first day must not be after the last day." in page.content.decode()


def test_the_page_and_the_export_answer_days_out_of_range_clearly(season, client):
    client.force_login(season.staff)
    page = client.get("/merchant/insights/", {"start": "9999-12-30", "end": "9999-12-31"})
    assert page.status_code == 200 and "Choose a day from 2000-01-01 to 2099-12-31." in page.content.decode()
    assert client.get("/merchant/exports/refunds.csv", {"start": "9999-12-30", "end": "9999-12-31"}).status_code == 400


def test_the_page_is_for_merchant_staff_only(season, client):
    client.force_login(season.consumers["instant"].user)
    assert client.get("/merchant/insights/").status_code == 404


def test_the_merchant_nav_links_to_insights(season, client):
    client.force_login(season.staff)
    assert 'href="/merchant/insights/"' in client.get("/merchant/").content.decode()


@pytest.fixture
def lone_staff(db):
    from tests.factories import StaffFactory

    return StaffFactory().user


@pytest.mark.parametrize("end", ["0001-01-01", "0001-01-29"])
def test_an_end_day_in_the_first_month_of_year_one_is_a_form_error_and_a_400_not_a_500(lone_staff, client, end):
    # Given a staff member; when the insights page and the refunds export are asked for days ending in year 1
    # (the default start, 29 days before the end, is before the first day a date can hold)
    client.force_login(lone_staff)
    page = client.get("/merchant/insights/", {"end": end})
    export = client.get("/merchant/exports/refunds.csv", {"end": end})

    # Then the page shows the form error next to the day, and the export is a 400 saying which day is wrong
    assert page.status_code == 200
    assert page.context["form"].errors["end"] == ["Choose a day from 2000-01-01 to 2099-12-31."]
    assert export.status_code == 400
    assert export.content.decode().startswith("end: Choose a day from 2000-01-01 to 2099-12-31.")


@pytest.mark.parametrize("query", [{"to": "0001-01-01"}, {"to": "0001-01-29"}, {"from": "0001-01-01"}])
def test_the_api_names_the_day_that_is_out_of_range(lone_staff, query):
    answer = client_for(lone_staff).get(URL, query)
    assert answer.status_code == 400
    [field] = query
    assert answer.json()[field] == ["Choose a day from 2000-01-01 to 2099-12-31."]
