import pytest

from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory


def pytest_collection_modifyitems(items):
    """Every test that uses the database may reach the sandbox gateway's books too (the `gateway` alias, a
    database of its own: core/db.py): a payout run anywhere writes there. A test that names its databases keeps
    them."""
    from pytest_django.plugin import validate_django_db

    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and not {"db", "transactional_db", "live_server"} & set(item.fixturenames):
            continue
        transaction, reset_sequences, databases, serialized_rollback, available_apps = (
            validate_django_db(marker) if marker else (False, False, None, False, None))
        if databases is None:
            item.add_marker(pytest.mark.django_db(
                transaction=transaction, reset_sequences=reset_sequences, databases=["default", "gateway"],
                serialized_rollback=serialized_rollback, available_apps=available_apps), append=False)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases, and at the end of the session, before it drops them, an end to the
    sessions that tests' threads (payout workers, racing buyers) left open on them: a database still in use
    cannot be dropped ("is being accessed by other users")."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in ("default", "gateway"):
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()")


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
