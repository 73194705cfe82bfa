"""A smoke test of the pieces `make chaos` is built from (the run itself is `make chaos`, not part of the suite)."""
import io
import json
import random
import socket

import pytest
from rest_framework import serializers

from core.api.fields import AmountField
from core.api.parsers import StrictJSONParser
from chaos.gateway import CountingSandboxGateway, gateway_faults
from chaos.load import BAD_AMOUNTS, yuan
from chaos.run import percentile
from config.cache import ResilientRedisCache


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def over_the_wire(value):
    """What the API's field receives once the value went through JSON and the API's parser."""
    return StrictJSONParser().parse(io.BytesIO(json.dumps({"amount": value}).encode()))["amount"]


def test_every_amount_form_the_load_sends_means_the_same_fen_to_the_api():
    rng, field = random.Random(7), AmountField()
    for fen in [1, 10, 99, 100, 1234, 5000, 25000] + [rng.randint(1, 25000) for _ in range(300)]:
        assert field.to_internal_value(over_the_wire(yuan(fen, rng))) == fen


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_every_bad_amount_the_load_sends_is_refused_by_the_api(amount):
    with pytest.raises(serializers.ValidationError):
        AmountField().to_internal_value(over_the_wire(amount))


def test_the_cache_treats_a_redis_outage_as_a_miss_for_reads_and_writes_but_not_for_add():
    # given a cache whose Redis is down (nothing listens on the port)
    cache = ResilientRedisCache(f"redis://127.0.0.1:{free_port()}/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    # then reads miss and writes are skipped, instead of failing the request
    assert cache.get("throttle-key", "miss") == "miss"
    assert cache.get_many(["a", "b"]) == {}
    cache.set("throttle-key", [1.0], 60)
    # and add, which callers rely on to be atomic, still says it did not happen
    with pytest.raises(Exception):
        cache.add("email-once", 1)


def test_the_counting_gateway_writes_down_each_fault_it_injects(settings, tmp_path, monkeypatch, db):
    settings.SANDBOX_GATEWAY_LATENCY_MS = 0
    settings.SANDBOX_GATEWAY_FAILURE_RATE = 1.0
    monkeypatch.setenv("CHAOS_FAULT_DIR", str(tmp_path))
    result = CountingSandboxGateway().payout(key="refund-1-payment-1", payment_reference="pay_x", amount=100)
    assert result.outcome.value == "failed"
    assert gateway_faults(tmp_path) == {"failure": 1}


def test_latency_percentiles():
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (51, 99, 0.0)
