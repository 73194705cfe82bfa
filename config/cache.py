"""The Redis cache, tolerant of a Redis outage for plain reads and writes.

The cache holds nothing the books depend on: API throttle counters (DRF throttles `get` and `set`) and the
email-once marks (`add`). Found by `make chaos`: while Redis restarted, every throttled API call answered 500
because the throttle's `cache.get` raised. Now a read during an outage is a miss and a write is skipped —
throttling fails open for those seconds, while the login lockout (django-axes, in the database) still holds.
`add` and `incr` still raise: a caller that needs them atomic must learn that they did not happen.
"""
import logging

from django.core.cache.backends.redis import RedisCache
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
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
