import os

import pytest
from django.db import connection

from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory


def pytest_collection_modifyitems(config, items):
    """`postgres` tests need row locks and real concurrency. Off PostgreSQL they skip, saying so —
    unless REQUIRE_POSTGRES is set (CI), where running them elsewhere is an error."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres:
        return
    if os.environ.get("REQUIRE_POSTGRES"):
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL does not point at PostgreSQL")
    skip = pytest.mark.skip(reason="requires PostgreSQL: set DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
