"""Schemathesis against the generated OpenAPI schema, in-process over WSGI, with real users, tokens and ids:
≥ 50 examples per operation, all default checks (no server error, status codes, content types, headers and
bodies as documented, negative data rejected, positive data accepted)."""
import random
import re
import uuid

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from rest_framework.authtoken.models import Token

from allowance.services import campaign_purchase, order_spend
from refunds.services import withdrawal_request, withdrawal_retention_message
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory

# The schema is read once over WSGI (no database needed to build it). Schemathesis' own pytest plugin does not
# run under pytest 9 (it relies on a private node attribute), so each operation gets a Hypothesis test here.
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES = 50
# Schema-valid bodies these operations may still refuse with a 400 naming the field, by rules JSON Schema cannot
# state: password strength and a taken account name, wrong credentials, a campaign's dates out of order or its
# credit below its price. For them "valid data accepted" is replaced by "a 4xx JSON answer, never a 5xx".
RULES_BEYOND_THE_SCHEMA = {
    "POST /api/v1/consumers/register/", "POST /api/v1/auth/token/", "POST /api/v1/merchant/campaigns/",
    "GET /api/v1/merchant/insights/",  # from <= to, at most 366 days, years 2000-2099
}


@pytest.fixture
def api_world(db):
    """Two stores with staff; a consumer with wallets (fresh, spent, one with a pending request), orders."""
    campaigns = [CampaignFactory(name=f"offer {n}", per_consumer_limit=1000, stock=None) for n in range(2)]
    staff = StaffFactory(store=campaigns[0].store).user
    StaffFactory(store=campaigns[1].store, user=staff)
    consumer = ConsumerFactory(account_name="fuzzer")
    ids = {"wallet": [], "request": [], "order": [], "campaign": [c.pk for c in campaigns]}
    for n, campaign in enumerate(campaigns * 3):
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
        ids["wallet"].append(wallet.pk)
    for n, campaign in enumerate(campaigns):
        order = order_spend(consumer=consumer, store=campaign.store, order_ref=f"seed-{n}", amount=1000)
        ids["order"].append(order.pk)
        wallet = order.allocations.first().wallet
        request = withdrawal_request(wallet=wallet, actor=consumer.user)
        withdrawal_retention_message(request=request, actor=staff, message="Stay?")
        ids["request"].append(request.pk)
    tokens = {
        "consumer": Token.objects.create(user=consumer.user).key,
        "staff": Token.objects.create(user=staff).key,
    }
    return {"ids": ids, "tokens": tokens, "stores": [c.store_id for c in campaigns]}


@pytest.fixture
def same_connection():
    # Like Django's test client: keep the test's connection (and its transaction) across in-process requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _real_id(path: str, ids: dict, rnd: random.Random):
    if "/withdrawals/{id}" in path:
        return rnd.choice(ids["request"])
    if path.startswith("/api/v1/wallets/"):
        return rnd.choice(ids["wallet"])
    if path.startswith("/api/v1/orders/"):
        return rnd.choice(ids["order"])
    if "/campaigns/{id}" in path:
        return rnd.choice(ids["campaign"])
    return None


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_honours_its_schema(operation, mode, api_world, same_connection):
    role = "staff" if operation.path.startswith("/api/v1/merchant/") else "consumer"
    seen = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        rnd = random.Random(repr(case.path_parameters) + repr(case.query) + repr(case.body)[:200])
        if mode == GenerationMode.POSITIVE and case.path_parameters and rnd.random() < 0.7:
            real = _real_id(case.path, api_world["ids"], rnd)
            if real is not None:
                case.path_parameters["id"] = real
        headers = {"Authorization": f"Token {api_world['tokens'][role]}"}
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str) and re.fullmatch(r"[\x20-\x7e]{1,255}", key):
            # A client sends a fresh key per action; a valid key reused with another body is a 422 by contract.
            # (Invalid keys of negative cases are left alone: they must be refused.)
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        excluded = [positive_data_acceptance] if operation.label in RULES_BEYOND_THE_SCHEMA else []
        response = case.call_and_validate(headers=headers, excluded_checks=excluded)
        if excluded and mode == GenerationMode.POSITIVE:
            assert response.status_code < 500 and response.json(), response.content
        seen.append(response.status_code)

    try:
        run()
    except Unsatisfiable:
        # Nothing about this operation can be made invalid (no parameters, no body): no negative cases exist.
        assert mode == GenerationMode.NEGATIVE and not seen
        return
    assert seen
