"""The cache and the payout rate limiter behind Sentinel follow a Redis failover: a real master, replica and
Sentinel (redis-server --sentinel, ports 6393/6394/26394 — the failover smoke's range), the master SIGKILLed, and
both write to the promoted replica without being rebuilt."""
import signal
import subprocess
import time
import uuid

import pytest
import redis

from chaos.stack import redis_server_binary, wait_for_port
from config.cache import ResilientRedisCache

MASTER, REPLICA, SENTINEL = 6393, 6394, 26394
NAME = "sa-test-redis"
URL = f"sentinel://127.0.0.1:{SENTINEL}/0"


def _wait(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def sentinel_pair(tmp_path):
    binary = redis_server_binary()
    procs = {}
    for port in (MASTER, REPLICA):
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(tmp_path)]
        if port == REPLICA:
            argv += ["--replicaof", "127.0.0.1", str(MASTER)]
        procs[port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(port)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {SENTINEL}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor {NAME} 127.0.0.1 {MASTER} 1\n"
                    f"sentinel down-after-milliseconds {NAME} 1000\nsentinel failover-timeout {NAME} 5000\n")
    procs[SENTINEL] = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                       start_new_session=True)
    wait_for_port(SENTINEL)
    _wait(lambda: redis.Redis(port=REPLICA).info("replication")["master_link_status"] == "up")
    _wait(lambda: redis.Redis(port=SENTINEL).sentinel_master(NAME)["num-slaves"] == 1)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def _master_port() -> int:
    return int(redis.Redis(port=SENTINEL).sentinel_get_master_addr_by_name(NAME)[1])


def test_cache_and_limiter_follow_the_master_the_sentinel_promotes(sentinel_pair, settings):
    settings.REDIS_URL, settings.REDIS_SENTINEL_MASTER = URL, NAME
    settings.RATELIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex[:8]}:"
    from core.ratelimit import RateLimiter

    cache = ResilientRedisCache(URL, {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2,
                                                  "sentinel_master": NAME}})
    limiter = RateLimiter("sentinel-follow", 1000)
    cache.set("before", "on the first master", 60)
    assert cache.get("before") == "on the first master"
    assert limiter.try_acquire()
    assert redis.Redis(port=MASTER).exists(limiter.key) == 1

    sentinel_pair[MASTER].send_signal(signal.SIGKILL)
    _wait(lambda: _master_port() == REPLICA)

    _wait(lambda: cache.set("after", "on the promoted replica", 60) is not None or cache.get("after"))
    assert cache.get("after") == "on the promoted replica"
    assert redis.Redis(port=REPLICA).get(cache.make_and_validate_key("after")) is not None
    redis.Redis(port=REPLICA).delete(limiter.key)
    _wait(lambda: limiter.try_acquire() and redis.Redis(port=REPLICA).exists(limiter.key) == 1)
