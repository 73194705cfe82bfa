# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install test run migrate bench

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

migrate: install
	$(BIN)/python manage.py migrate --noinput

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# `make run [PORT=8000]`: install, migrate, seed the demo, compile translations (if gettext's msgfmt is
# there) and run web + Celery worker + Celery beat in the foreground; Ctrl-C stops all three.
# SQLite and a file broker under var/ unless DATABASE_URL / CELERY_BROKER_URL say otherwise.
PORT ?= 8000
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@if [ -n "$$(find . -path ./$(VENV) -prune -o -path ./var -prune -o -type d -name locale -print -quit)" ]; then \
		if command -v msgfmt >/dev/null 2>&1; then \
			$(BIN)/python manage.py compilemessages --ignore=$(VENV) --ignore=var --ignore=node_modules -v0; \
		else echo "msgfmt (gettext) not found: using the translations as committed"; fi; \
	fi
	$(BIN)/python scripts/run.py --port $(PORT)

# `make chaos [CHAOS_ARGS="--seed 2 --ops 5000"]`: the real stack (PostgreSQL database sa_chaos, its own
# redis-server on :6390, gunicorn on :8053, two Celery workers, beat) under seeded load and injected faults;
# exits non-zero on any 5xx, drift or double payout. Not part of `make test`. See chaos/run.py.
CHAOS_ARGS ?=
.PHONY: chaos
chaos: install
	$(BIN)/python -m chaos.run $(CHAOS_ARGS)

# Benchmarks (issue 7): PostgreSQL and Redis required, database sa_bench (emptied by the run), Redis DB 5.
# Sizes are flags: make bench BENCH_ARGS="--n 100000 --rss-n 1000000 --curve-extra 1000000"
BENCH_ARGS ?=
bench: install
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk (the HTTP load generator) from Debian's packages"; \
		apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }; }
	createdb -h 127.0.0.1 -U postgres sa_bench 2>/dev/null || true
	$(BIN)/python -m bench.run $(BENCH_ARGS)
