import pytest

from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory


@pytest.fixture
def consumer(db):
    return ConsumerFactory()


@pytest.fixture
def campaign(db):
    return CampaignFactory()


@pytest.fixture
def store(campaign):
    return campaign.store


@pytest.fixture
def staff(store):
    return StaffFactory(store=store).user
