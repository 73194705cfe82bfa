"""The Redis cache, tolerant of a Redis outage for plain reads and writes, and cheap per command.

The cache holds nothing the books depend on: API throttle counters (DRF throttles `get` and `set`) and the
email-once marks (`add`). Found by `make chaos`: while Redis restarted, every throttled API call answered 500
because the throttle's `cache.get` raised. Now a read during an outage is a miss and a write is skipped —
throttling fails open for those seconds, while the login lockout (django-axes, in the database) still holds.
`add` and `incr` still raise: a caller that needs them atomic must learn that they did not happen.

Django's client builds a new `redis.Redis` object for every command (measured ~0.1 ms of CPU each, two or
three per API request); here one is kept per connection pool, which redis-py makes thread-safe. `window_hit`
counts a throttle hit in one round trip.

Found by `make chaos` a second time: the throttle gets `django.core.cache.cache`, a `ConnectionProxy`, so an
`isinstance` check on it is always false and the throttle took the unguarded generic path (`add`/`incr`), which
raised during a Redis restart. `window_hit` now asks the object for the method instead (the proxy forwards
attribute look-ups to the real backend), and the generic path fails open too.
"""
import logging

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.redis_sentinel import is_sentinel_url, sentinel_config, sentinel_manager

log = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, sentinel_master="", **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._sentinel_master = sentinel_master

    def _get_connection_pool(self, write):
        # Behind Sentinel: one pool whose connections ask the Sentinels for the master each time they connect,
        # so the cache follows a Redis failover (core/redis_sentinel.py).
        if not is_sentinel_url(self._servers[0]):
            return super()._get_connection_pool(write)
        if not self._pools:
            from redis.sentinel import SentinelConnectionPool

            config = sentinel_config(self._servers[0], self._sentinel_master)
            options = {k: v for k, v in self._pool_options.items() if v is not None}
            self._pools[0] = SentinelConnectionPool(config.master, sentinel_manager(config, **options), db=config.db,
                                                    password=config.password, **options)
        return self._pools[0]

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


def window_hit(cache, key: str, seconds: int) -> tuple[int, int]:
    """Count a hit on `key` in a fixed window of `seconds` that starts with its first hit.

    Returns (hits in the window so far, including this one; seconds until the window ends). Atomic, so two
    concurrent requests never both see the same count. Any Django cache works, `django.core.cache.cache` (a
    proxy) included; Redis does it in one round trip. While the cache is unreachable it fails open: (0, 0).
    """
    own = getattr(cache, "window_hit", None)  # not isinstance: a ConnectionProxy forwards look-ups, not types
    if own is not None:
        return own(key, seconds)
    try:
        cache.add(key, 0, seconds)
        try:
            return cache.incr(key), seconds
        except ValueError:  # expired between the two calls: this hit opens a new window
            cache.set(key, 1, seconds)
            return 1, seconds
    except OUTAGE as exc:
        log.warning("throttle counter skipped, cache unavailable: %s", exc)
        return 0, 0


# INCR, and the window's expiry set by the hit that opened it, atomically. A Lua script rather than
# `EXPIRE … NX` (Redis 7 only): the embedded redis-server of `make run` / `make test` is 6.2.
_WINDOW_HIT = """
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {hits, ttl}
"""


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        if is_sentinel_url(server):  # one address list, not a master and read replicas split at ";"
            self._servers = [server]
        self._class = _ReusingClient
        # redis-py's default retries back off for up to ~10 s per command: during an outage every request
        # would stall that long. One quick retry rides over a dropped connection; then the outage is handled.
        from redis.retry import Retry

        self._options = {"retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), 1), **self._options}
        self._scripts = {}

    def _outage(self, operation: str, exc: Exception, result):
        log.warning("cache %s skipped, Redis unavailable: %s", operation, exc)
        return result

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except OUTAGE as exc:
            return self._outage("get", exc, default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except OUTAGE as exc:
            return self._outage("get_many", exc, {})

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except OUTAGE as exc:
            return self._outage("has_key", exc, False)

    def set(self, key, value, timeout=..., version=None):
        from django.core.cache.backends.base import DEFAULT_TIMEOUT

        try:
            return super().set(key, value, DEFAULT_TIMEOUT if timeout is ... else timeout, version)
        except OUTAGE as exc:
            return self._outage("set", exc, None)

    def set_many(self, data, timeout=..., version=None):
        from django.core.cache.backends.base import DEFAULT_TIMEOUT

        try:
            return super().set_many(data, DEFAULT_TIMEOUT if timeout is ... else timeout, version)
        except OUTAGE as exc:
            return self._outage("set_many", exc, list(data))

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except OUTAGE as exc:
            return self._outage("delete", exc, False)

    def window_hit(self, key: str, seconds: int) -> tuple[int, int]:
        """`window_hit` for Redis: one script call (EVALSHA; redis-py loads it on first use). Fails open
        (0 hits) while Redis is down, like the reads above."""
        key = self.make_and_validate_key(key)
        try:
            client = self._cache.get_client(key, write=True)
            script = self._scripts.get(id(client))
            if script is None:
                script = self._scripts.setdefault(id(client), client.register_script(_WINDOW_HIT))
            hits, ttl = script(keys=[key], args=[seconds])
        except OUTAGE as exc:
            return self._outage("window_hit", exc, (0, 0))
        return int(hits), max(int(ttl), 1)
