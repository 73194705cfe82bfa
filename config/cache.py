"""The Redis cache, tolerant of a Redis outage for plain reads and writes, and cheap per command.

The cache holds nothing the books depend on: API throttle counters (DRF throttles `get` and `set`) and the
email-once marks (`add`). Found by `make chaos`: while Redis restarted, every throttled API call answered 500
because the throttle's `cache.get` raised. Now a read during an outage is a miss and a write is skipped —
throttling fails open for those seconds, while the login lockout (django-axes, in the database) still holds.
`add` and `incr` still raise: a caller that needs them atomic must learn that they did not happen.

Django's client builds a new `redis.Redis` object for every command (measured ~0.1 ms of CPU each, two or
three per API request); here one is kept per connection pool, which redis-py makes thread-safe. `window_hit`
counts a throttle hit in one round trip.
"""
import logging

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


def window_hit(cache, key: str, seconds: int) -> tuple[int, int]:
    """Count a hit on `key` in a fixed window of `seconds` that starts with its first hit.

    Returns (hits in the window so far, including this one; seconds until the window ends). Atomic, so two
    concurrent requests never both see the same count. Any Django cache works; Redis does it in one round trip.
    """
    if isinstance(cache, ResilientRedisCache):
        return cache.window_hit(key, seconds)
    cache.add(key, 0, seconds)
    try:
        return cache.incr(key), seconds
    except ValueError:  # expired between the two calls: this hit opens a new window
        cache.set(key, 1, seconds)
        return 1, seconds


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
        # redis-py's default retries back off for up to ~10 s per command: during an outage every request
        # would stall that long. One quick retry rides over a dropped connection; then the outage is handled.
        from redis.retry import Retry

        self._options = {"retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), 1), **self._options}

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
        """`window_hit` for Redis: INCR, EXPIRE NX and TTL in one pipelined round trip. Fails open (0 hits)
        while Redis is down, like the reads above."""
        key = self.make_and_validate_key(key)
        try:
            pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
            hits, _, ttl = pipe.incr(key).expire(key, seconds, nx=True).ttl(key).execute()
        except OUTAGE as exc:
            return self._outage("window_hit", exc, (0, 0))
        return hits, max(ttl, 1)
