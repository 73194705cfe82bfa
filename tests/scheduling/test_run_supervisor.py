"""`scripts/run.py` (what `make run` runs) says clearly which process died and how, then stops the rest."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_dying_worker_is_reported_by_name_and_signal_and_nothing_is_left(tmp_path):
    # Given web, worker and beat under the supervisor (the session's servers given as URLs: no embedded ones)
    log_path = tmp_path / "run.log"
    # The server's `postgres` database: it always exists, and nothing here needs tables
    database_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    env = {**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with open(log_path, "wb") as log:
        run = subprocess.Popen([sys.executable, "scripts/run.py", "--no-prepare", "--port", str(free_port())],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log_path.read_text(errors="replace"):  # the Celery worker is up
            assert run.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        output = log_path.read_text()
        pids = {name: int(pid) for name, pid in re.findall(r"started (web|worker|beat) \(pid (\d+)\)", output)}

        # When the worker is killed
        os.kill(pids["worker"], signal.SIGKILL)
        code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)

    # Then the supervisor names it, says how it died, shows its last lines, stops the others and fails
    output = log_path.read_text()
    assert f"worker (pid {pids['worker']}) was killed by SIGKILL" in output
    assert "its last" in output and "lines of output" in output
    assert code != 0
    assert output.rstrip().endswith("stopped")
    for name in ("web", "beat"):
        with pytest.raises(ProcessLookupError):
            os.kill(pids[name], 0)
