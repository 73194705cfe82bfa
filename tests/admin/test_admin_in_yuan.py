"""Issue 21: the admin's detail pages and inlines show money in yuan, as its lists do (a wallet read
"Paid (fen): 5000" and its ledger "-4168"), and a long title does not run under the HISTORY button."""
import re

import pytest
from django.urls import reverse

from allowance.models import Order
from tests.factories import CampaignFactory, ConsumerFactory, UserFactory
from tests.pages.helpers import bought_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _readonly_values(page: str) -> list[str]:
    return [value.strip() for value in re.findall(r'<div class="readonly">([^<]*)</div>', page)]


def test_a_wallet_and_its_ledger_lines_read_in_yuan(admin_client):
    # Given a wallet bought for 80.00 (100.00 credited) with 41.68 spent
    wallet = bought_wallet(consumer=ConsumerFactory(), campaign=CampaignFactory(), spend=4168)

    # When the admin opens it
    page = admin_client.get(reverse("admin:allowance_wallet_change", args=[wallet.pk])).content.decode()

    # Then the amounts and the ledger lines are yuan with two decimals, and no label or value is in fen
    values = _readonly_values(page)
    assert "80.00" in values and "100.00" in values, values
    assert f"{wallet.principal / 100:.2f}" in values
    assert "(fen)" not in page and "8000" not in values and "10000" not in values
    inline = page[page.index('id="ledger_entries-group"'):] if 'id="ledger_entries-group"' in page else page
    assert re.search(r">\s*-33\.34\s*<", inline) and re.search(r">\s*-8\.34\s*<", inline), inline[:3000]
    assert not re.search(r">\s*-3334\s*<", inline)


def test_an_order_and_its_allocations_read_in_yuan(admin_client):
    consumer = ConsumerFactory()
    bought_wallet(consumer=consumer, campaign=CampaignFactory(), spend=4168)
    order = Order.objects.get(consumer=consumer)
    page = admin_client.get(reverse("admin:allowance_order_change", args=[order.pk])).content.decode()
    assert "41.68" in page and "33.34" in page and "8.34" in page and "(fen)" not in page
