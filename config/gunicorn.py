"""gunicorn settings for production (`gunicorn -c config/gunicorn.py config.wsgi`); each can be overridden from
the environment. Measured with `make bench` (docs/perf.md) on 2 cores.

- Threads (gthread): a request spends much of its time waiting on PostgreSQL (row locks, commit) and Redis; a
  thread per connection lets a worker serve others meanwhile, and HTTP keep-alive saves a TCP handshake per
  request. Sync workers close every connection and idle through each wait.
- Workers: one per core plus one (2 cores → 3), each with WEB_THREADS threads (default 8).
"""
import multiprocessing
import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS", "8"))
keepalive = int(os.environ.get("WEB_KEEPALIVE", "5"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
# Recycle a worker now and then (jittered so they do not restart together): bounds any slow memory growth.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("WEB_ACCESS_LOG") or None  # "-" for stdout; off by default (a write per request)
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
