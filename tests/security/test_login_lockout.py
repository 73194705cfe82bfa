"""Login brute-force protection (django-axes): an account is locked after AXES_FAILURE_LIMIT wrong passwords in
a row, for AXES_COOLOFF_TIME, on the login page and the API token endpoint alike; other accounts still log in."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from tests.factories import ConsumerFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


def page_login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def api_token(client, username, password):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, content_type="application/json")


def attempts_age(by: timedelta):
    """Move every recorded failure `by` into the past: the clock moving on, as far as the lockout can tell."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= by
        attempt.save(update_fields=["attempt_time"])


@pytest.fixture
def alice(db):
    return ConsumerFactory(account_name="alice")


@pytest.fixture
def bob(db):
    return ConsumerFactory(account_name="bob")


def test_the_configured_limit_and_cool_off_are_twenty_failures_and_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 20
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_twenty_wrong_passwords_on_the_login_page_lock_the_account_but_not_others(client, alice, bob):
    # given 19 wrong passwords, alice can still log in with the right one
    for _ in range(19):
        assert page_login(client, "alice", "wrong password").status_code == 200
    assert page_login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    # when someone then tries 20 wrong passwords in a row (a success clears the count)
    for attempt in range(20):
        response = page_login(client, "alice", f"guess {attempt}")
    # then the 20th is answered with the lockout, and even the right password is refused
    assert response.status_code == 429
    locked = page_login(client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # and bob, from the same address, still logs in
    assert page_login(client, "bob", PASSWORD).status_code == 302


def test_the_lockout_counts_any_letter_case_of_the_account_name(client, alice):
    # given failures spread over spellings of one account name
    for attempt in range(20):
        page_login(client, ["alice", "ALICE", "Alice", " alice "][attempt % 4], "wrong password")
    # then the account is locked whatever the spelling
    assert page_login(client, "aLiCe", PASSWORD).status_code == 429


def test_twenty_wrong_passwords_on_the_api_lock_the_account_but_not_others(client, alice, bob):
    # when 20 wrong passwords are sent to the token endpoint
    for _ in range(19):
        assert api_token(client, "alice", "wrong password").status_code == 400
    response = api_token(client, "alice", "wrong password")
    # then the account is locked out with a JSON answer, even for the right password
    assert response.status_code == 429
    locked = api_token(client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.json()["detail"]
    assert "token" not in locked.json()
    # and the lock holds on the login page too
    assert page_login(client, "alice", PASSWORD).status_code == 429
    # while bob still gets his token
    token = api_token(client, "bob", PASSWORD)
    assert token.status_code == 200 and token.json()["token"]


def test_the_lockout_lasts_the_configured_cool_off_and_then_ends(client, alice):
    # given a locked account
    for _ in range(20):
        api_token(client, "alice", "wrong password")
    assert api_token(client, "alice", PASSWORD).status_code == 429
    # when 14 minutes have passed it is still locked
    attempts_age(timedelta(minutes=14))
    assert api_token(client, "alice", PASSWORD).status_code == 429
    # when the 15-minute cool-off has passed, the right password works again
    attempts_age(timedelta(minutes=1, seconds=1))
    response = api_token(client, "alice", PASSWORD)
    assert response.status_code == 200 and response.json()["token"]
