"""`make run` as issue 21 asked: its start and stop messages name all four processes, it serves the product's own
error pages (DEBUG off) with its static files, and `manage.py reconcile` run beside it with no DATABASE_URL finds
its embedded servers; once it has stopped, manage.py no longer does."""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.scheduling.make_run import make_run_start, make_run_wait, without_servers

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("MAKE_RUN_PAGES_PORT", "8093"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_make_run_names_four_processes_serves_its_error_pages_and_lends_its_servers_to_manage_py(tmp_path):
    # Given `make run`'s supervisor started as the README says: no server URLs, so embedded servers
    env = {**without_servers(), "VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"}
    env.pop("DEBUG", None)
    log_path = tmp_path / "make-run.log"
    run = make_run_start(port=PORT, log_path=log_path, env=env)
    base = f"http://127.0.0.1:{PORT}"
    try:
        make_run_wait(run, base=base, log_path=log_path, timeout=300)
        output = log_path.read_text()

        # Then the start message names web, worker, payout worker and beat, each of which was started
        assert "Ctrl-C stops web, worker, payout worker and beat" in output
        assert set(re.findall(r"started (\w+) \(pid", output)) == {"web", "worker", "payouts", "beat"}

        # ... an unknown address is the product's 404 page in the visitor's language, not Django's debug page,
        # and the static files are still served
        for language, title in (("en", "Page not found"), ("zh-Hans", "页面不存在")):
            missing = requests.get(base + "/no/such/page/", headers={"Accept-Language": language}, timeout=10)
            assert missing.status_code == 404 and title in missing.text and "URLconf" not in missing.text
        assert requests.get(base + "/static/css/site.css", timeout=10).status_code == 200
        assert requests.get(base + "/static/admin/css/base.css", timeout=10).status_code == 200

        # When `manage.py reconcile` runs beside it in another terminal, with no DATABASE_URL
        beside = subprocess.run([sys.executable, "manage.py", "reconcile"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)

        # Then it uses the running demo's servers and the books reconcile
        assert beside.returncode == 0, beside.stdout + beside.stderr
        assert "using the servers of `make run`" in beside.stderr and "reconcile: OK" in beside.stdout
        urls = tmp_path / "var" / "embedded" / "run" / "urls.json"
        assert json.loads(urls.read_text())["pid"] == run.pid and oct(urls.stat().st_mode & 0o777) == "0o600"
    finally:
        # When Ctrl-C stops it
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise

    # Then the stop message names the four processes, the URLs are gone, and manage.py says what it needs again
    output = log_path.read_text()
    assert "stopping web, worker, payout worker and beat" in output and output.rstrip().endswith("stopped")
    assert not (tmp_path / "var" / "embedded" / "run" / "urls.json").exists()
    after = subprocess.run([sys.executable, "manage.py", "reconcile"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert after.returncode != 0 and "DATABASE_URL must be set" in after.stderr
