"""The API's token authentication reads the token and its user in one hand-written statement (core/api/base.py):
the same answers and the same user as DRF's ORM look-up."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from core.api.base import TokenAuthentication
from tests.factories import ConsumerFactory

pytestmark = pytest.mark.django_db


def test_the_user_and_token_are_what_the_orm_reads():
    user = ConsumerFactory().user
    token = Token.objects.create(user=user)

    got_user, got_token = TokenAuthentication().authenticate_credentials(token.key)

    orm = Token.objects.select_related("user").get(key=token.key)
    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    assert [getattr(got_user, f) for f in fields] == [getattr(orm.user, f) for f in fields]
    assert (got_token.pk, got_token.user_id, got_token.created, got_token.user is got_user) == (
        orm.pk, orm.user_id, orm.created, True)
    assert not got_user._state.adding and got_user._state.db == "default"
    assert got_user.consumer.pk == user.consumer.pk  # relations load as usual


def test_an_unknown_token_and_an_inactive_user_are_refused_as_drf_refuses_them():
    user = ConsumerFactory().user
    token = Token.objects.create(user=user)
    with pytest.raises(AuthenticationFailed, match="Invalid token."):
        TokenAuthentication().authenticate_credentials("0" * 40)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(AuthenticationFailed, match="User inactive or deleted."):
        TokenAuthentication().authenticate_credentials(token.key)


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token nosuchtoken", "Token \u00e9t\u00e9"])
def test_bad_credentials_are_a_401_with_the_challenge(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    answer = client.get("/api/v1/wallets/")
    assert answer.status_code == 401 and answer["WWW-Authenticate"] == "Token", answer.content
    assert set(answer.json()) == {"detail"}
