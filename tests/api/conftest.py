"""Roles and data for the API tests: two stores with their staff, two consumers, a bought wallet."""
from dataclasses import dataclass

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allowance.services import campaign_purchase, order_spend
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@dataclass
class World:
    campaign: object
    store: object
    other_campaign: object
    other_store: object
    staff: object
    other_staff: object
    alice: object
    bob: object


@pytest.fixture
def world(db):
    campaign = CampaignFactory(name="pay 80 get 100", stock=100)
    other_campaign = CampaignFactory(name="other store's offer")
    return World(
        campaign=campaign, store=campaign.store, other_campaign=other_campaign, other_store=other_campaign.store,
        staff=StaffFactory(store=campaign.store).user, other_staff=StaffFactory(store=other_campaign.store).user,
        alice=ConsumerFactory(account_name="Alice"), bob=ConsumerFactory(account_name="Bob"),
    )


@pytest.fixture
def alice_api(world):
    return client_for(world.alice.user)


@pytest.fixture
def staff_api(world):
    return client_for(world.staff)


@pytest.fixture
def bought(world):
    """Alice bought "pay 80 get 100" once: principal 80.00, bonus 20.00."""
    return campaign_purchase(campaign=world.campaign, consumer=world.alice)


@pytest.fixture
def spent(world, bought):
    """…and spent 10.00 of it: principal 72.00, bonus 18.00 (SPEC §3)."""
    order = order_spend(consumer=world.alice, store=world.store, order_ref="A-1", amount=1000)
    bought.refresh_from_db()
    return order
