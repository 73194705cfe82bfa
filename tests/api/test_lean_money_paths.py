"""The withdrawal POST reads its body and writes its answer without DRF serializers, and holds the wallet in one
statement (docs/perf.md, issue 22): the answers must be exactly the serializers', and the held request exactly
what the ORM path wrote."""
import json
from datetime import datetime, timezone as dt_timezone

import pytest
from django.utils import timezone

from allowance.models import Wallet
from api.serializers import WithdrawalRequestOutput
from refunds import services
from refunds.api.serializers import WithdrawalInput
from refunds.api.views import _held_request_output
from refunds.models import WithdrawalRequest

pytestmark = pytest.mark.django_db


def test_the_held_answer_is_the_serializers_and_the_row_as_read_back(world, alice_api, bought, spent):
    answer = alice_api.post(f"/api/v1/wallets/{bought.pk}/withdrawals/", {}, format="json")

    assert answer.status_code == 201, answer.content
    row = WithdrawalRequest.objects.get()
    assert answer.json() == dict(WithdrawalRequestOutput(row).data)
    assert list(answer.json()) == list(WithdrawalRequestOutput(row).data)  # the same order too
    assert (row.status, row.resolution, row.principal, row.bonus_lapsed, row.resolved_at, row.resolved_by_id,
            row.staff_notified_at, row.attention_reason, row.attention_at) == (
        "pending", None, 7200, 1800, None, None, None, "", None)
    assert row.due_at - row.requested_at == services.hold()
    bought.refresh_from_db()
    assert (bought.status, bought.principal, bought.bonus) == (Wallet.Status.FROZEN, 7200, 1800)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/St_Johns"])
@pytest.mark.parametrize("moment", [datetime(2026, 3, 1, 2, 0, 0, 123456, tzinfo=dt_timezone.utc),
                                    datetime(2026, 7, 1, 23, 59, 59, tzinfo=dt_timezone.utc)])
def test_the_held_answer_writes_times_as_drf_does(zone, moment):
    request = WithdrawalRequest(id=7, wallet_id=3, status="pending", principal=4760, bonus_lapsed=1190,
                                requested_at=moment, due_at=moment + services.hold())
    with timezone.override(zone):
        assert _held_request_output(request) == WithdrawalRequestOutput(request, context={"just_held": True}).data


@pytest.mark.parametrize("body", [
    [], "x", 5, None, {"principal": None}, {"principal": ""}, {"principal": "1e1"}, {"principal": -1},
    {"principal": "0"}, {"principal": "47.605"}, {"principal": True}, {"principal": [1]}, {"principal": {}},
    {"principal": "100000000"}, {"Principal": "47.60"}, {"principal": "47.60", "note": "x"},
])
def test_a_bad_body_is_answered_exactly_as_the_serializer_says(world, alice_api, bought, spent, body):
    serializer = WithdrawalInput(data=body)
    assert not serializer.is_valid()

    answer = alice_api.post(f"/api/v1/wallets/{bought.pk}/withdrawals/", json.dumps(body),
                            content_type="application/json")

    assert answer.status_code == 400, answer.content
    assert answer.json() == serializer.errors
    assert not WithdrawalRequest.objects.exists()


@pytest.mark.parametrize("principal", ["72", "72.0", "72.00", 72, "072.00"])
def test_a_good_principal_is_read_as_the_serializer_reads_it(world, alice_api, bought, spent, principal):
    assert WithdrawalInput(data={"principal": principal}).is_valid()

    answer = alice_api.post(f"/api/v1/wallets/{bought.pk}/withdrawals/", {"principal": principal}, format="json")

    assert answer.status_code == 201, answer.content
    assert answer.json()["principal"] == "72.00"


def test_an_unspent_wallet_is_still_refunded_at_once_through_the_api(world, alice_api, bought):
    answer = alice_api.post(f"/api/v1/wallets/{bought.pk}/withdrawals/", {"principal": "80.00"}, format="json")

    assert answer.status_code == 201, answer.content
    assert (answer.json()["status"], answer.json()["resolution"], answer.json()["refund"]["amount"]) == (
        "refunded", "instant", "80.00")


