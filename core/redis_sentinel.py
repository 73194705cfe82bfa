"""Redis behind Sentinel: one URL form for the cache, the payout rate limiter and Celery's broker.

`REDIS_URL` is either one server, `redis://host:port/db`, or the Sentinels that watch a master,
`sentinel://host1:port1/db;sentinel://host2:port2/db;…` (kombu's broker form: each Sentinel a URL of its own,
joined by `;`) together with `REDIS_SENTINEL_MASTER`, the master's name in the Sentinels' configuration. With
Sentinels every client asks them for the current master when it connects, so after a Redis failover the cache,
the limiter and the broker follow the promoted replica without a restart (redis-py's `SentinelConnectionPool`,
kombu's `sentinel://` transport).
"""
from dataclasses import dataclass
from urllib.parse import unquote, urlparse


class SentinelUrlError(ValueError):
    """A `sentinel://` REDIS_URL that cannot be used: no Sentinel named, a bad port, or no master name."""


@dataclass(frozen=True)
class SentinelConfig:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None

    def broker_transport_options(self) -> dict:
        return {"master_name": self.master}


def is_sentinel_url(url: str) -> bool:
    return url.strip().startswith("sentinel://")


def sentinel_config(url: str, master: str) -> SentinelConfig:
    """Parse `sentinel://h1:p1/db;sentinel://h2:p2/db` (db and `:password@` optional, taken from the first
    Sentinel that names them) with the master's name."""
    sentinels, db, password = [], None, None
    for part in [p.strip() for p in url.split(";") if p.strip()]:
        parsed = urlparse(part)
        if parsed.scheme != "sentinel" or not parsed.hostname:
            raise SentinelUrlError(f"{part!r} is not a Sentinel address (sentinel://host:port)")
        try:
            port = parsed.port or 26379
        except ValueError as exc:
            raise SentinelUrlError(f"{part!r}: the port is not a number") from exc
        sentinels.append((parsed.hostname, port))
        path = parsed.path.strip("/")
        if path and db is None:
            if not path.isdigit():
                raise SentinelUrlError(f"{part!r}: the database must be a number, not {path!r}")
            db = int(path)
        if parsed.password and password is None:
            password = unquote(parsed.password)
    if not sentinels:
        raise SentinelUrlError("a sentinel:// URL must name at least one Sentinel")
    if not master.strip():
        raise SentinelUrlError("REDIS_SENTINEL_MASTER must name the master the Sentinels watch")
    return SentinelConfig(sentinels=tuple(sentinels), master=master.strip(), db=db or 0, password=password)


def redis_client(url: str, *, master: str = "", **options):
    """A redis-py client for REDIS_URL: the one server, or the master the Sentinels name now (and again after
    every reconnect, so it follows a failover)."""
    import redis

    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **options)
    config = sentinel_config(url, master)
    return sentinel_manager(config, **options).master_for(config.master, db=config.db, password=config.password,
                                                          **options)


def sentinel_manager(config: SentinelConfig, **options):
    from redis.sentinel import Sentinel

    timeouts = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    return Sentinel(list(config.sentinels), sentinel_kwargs=timeouts, **timeouts)
