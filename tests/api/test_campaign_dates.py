"""Campaign dates (issue 19): a sale that has already ended, or a validity already over, is refused on the page
and in the API with an error on the field, and a date the calendar cannot hold in UTC is a form error, never a
campaign stored that no page can read back."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from allowance.models import Campaign
from tests.api.conftest import client_for
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

SALE_ENDED = "The sale has already ended: choose an end in the future."
VALIDITY_OVER = "The validity is already over: choose a time in the future."


@pytest.fixture
def staff(db):
    return StaffFactory()


def _page(staff, **dates):
    client = Client()
    client.force_login(staff.user)
    data = {"store": staff.store.pk, "name": "dates", "pay_amount": "80", "credit_amount": "100",
            "starts_at": "2025-01-01T00:00", "ends_at": "2030-01-01T00:00", "valid_until": "2031-01-01T00:00",
            "per_consumer_limit": "1", "stock": "", **dates}
    return client.post("/merchant/campaigns/new/", data)


def _api(staff, **dates):
    body = {"store": staff.store.pk, "name": "dates", "pay_amount": "80", "credit_amount": "100",
            "starts_at": "2025-01-01T00:00:00+08:00", "ends_at": "2030-01-01T00:00:00+08:00",
            "valid_until": "2031-01-01T00:00:00+08:00", **dates}
    return client_for(staff.user).post("/api/v1/merchant/campaigns/", body, format="json")


def test_a_campaign_entirely_in_the_past_is_refused_on_the_page_beside_both_dates(staff):
    # When staff create "sale 2025-01-01 to 2025-02-01, valid until 2025-03-01" on the page
    response = _page(staff, ends_at="2025-02-01T00:00", valid_until="2025-03-01T00:00")

    # Then the form says, beside each date, that it is over, and nothing is created
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert (errors["ends_at"], errors["valid_until"]) == ([SALE_ENDED], [VALIDITY_OVER])
    assert not Campaign.objects.exists()


def test_a_sale_that_has_ended_is_refused_on_the_page_even_if_still_valid(staff):
    response = _page(staff, ends_at="2025-02-01T00:00")
    assert response.status_code == 200
    assert response.context["form"].errors == {"ends_at": [SALE_ENDED]}
    assert not Campaign.objects.exists()


def test_a_campaign_entirely_in_the_past_is_a_400_naming_both_dates_in_the_api(staff):
    response = _api(staff, ends_at="2025-02-01T00:00:00+08:00", valid_until="2025-03-01T00:00:00+08:00")
    assert response.status_code == 400
    assert response.json() == {"ends_at": [SALE_ENDED], "valid_until": [VALIDITY_OVER]}
    assert not Campaign.objects.exists()


def test_a_sale_ending_this_very_moment_is_refused_and_one_ending_later_is_created(staff):
    from allowance.services import campaign_create
    from core import errors

    now = timezone.now()
    fields = dict(store=staff.store, actor=staff.user, name="edge", pay_amount=8000, credit_amount=10000,
                  starts_at=now - timedelta(days=1), valid_until=now + timedelta(days=1))
    with pytest.raises(errors.InvalidCampaign) as refused:
        campaign_create(**fields, ends_at=now, now=now)
    assert refused.value.field_errors() == {"ends_at": [SALE_ENDED]}
    assert campaign_create(**fields, ends_at=now + timedelta(seconds=1), now=now).state == "active"


def test_a_page_date_that_cannot_be_held_in_utc_is_a_form_error_and_the_dashboard_still_opens(staff):
    # 0001-01-01 00:00 in Shanghai is 0000-12-31 in UTC: PostgreSQL stores it, Python cannot read it back
    response = _page(staff, starts_at="0001-01-01T00:00")
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["starts_at"]
    assert not Campaign.objects.exists()
    client = Client()
    client.force_login(staff.user)
    assert client.get("/merchant/").status_code == 200
