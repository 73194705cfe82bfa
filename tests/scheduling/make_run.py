"""Starting `make run`'s supervisor (scripts/run.py) the way the README says, for the tests that drive it."""
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SERVER_VARIABLES = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}


def make_run_start(*, port: int, log_path: Path, env: dict) -> subprocess.Popen:
    """run.py in its own session (so a test can Ctrl-C the group), its output in log_path."""
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "scripts/run.py", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def make_run_wait(run: subprocess.Popen, *, base: str, log_path: Path, timeout: float = 240) -> None:
    """Until the demo's home page answers 200; fails with run.py's last output if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        assert run.poll() is None, f"run.py exited early:\n{log_path.read_text()[-4000:]}"
        try:
            if requests.get(base + "/", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"the demo never answered:\n{log_path.read_text()[-4000:]}"
        time.sleep(0.5)


def without_servers(env=os.environ) -> dict:
    """The environment with no server URLs: run.py starts embedded servers, as on a fresh machine."""
    return {k: v for k, v in env.items() if k not in SERVER_VARIABLES}
