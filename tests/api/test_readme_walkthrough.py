"""The README's curl walk-through, run as it is written against a live server after `seed_demo` — twice, so the
second run meets a database that has been used (issue 15: it must not assume fresh ids)."""
import re
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

README = Path(__file__).resolve().parents[2] / "README.md"


def _walkthrough(api: str) -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index("A walk-through against `python manage.py runserver`"):]
    script = re.search(r"```sh\n(.*?)```", after, re.S).group(1)
    assert script.startswith("API=http://127.0.0.1:8000/api/v1\n")
    return script.replace("API=http://127.0.0.1:8000/api/v1", f"API={api}", 1)


@pytest.mark.django_db(transaction=True)
def test_the_readme_walkthrough_runs_as_written_twice_on_one_database(live_server):
    call_command("seed_demo", force=True)  # the README runs it under local settings (DEBUG on)
    script = _walkthrough(f"{live_server.url}/api/v1")
    for run in (1, 2):
        # -e and pipefail: a failed curl or an answer `pick` cannot read stops the script with an error
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"run {run}:\n{done.stdout}\n{done.stderr[-3000:]}"
        printed = done.stdout.splitlines()
        # each run registered its own consumer, spent 10.00 as 8.00 + 2.00, withdrew the 72.00 the preview showed,
        # was held, and the merchant refunded it
        assert re.fullmatch(r"carol-[0-9a-f]{8}", printed[0]), printed
        assert "[('8.00', '2.00')]" in printed and "frozen" in printed, printed
        assert '"principal":"72.00","bonus_lapsed":"18.00","instant":false' in done.stderr
        assert any(line.startswith("refunded merchant {'amount': '72.00'") for line in printed), printed
