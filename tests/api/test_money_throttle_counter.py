"""The money throttle's counter (`config.cache.window_hit`): one atomic hit per request, on Redis and elsewhere."""
import os
import socket
import threading
import uuid

import pytest
from django.core.cache.backends.locmem import LocMemCache

from config.cache import ResilientRedisCache, window_hit

REDIS_URL = os.environ["REDIS_URL"]  # the session's Redis (tests/embedded_servers.py)


@pytest.fixture
def redis_cache():
    prefix = f"throttle-test-{uuid.uuid4().hex[:8]}"
    cache = ResilientRedisCache(REDIS_URL, {"KEY_PREFIX": prefix})
    yield cache
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(f"{prefix}:*"):  # only this test's keys: the database may be shared
        client.delete(key)


def test_hits_are_counted_in_a_window_that_starts_with_the_first(redis_cache):
    # When one user posts three times within the window
    hits = [window_hit(redis_cache, "money-user-1", 60) for _ in range(3)]

    # Then the counts run 1, 2, 3, and the window's end stays where the first hit put it
    assert [count for count, _ in hits] == [1, 2, 3]
    assert all(0 < left <= 60 for _, left in hits)
    assert window_hit(redis_cache, "money-user-2", 60)[0] == 1  # another user has a window of their own


def test_concurrent_hits_never_see_the_same_count(redis_cache):
    # Given 16 requests of one user arriving together
    counts, barrier = [], threading.Barrier(16)

    def hit():
        barrier.wait()
        counts.append(window_hit(redis_cache, "money-user-3", 60)[0])

    threads = [threading.Thread(target=hit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each saw its own count: with a limit of N, exactly N of them are let through
    assert sorted(counts) == list(range(1, 17))


def test_a_redis_outage_lets_requests_through_instead_of_failing_them():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = ResilientRedisCache(f"redis://127.0.0.1:{port}/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    assert window_hit(cache, "money-user-4", 60) == (0, 0)


def test_any_other_django_cache_counts_the_same_way():
    cache = LocMemCache(f"throttle-{uuid.uuid4().hex}", {})
    assert [window_hit(cache, "money-user-5", 60)[0] for _ in range(3)] == [1, 2, 3]
