"""docker-compose.yml and the Procfile describe the same processes as `make run` (no Docker engine needed)."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")
    )
    assert set(processes) == {"web", "worker", "payouts", "beat"}
    assert "celery -A config worker -Q celery" in processes["worker"] and "celery -A config beat" in processes["beat"]
    assert "celery -A config worker -Q payouts --pool threads" in processes["payouts"]


def test_the_gunicorn_config_loads_with_sync_workers_by_default(monkeypatch):
    import multiprocessing
    import runpy

    for name in ("WEB_CONCURRENCY", "WEB_WORKER_CLASS", "WEB_THREADS", "WEB_BIND"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert (config["worker_class"], config["threads"]) == ("sync", 1)
    assert config["workers"] == 2 * multiprocessing.cpu_count() + 1 and config["bind"] == "0.0.0.0:8000"
    monkeypatch.setenv("WEB_WORKER_CLASS", "gthread")
    monkeypatch.setenv("WEB_THREADS", "8")
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["worker_class"] == "gthread"
