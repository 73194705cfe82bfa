"""gunicorn settings for production (`gunicorn -c config/gunicorn.py config.wsgi`); each can be overridden from
the environment. Measured with `make bench` on 2 cores (docs/perf.md).

- Sync workers: WEB_CONCURRENCY, 5 unless set (gunicorn's 2 x cores + 1 on the 2-core machine measured). Fixed,
  not read from the host's CPU count: each worker holds a PostgreSQL connection, and the sum over every process
  must stay within max_connections (the connection budget in the README and config/settings/base.py). On a
  bigger host set 2 x cores + 1 within that budget. The machine is CPU-bound under load, so
  what matters is the tail: a sync worker takes the next connection only when it is free, so requests are
  served in arrival order — at 32 connections the withdrawal's p99 was ~1.3 x its p50 with sync workers
  and ~2.5 x with gthread (3 x 8 threads: connections stick to a busy worker and threads queue on the GIL),
  at the same throughput. Sync workers expect a buffering reverse proxy in front (nginx, or the platform's
  load balancer), which every deployment has; `WEB_WORKER_CLASS=gthread` (with `WEB_THREADS`) remains for
  one without.
"""
import os

# WEB_BIND, else every interface on $PORT (honcho/foreman and most platforms set it), else 8000.
bind = os.environ.get("WEB_BIND") or f"0.0.0.0:{os.environ.get('PORT') or 8000}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 5)
worker_class = os.environ.get("WEB_WORKER_CLASS", "sync")
threads = int(os.environ.get("WEB_THREADS", "1"))
keepalive = int(os.environ.get("WEB_KEEPALIVE", "5"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
# Recycle a worker now and then (jittered so they do not restart together): bounds any slow memory growth.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("WEB_ACCESS_LOG") or None  # "-" for stdout; off by default (a write per request)
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
