"""A rate shared by every process: slots handed out by Redis, so all payout workers together stay under a limit.

`RateLimiter(key, per_second).wait()` reserves the next free slot (one Lua call: the slot is the later of now
and the last slot + 1/rate, read from Redis's own clock) and sleeps until it; callers are spaced evenly at
`per_second` whichever process or thread they run in, with no polling and no burst. Used before every payout
call (`PAYOUT_RATE_LIMIT`) and, with a burst, by the sandbox to model the provider's own limit
(`SANDBOX_GATEWAY_RATE_LIMIT`). Without Redis (down, or no `REDIS_URL`) each process paces itself at the full
rate: a brief overshoot the provider answers with 429s, which payouts wait out without spending an attempt.
"""
import logging
import threading
import time

import redis
from django.conf import settings

from core.redis_sentinel import redis_client

log = logging.getLogger(__name__)

# KEYS[1]: the slot key. ARGV: interval (s), burst (calls allowed at once), ttl (ms), reserve (1: take the slot
# even if it is in the future and return the wait; 0: take it only if it is free now, else return -wait), count
# (slots taken together: a batch of k payouts takes k).
_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local earliest = now - (burst - 1) * interval
if tat < earliest then tat = earliest end
local wait = tat - now
if wait > 0 and ARGV[4] == '0' then return tostring(-wait) end
redis.call('SET', KEYS[1], tostring(tat + interval * tonumber(ARGV[5])), 'PX', ARGV[3])
if wait < 0 then wait = 0 end
return tostring(wait)
"""

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _client() -> redis.Redis | None:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    with _clients_lock:
        if url not in _clients:
            # Behind Sentinel the client asks for the master on every reconnect: slots follow a Redis failover.
            _clients[url] = redis_client(url, master=getattr(settings, "REDIS_SENTINEL_MASTER", ""),
                                         socket_connect_timeout=1, socket_timeout=2)
        return _clients[url]


class RateLimiter:
    def __init__(self, key: str, per_second: float, *, burst: int = 1):
        self.key = f"{getattr(settings, 'RATELIMIT_KEY_PREFIX', '')}ratelimit:{key}"
        self.per_second = per_second
        self.burst = max(int(burst), 1)
        self._local_next = 0.0
        self._local_lock = threading.Lock()

    def _slot(self, reserve: bool, count: int) -> float:
        interval = 1.0 / self.per_second
        client = _client()
        if client is not None:
            try:
                ttl_ms = max(int((self.burst + 1) * interval * 1000) + 60_000, 1000)
                return float(client.eval(_SLOT, 1, self.key, repr(interval), self.burst, ttl_ms, int(reserve),
                                         int(count)))
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("rate limiter %s: Redis unavailable, pacing this process alone: %s", self.key, exc)
        with self._local_lock:
            now = time.monotonic()
            slot = max(self._local_next, now - (self.burst - 1) * interval)
            if slot > now and not reserve:
                return -(slot - now)
            self._local_next = slot + interval * count
            return max(slot - now, 0.0)

    def wait(self, count: int = 1) -> float:
        """Reserve the next `count` slots and sleep until the first; returns the seconds slept."""
        if self.per_second <= 0:
            return 0.0
        wait = self._slot(reserve=True, count=count)
        if wait > 0:
            time.sleep(wait)
        return wait

    def try_acquire(self, count: int = 1) -> bool:
        """Take `count` slots only if the first is free now (the provider's side: refuse, don't queue)."""
        if self.per_second <= 0:
            return True
        return self._slot(reserve=False, count=count) >= 0


def payout_limiter() -> RateLimiter:
    """Our side of the gateway's limit: every payout and status query of every worker goes through it (a batch of
    k takes k slots)."""
    return RateLimiter("payout", settings.PAYOUT_RATE_LIMIT)
