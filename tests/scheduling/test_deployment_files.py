"""docker-compose.yml, the Dockerfile and the Procfile describe the same processes as `make run` (no Docker engine
needed); `make prod-smoke` (scripts/prod_smoke.py) runs them, these check what a run cannot see."""
import re
import shlex
from pathlib import Path

import yaml

from scripts.prod_smoke import dockerfile_instructions, dockerignore_patterns, ignored, interpolate

ROOT = Path(__file__).resolve().parents[2]
SUPERUSER_RESERVED_CONNECTIONS = 3  # PostgreSQL's default: connections ordinary roles cannot take


def compose_services(**variables) -> dict:
    """The services as compose reads them, with the operator's variables (only SECRET_KEY is required)."""
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return interpolate(raw["services"], {"SECRET_KEY": "x" * 50, **variables})


def test_compose_runs_web_worker_beat_postgres_and_redis_with_health_checks():
    # Given the compose file as Docker would read it
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]

    # Then it has every service, each long-running one with a health check
    assert {"web", "worker", "payouts", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "payouts", "beat", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    # The app processes share one image and reach PostgreSQL and Redis, after the migrations ran
    for name in ("web", "worker", "payouts", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["CELERY_BROKER_URL"].startswith("redis://")
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"][:6] == ["celery", "-A", "config", "worker", "-Q", "celery"]
    # Payouts: their own queue on a thread pool (I/O-bound calls), never the prefork default worker
    assert "celery -A config worker -Q payouts --pool threads" in services["payouts"]["command"][-1]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert services["beat"]["deploy"]["replicas"] == 1  # one beat only


def test_procfile_names_web_the_two_workers_and_beat():
    processes = procfile()
    assert set(processes) == {"web", "worker", "payouts", "beat"}
    assert "celery -A config worker -Q celery" in processes["worker"] and "celery -A config beat" in processes["beat"]
    assert "celery -A config worker -Q payouts --pool threads" in processes["payouts"]
    # each worker its own node name (two `celery@host` clash), and web as production runs it
    assert processes["worker"].endswith("-n worker@%h") and processes["payouts"].endswith("-n payouts@%h")
    assert processes["web"] == "gunicorn -c config/gunicorn.py config.wsgi"


def procfile() -> dict:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: command.strip() for name, command in (line.split(":", 1) for line in lines
                                                         if line and not line.startswith("#"))}


def test_the_image_runs_what_compose_runs_and_never_holds_the_env_file():
    instructions = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    cmd = [yaml.safe_load(arguments) for word, arguments in instructions if word == "CMD"]
    assert cmd == [compose_services()["web"]["command"]] and "config/gunicorn.py" in cmd[0]
    # .env holds SECRET_KEY (the README says so): `COPY . .` must not bake it in, git must not take it
    assert ignored(".env", dockerignore_patterns()) and ignored(".env.production", dockerignore_patterns())
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_compose_refuses_to_start_without_a_secret_key():
    import pytest

    from scripts.prod_smoke import SmokeFailure

    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    with pytest.raises(SmokeFailure, match="SECRET_KEY"):
        interpolate(raw["services"]["web"]["environment"], {})
    assert compose_services(SECRET_KEY="s3cret" * 10)["web"]["environment"]["SECRET_KEY"] == "s3cret" * 10


def test_the_web_healthcheck_asks_the_health_url():
    # /healthz: no HTTPS redirect, no Host check (tests/security/test_headers_and_settings.py)
    assert "http://127.0.0.1:8000/healthz" in " ".join(compose_services()["web"]["healthcheck"]["test"])


def connection_budget(services: dict, *, web=1, worker=1, payouts=1) -> int:
    """PostgreSQL connections the deployment can hold at once: every thread that runs queries keeps its own
    (CONN_MAX_AGE > 0). Web: WEB_CONCURRENCY sync workers x WEB_THREADS; worker: its prefork children + 1 (the
    parent, to be safe); payouts: 2 x PAYOUT_CONCURRENCY threads + 1 (each thread keeps one to our books and one
    to the sandbox gateway's books, `<name>_gateway` on the same server); beat 1; one migrate or manage.py."""
    env = services["web"]["environment"]
    web_each = int(env["WEB_CONCURRENCY"]) * int(env.get("WEB_THREADS", 1))
    worker_command = services["worker"]["command"]
    worker_each = int(worker_command[worker_command.index("--concurrency") + 1]) + 1
    payouts_each = 2 * int(services["payouts"]["environment"]["PAYOUT_CONCURRENCY"]) + 1
    return web * web_each + worker * worker_each + payouts * payouts_each + 1 + 1


def max_connections(services: dict) -> int:
    command = " ".join(services["postgres"]["command"])
    return int(re.search(r"max_connections=(\d+)", command).group(1))


def test_the_connection_budget_fits_postgres_max_connections_as_compose_and_the_readme_say():
    # Given compose's settings, as an operator runs them and as the README's scaling example scales them
    services = compose_services()
    available = max_connections(services) - SUPERUSER_RESERVED_CONNECTIONS
    defaults = connection_budget(services)
    scaled = connection_budget(services, worker=4, payouts=2)  # `--scale worker=4 --scale payouts=2`

    # Then both fit the server, and the compose file and the README state these very numbers
    assert defaults <= scaled <= available, (defaults, scaled, available)
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "README.md").read_text()
    assert f"{defaults} with the defaults" in text and f"{scaled} with" in text
    # CONN_MAX_AGE is set explicitly: persistent connections are what the budget counts
    assert int(services["web"]["environment"]["CONN_MAX_AGE"]) > 0