@pytest.mark.parametrize("state, code", [("frozen", "request_already_open"), ("closed", "wallet_closed"),
                                         ("expired", "wallet_expired"), ("someone_elses", None)])
def test_a_wallet_the_statement_does_not_hold_gets_the_locked_paths_answer(world, alice_api, bought, spent, state, code):
    if state == "frozen":
        services.withdrawal_request(wallet=bought, actor=world.alice.user)
    elif state == "closed":
        Wallet.objects.filter(pk=bought.pk).update(status="closed", principal=0, bonus=0)
    elif state == "expired":
        Wallet.objects.filter(pk=bought.pk).update(valid_until=timezone.now())
    client = alice_api
    if state == "someone_elses":
        from tests.api.conftest import client_for

        client = client_for(world.bob.user)
    requests = WithdrawalRequest.objects.count()

    answer = client.post(f"/api/v1/wallets/{bought.pk}/withdrawals/", {}, format="json")

    if code is None:
        assert answer.status_code == 404, answer.content
    else:
        assert answer.status_code == 409 and answer.json()["code"] == code, answer.content
    assert WithdrawalRequest.objects.count() == requests


def test_the_one_statement_writes_the_columns_the_model_has():
    """A column added to the request without a database default must be added to `wallet_hold` too."""
    from refunds.locks import _WALLET_HOLD

    written = set(_WALLET_HOLD.split("INSERT INTO ", 1)[1].split("(", 1)[1].split(")", 1)[0].replace(" ", "").split(","))
    for field in WithdrawalRequest._meta.concrete_fields:
        if field.column in written or field.primary_key:
            continue
        assert field.null, f"{field.column} is NOT NULL and not written by wallet_hold"


def test_the_prepared_statement_is_prepared_once_per_connection_and_again_after_a_reconnect(settings):
    from django.db import connection, connections

    from core.prepared import execute_prepared

    settings.DATABASE_POOL_MODE = "session"
    sql, types = "SELECT $1::bigint + $2, $3::text", ("bigint", "bigint", "text")
    assert execute_prepared("default", "test_add", sql, types, [1, 2, "50%"]) == [(3, "50%")]
    assert execute_prepared("default", "test_add", sql, types, [10, 20, "x"]) == [(30, "x")]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_add'")
        assert cursor.fetchone() == (1,)
    # A new session (as after a reconnect) has no prepared statements: it is prepared there again.
    connections["default"].__dict__["_prepared_statements"] = (object(), {"test_add"})
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE test_add")
    assert execute_prepared("default", "test_add", sql, types, [2, 2, None]) == [(4, None)]
    # A session that has it already (the bookkeeping lost, as on a new wrapper of the same session) keeps it.
    connections["default"].__dict__["_prepared_statements"] = (object(), set())
    assert execute_prepared("default", "test_add", sql, types, [3, 2, None]) == [(5, None)]


def test_behind_a_transaction_pooler_the_statement_is_sent_plain(settings):
    from django.db import connection

    from core.prepared import execute_prepared

    settings.DATABASE_POOL_MODE = "transaction"
    assert execute_prepared("default", "test_plain", "SELECT $1::bigint + $2, $3 || '%'", ("bigint", "bigint", "text"),
                            [1, 2, "a"]) == [(3, "a%")]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_plain'")
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_the_hold_with_a_seen_principal_holds_only_at_that_principal(world, bought, spent, settings, pool_mode):
    from refunds.locks import wallet_hold

    settings.DATABASE_POOL_MODE = pool_mode
    now = timezone.now()
    user_id = world.alice.user.pk
    assert wallet_hold(wallet_id=bought.pk, user_id=user_id, now=now, due_at=now, seen_principal=7100) is None
    assert wallet_hold(wallet_id=bought.pk, user_id=world.bob.user.pk, now=now, due_at=now) is None
    held = wallet_hold(wallet_id=bought.pk, user_id=user_id, now=now, due_at=now + services.hold(), seen_principal=7200)
    assert (held.status, held.principal, held.bonus_lapsed, held.wallet_id) == ("pending", 7200, 1800, bought.pk)
    assert WithdrawalRequest.objects.get().pk == held.pk
    assert wallet_hold(wallet_id=bought.pk, user_id=user_id, now=now, due_at=now) is None  # frozen now
