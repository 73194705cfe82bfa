"""Where `make run` leaves the URLs of its embedded servers, so that `manage.py reconcile` (or any management
command) run beside it in another terminal finds them: `<VAR_DIR>/embedded/run/urls.json`, written when the
servers are up and removed when `make run` stops. An explicit DATABASE_URL / REDIS_URL always wins.

Like scripts/embedded.py this imports nothing of the project (settings are read after it has run)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def urls_file(env=os.environ) -> Path:
    return Path(env.get("VAR_DIR", ROOT / "var")) / "embedded" / "run" / "urls.json"


def urls_write(*, env=os.environ) -> Path:
    """Called by scripts/run.py once its embedded servers are up: this process's id and the servers' URLs."""
    path = urls_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": os.getpid(), **{key: env[key] for key in KEYS if env.get(key)}}, handle)
    return path


def urls_remove(*, env=os.environ) -> None:
    path = urls_file(env)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def urls_use_running(*, env=os.environ) -> dict:
    """For manage.py: with no DATABASE_URL, and a `make run` that is up, take its servers' URLs (for the keys that
    are unset) and say so on stderr. Returns what was taken ({} when nothing was)."""
    if env.get("DATABASE_URL"):
        return {}
    try:
        found = json.loads(urls_file(env).read_text())
    except (OSError, ValueError):
        return {}
    if not _alive(found.get("pid")):
        return {}
    taken = {key: found[key] for key in KEYS if found.get(key) and not env.get(key)}
    env.update(taken)
    if taken:
        print(f"manage.py: using the servers of `make run` (pid {found['pid']}): "
              + " ".join(f"{key}={value}" for key, value in sorted(taken.items())), file=sys.stderr)
    return taken