def test_the_procfile_processes_fit_the_same_budget(monkeypatch):
    import runpy

    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "PAYOUT_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    gunicorn = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    processes = procfile()
    worker = shlex.split(processes["worker"])
    payouts = int(re.search(r"PAYOUT_CONCURRENCY:-(\d+)", processes["payouts"]).group(1))
    total = gunicorn["workers"] * gunicorn["threads"] + int(worker[worker.index("--concurrency") + 1]) + 1 + 2 * payouts + 1 + 2
    assert total <= max_connections(compose_services()) - SUPERUSER_RESERVED_CONNECTIONS


def test_the_gunicorn_config_loads_with_sync_workers_by_default(monkeypatch):
    import runpy

    for name in ("WEB_CONCURRENCY", "WEB_WORKER_CLASS", "WEB_THREADS", "WEB_BIND", "PORT"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert (config["worker_class"], config["threads"]) == ("sync", 1)
    # a fixed number, not the host's CPU count: each worker is a PostgreSQL connection of the budget
    assert config["workers"] == 5 and config["bind"] == "0.0.0.0:8000"
    monkeypatch.setenv("PORT", "5100")  # honcho / foreman / platforms
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["bind"] == "0.0.0.0:5100"
    monkeypatch.setenv("WEB_WORKER_CLASS", "gthread")
    monkeypatch.setenv("WEB_THREADS", "8")
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["worker_class"] == "gthread"


def test_the_smoke_run_reads_the_files_as_docker_and_compose_do():
    # Compose's interpolation: defaults only when unset (or empty, with the colon), $$ for a literal $
    variables = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET} $$HOSTNAME", variables) == "v d  d  $HOSTNAME"
    # The Dockerfile: continuation lines joined, comments between them dropped, one instruction each
    instructions = dockerfile_instructions("FROM x\n# note\nRUN a \\\n    && b\nENV A=1 \\\n    B=2\n")
    assert instructions == [("FROM", "x"), ("RUN", "a      && b"), ("ENV", "A=1      B=2")]
    # .dockerignore: a folder and everything in it, and patterns at any depth
    patterns = [".git", "**/__pycache__", "*.pyc", ".env"]
    assert ignored(".git", patterns) and ignored("a/b/__pycache__", patterns) and ignored("x/y.pyc", patterns)
    assert not ignored("config/settings/production.py", patterns) and not ignored("env.py", patterns)
