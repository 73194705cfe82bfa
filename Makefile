# Two commands do all the set-up on a fresh machine: `make run` and `make test`. Both install
# requirements-dev.txt (production's packages + embedded servers + test tools) and, when DATABASE_URL /
# REDIS_URL / CELERY_BROKER_URL are unset, start an embedded PostgreSQL and Redis (scripts/embedded.py).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Two xdist workers (the suite's wall time on 2 cores: see the README); PYTEST_ARGS adds to them.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: install test run reconcile bench chaos chaos-smoke prod-smoke failover-smoke

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# `make run [PORT=8000]`: install, then scripts/run.py: embedded servers (unless URLs are given), migrate,
# seed the demo, compile translations (if gettext's msgfmt is there), and web + Celery worker + Celery beat
# in the foreground. Ctrl-C stops all of them, servers included.
PORT ?= 8000
run: install
	$(BIN)/python scripts/run.py --port $(PORT)

# `make reconcile`: recompute every wallet and refund from the ledger. Beside a running `make run` it uses that
# run's embedded servers (manage.py reads var/embedded/run/urls.json when DATABASE_URL is unset).
reconcile: install
	$(BIN)/python manage.py reconcile

# `make chaos [CHAOS_ARGS="--seed 2 --ops 5000"]`: the real stack (PostgreSQL database sa_chaos, its own
# redis-server on :6390, gunicorn on :8053, two Celery workers, beat) under seeded load and injected faults;
# exits non-zero on any 5xx, drift or double payout. Not part of `make test`. See chaos/run.py.
CHAOS_ARGS ?=
chaos: install
	$(BIN)/python -m chaos.run $(CHAOS_ARGS)

# `make chaos-smoke`: the same faults in a ~2–3 minute profile, including a mass expiry; CI runs it.
chaos-smoke: install
	$(BIN)/python -m chaos.run --profile smoke $(CHAOS_ARGS)

# `make prod-smoke`: what the Dockerfile and docker-compose.yml deploy, read from them and run without a container
# engine: a venv of requirements.txt alone (cached by its hash under ~/.cache/store-allowance), the image's build
# steps, migrate, gunicorn + worker + payouts + beat with compose's commands and environment (production settings)
# against DATABASE_URL's PostgreSQL (database sa_prod_smoke) and a redis-server of its own (:6381, web :8061);
# a money flow over HTTP, static files, healthchecks, check --deploy, reconcile; then the Procfile's processes
# (web on :8062). CI runs it after the chaos smoke.
PROD_SMOKE_ARGS ?=
prod-smoke: install
	$(BIN)/python scripts/prod_smoke.py $(PROD_SMOKE_ARGS)

# Benchmarks (issue 7): PostgreSQL and Redis required, database sa_bench (emptied by the run), Redis DB 5.
# Sizes are flags: make bench BENCH_ARGS="--n 100000 --rss-n 1000000 --curve-extra 1000000"
BENCH_ARGS ?=
bench: install
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk (the HTTP load generator) from Debian's packages"; \
		apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }; }
	createdb -h 127.0.0.1 -U postgres sa_bench 2>/dev/null || true
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# `make failover-smoke`: the chaos stack on a pg_auto_failover pair + PgBouncer + Redis Sentinel (Debian's
# postgresql-15-auto-failover, pgbouncer, redis-sentinel; run as root, PostgreSQL as `postgres`, data in
# /var/tmp/sa-failover), faults (primary kills, rejoin, switchover, Redis master kill, PgBouncer restart), the
# gateway and client oracles and a negative control; ~8–10 minutes. See chaos/failover.py.
FAILOVER_ARGS ?=
failover-smoke: install
	$(BIN)/python -m chaos.failover $(FAILOVER_ARGS)
