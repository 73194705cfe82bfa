"""`make prod-smoke`: what an operator deploys, run as the Dockerfile and docker-compose.yml say (issue 18).

No container engine is needed; each step is read from those files, so they and this run cannot drift:

1. a venv with `requirements.txt` only (cached outside the checkout by the file's hash; nothing else is ever
   installed into it), whose `bin` comes first on PATH, as the image's Python does;
2. the Dockerfile, instruction by instruction: its `ENV`s; `WORKDIR /app` is a fresh folder of this run (every
   `/app` in the files means it); `COPY` copies (`COPY . .` honours .dockerignore); every `RUN` is executed as
   written with `sh -c` in that folder — `pip install -r requirements.txt` into the venv, the build step
   (collectstatic, compilemessages) — except the two that change the machine (`apt-get`: its packages are
   checked to be installed instead; `useradd`: the run keeps its own user);
3. docker-compose.yml (PyYAML, anchors merged; `${VAR:-default}`, `${VAR:?message}` and `$$` interpolated from
   an operator's `.env`: SECRET_KEY, a short WITHDRAWAL_HOLD_SECONDS and sweep): migrate, then web, worker,
   payouts and beat with compose's commands and environment, production settings. Host names map to this
   machine: `postgres:5432/allowance` → the PostgreSQL server DATABASE_URL names (database `sa_prod_smoke`,
   dropped and created by the run), `redis:6379` → a redis-server of the run's own on --redis-port started with
   compose's redis command; the web port mapping `8000` → --web-port (`WEB_BIND`, read by config/gunicorn.py).
4. checks: compose's healthchecks as written (after the same mapping); a money flow over HTTP — buy, spend,
   an instant withdrawal, a held one refunded by the beat, a merchant's refund-now — until every payout has
   `succeeded`; a page login over plain HTTP; static files of the pages, the admin and the API docs (200,
   content type, hashed names, a year's cache); a bad Host answered 400 and logged in one line;
   `check --deploy` with TLS on; `reconcile`; every process alive at the end;
5. then, in their place, the Procfile's four lines (each through `sh -c`, as honcho does; web on $PORT =
   --procfile-web-port): web answers, `inspect ping` hears worker@host and payouts@host apart, an instant
   withdrawal is paid, all four alive.

Prints `RESULT: PASS` or `RESULT: FAIL` and exits non-zero on failure. Logs: artifacts/prod-smoke/.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # chaos.stack's helpers, when run as `python scripts/prod_smoke.py`
STARTED = time.monotonic()
APP_SERVICES = ["web", "worker", "payouts", "beat"]


def http_session() -> requests.Session:
    """Straight to the loopback: an HTTP(S)_PROXY in CI's environment must not carry these requests."""
    session = requests.Session()
    session.trust_env = False
    return session


HTTP = http_session()


class SmokeFailure(Exception):
    pass


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class Checks:
    def __init__(self):
        self.results: list[tuple[str, bool, str]] = []

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        shown = detail if not ok or len(detail) < 160 else ""  # a passing step's long output stays quiet
        say(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + shown if shown else ''}")
        return ok

    def require(self, name: str, ok: bool, detail: str = "") -> None:
        if not self.record(name, ok, detail):
            raise SmokeFailure(f"{name}: {detail}")

    @property
    def failed(self) -> list[str]:
        return [name for name, ok, _ in self.results if not ok]


# --- the Dockerfile ---------------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comment lines dropped (Docker's rules)."""
    instructions, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not current):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def env_pairs(arguments: str) -> dict:
    words = shlex.split(arguments)
    if words and "=" not in words[0]:  # the old `ENV key value` form
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def dockerignore_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatchcase(relative, pattern):
            return True
        if pattern.startswith("**/"):
            parts = relative.split("/")
            if any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern[3:]) for i in range(len(parts))):
                return True
    return False


def copy_context(source: str, target: Path) -> None:
    """`COPY source target` from the checkout (the build context), without what .dockerignore names."""
    patterns = dockerignore_patterns()
    if source != ".":
        shutil.copy2(ROOT / source, target / Path(source).name if target.is_dir() else target)
        return
    for folder, dirs, files in os.walk(ROOT):
        rel_folder = os.path.relpath(folder, ROOT)
        rel = (lambda name: name if rel_folder == "." else f"{rel_folder}/{name}")
        dirs[:] = [d for d in dirs if not ignored(rel(d), patterns)]
        (target / ("" if rel_folder == "." else rel_folder)).mkdir(parents=True, exist_ok=True)
        for name in files:
            if not ignored(rel(name), patterns):
                shutil.copy2(os.path.join(folder, name), target / rel(name), follow_symlinks=False)


def apt_packages_present(command: str) -> tuple[bool, str]:
    words = shlex.split(command.split("&&")[1]) if "&&" in command else []
    packages = [w for w in words if not w.startswith("-") and w not in {"apt-get", "install"}]
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    return not missing, f"apt-get step skipped; its packages {packages} are installed" if not missing else (
        f"missing system packages {missing} (apt-get install them)")


# --- docker-compose.yml ------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value, variables: dict):
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$."""
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(match):
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in variables and (variables[name] != "" or op in (None, "-", "?"))
        if op in (":?", "?") and not present:
            raise SmokeFailure(f"compose refuses to start: {name}: {arg}")
        if present:
            return variables[name]
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(one, value)


# --- processes ---------------------------------------------------------------------------------------------


class Process:
    def __init__(self, name: str, argv: list, env: dict, cwd: Path, log: Path):
        self.name, self.log = name, log
        out = open(log, "ab")
        self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        out.close()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:  # whatever is left of its session (pool children)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def resolve(argv: list, env: dict) -> list:
    """Run a compose command list as the image would: the program looked up on the container's PATH."""
    program = shutil.which(argv[0], path=env["PATH"]) or argv[0]
    return [program, *argv[1:]]


# --- the run -----------------------------------------------------------------------------------------------


class Smoke:
    def __init__(self, args):
        self.args = args
        self.checks = Checks()
        self.run_dir = Path(args.run_dir).resolve()
        self.app = self.run_dir / "app"  # the image's WORKDIR /app
        self.procs: dict[str, Process] = {}
        self.redis: Process | None = None
        self.base_url = f"http://127.0.0.1:{args.web_port}"
        admin = urlparse(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
        self.pg = {"host": admin.hostname or "127.0.0.1", "port": admin.port or 5432,
                   "user": admin.username or "postgres", "password": admin.password or ""}
        self.database_created = False
        # compose names no GATEWAY_DATABASE_URL, so the sandbox's books are `<name>_gateway` (config/settings/base.py)
        self.databases = [args.database, f"{args.database}_gateway"]

    # ---- paths and environment

    def map_text(self, text: str) -> str:
        """Compose/Dockerfile text → this machine: /app → the run's app folder, the web port → --web-port."""
        text = text.replace("127.0.0.1:8000", f"127.0.0.1:{self.args.web_port}")
        return re.sub(r"(?<![\w.])/app(?=/|'|\"|$|\s)", str(self.app), text)

    def venv(self) -> Path:
        requirements = (ROOT / "requirements.txt").read_bytes()
        python = getattr(sys, "_base_executable", sys.executable)
        key = hashlib.sha256(requirements + python.encode() + sys.version.encode()).hexdigest()[:16]
        cache = Path(self.args.venv_cache) / f"prod-venv-{key}"
        if not (cache / ".complete").exists():
            shutil.rmtree(cache, ignore_errors=True)
            say(f"a fresh venv for requirements.txt alone: {cache}")
            subprocess.run([python, "-m", "venv", str(cache)], check=True)
        return cache

    def image_env(self, venv: Path) -> dict:
        return {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.run_dir / "home"),
                "LANG": "C.UTF-8", "HOSTNAME": socket.gethostname(), "VIRTUAL_ENV": str(venv)}

    # ---- 1–2. the image

    def build(self) -> dict:
        venv = self.venv()
        env = self.image_env(venv)
        (self.run_dir / "home").mkdir(parents=True, exist_ok=True)
        instructions = dockerfile_instructions((ROOT / "Dockerfile").read_text())
        self.cmd = None
        for word, arguments in instructions:
            if word == "ENV":
                env.update({k: self.map_text(v) for k, v in env_pairs(arguments).items()})
            elif word == "WORKDIR":
                self.checks.require("Dockerfile WORKDIR is /app", arguments == "/app", arguments)
                self.app.mkdir(parents=True, exist_ok=True)
            elif word == "COPY":
                source, target = shlex.split(arguments)
                copy_context(source, self.app if target in (".", "./") else self.app / target)
            elif word == "RUN":
                if arguments.startswith("apt-get"):
                    self.checks.require("Dockerfile RUN apt-get (system packages)", *apt_packages_present(arguments))
                elif arguments.startswith("useradd"):
                    self.checks.record("Dockerfile RUN useradd … skipped (the run keeps its own user)", True)
                    (self.app / "var").mkdir(exist_ok=True)
                else:
                    say(f"RUN {arguments[:110]}{'…' if len(arguments) > 110 else ''}")
                    result = subprocess.run(["sh", "-c", self.map_text(arguments)], cwd=self.app, env=env,
                                            capture_output=True, text=True, timeout=600)
                    self.checks.require(f"Dockerfile RUN {arguments[:50]}…",
                                        result.returncode == 0,
                                        f"exit {result.returncode}\n{(result.stdout + result.stderr)[-3000:]}")
                    if "pip install" in arguments:  # the venv now holds requirements.txt: reusable next time
                        (venv / ".complete").touch()
            elif word == "CMD":
                self.cmd = json.loads(arguments)
        check = subprocess.run([f"{venv}/bin/pip", "check"], capture_output=True, text=True, env=env)
        self.checks.require("pip check: requirements.txt's packages are consistent", check.returncode == 0,
                            check.stdout + check.stderr)
        return env

    # ---- 3. compose

    def operator_variables(self) -> dict:
        """What an operator's .env holds for this run."""
        return {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "WITHDRAWAL_HOLD_SECONDS": str(self.args.hold_seconds), "SWEEP_INTERVAL_SECONDS": "1",
                "NOTIFY_INTERVAL_SECONDS": "2", "WEB_CONCURRENCY": str(self.args.web_workers),
                "PAYOUT_CONCURRENCY": "8"}

    def map_url(self, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme.startswith("postgres"):
            auth = self.pg["user"] + (f":{self.pg['password']}" if self.pg["password"] else "")
            return urlunparse(parsed._replace(netloc=f"{auth}@{self.pg['host']}:{self.pg['port']}",
                                              path=f"/{self.args.database}"))
        if parsed.scheme.startswith("redis"):
            return urlunparse(parsed._replace(netloc=f"127.0.0.1:{self.args.redis_port}"))
        return url

    def compose(self, image_env: dict) -> dict:
        raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        variables = self.operator_variables()
        try:
            interpolate(raw["services"]["web"]["environment"], {k: v for k, v in variables.items()
                                                                if k != "SECRET_KEY"})
            self.checks.record("compose refuses to start without SECRET_KEY", False, "it started with a default")
        except SmokeFailure as refused:
            self.checks.record("compose refuses to start without SECRET_KEY", True, str(refused))
        services = interpolate(raw["services"], variables)
        self.services = services
        envs = {}
        for name in ["migrate", *APP_SERVICES]:
            env = dict(image_env)
            for key, value in services[name]["environment"].items():
                env[key] = self.map_url(str(value)) if key.endswith("_URL") else self.map_text(str(value))
            env["WEB_BIND"] = f"127.0.0.1:{self.args.web_port}"  # compose's "8000" port mapping
            envs[name] = env
        self.checks.require("Dockerfile CMD is compose's web command", self.cmd == services["web"]["command"],
                            f"CMD {self.cmd} vs web {services['web']['command']}")
        say(f"compose → DATABASE_URL={envs['web']['DATABASE_URL']} CELERY_BROKER_URL={envs['web']['CELERY_BROKER_URL']}"
            f" REDIS_URL={envs['web']['REDIS_URL']} settings={envs['web']['DJANGO_SETTINGS_MODULE']}")
        return envs

    def servers(self) -> None:
        import psycopg2

        from chaos.stack import port_free, redis_server_binary

        for port in (self.args.web_port, self.args.redis_port):
            self.checks.require(f"port {port} is free", port_free(port), "" if port_free(port) else "another run up?")
        command = self.services["redis"]["command"]
        (self.run_dir / "redis").mkdir(exist_ok=True)
        self.redis = Process("redis", [redis_server_binary(), *command[1:], "--port", str(self.args.redis_port),
                                       "--bind", "127.0.0.1", "--dir", str(self.run_dir / "redis")],
                             os.environ.copy(), self.run_dir, self.run_dir / "redis.log")
        admin = psycopg2.connect(dbname="postgres", **self.pg)
        admin.autocommit = True
        with admin.cursor() as cur:
            # The money database and the sandbox gateway's books beside it (`<name>_gateway`, created by
            # migrate): both fresh, or the gateway's books from an earlier run are payouts reconcile cannot place.
            for name in self.databases:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{self.args.database}"')
        admin.close()
        self.database_created = True
        deadline = time.monotonic() + 20
        import redis as redis_client

        while True:
            try:
                if redis_client.Redis(port=self.args.redis_port, socket_timeout=1).ping():
                    break
            except redis_client.RedisError:
                pass
            if time.monotonic() > deadline or not self.redis.alive():
                raise SmokeFailure(f"redis-server did not start:\n{self.redis.tail()}")
            time.sleep(0.1)

    def start(self, envs: dict) -> None:
        migrate = subprocess.run(resolve(self.services["migrate"]["command"], envs["migrate"]), cwd=self.app,
                                 env=envs["migrate"], capture_output=True, text=True, timeout=300)
        self.checks.require("compose migrate", migrate.returncode == 0, (migrate.stdout + migrate.stderr)[-3000:])
        for name in APP_SERVICES:
            argv = resolve([self.map_text(word) for word in self.services[name]["command"]], envs[name])
            self.procs[name] = Process(name, argv, envs[name], self.app, self.run_dir / f"{name}.log")
            say(f"started {name} (pid {self.procs[name].popen.pid}): {' '.join(self.services[name]['command'])}")

    def wait_until(self, what: str, check, timeout: float, every: float = 0.5, watch: list | None = None):
        """Until check() is true; a death among the `watch`ed processes (all by default) ends the wait at once."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            dead = {n: p.popen.returncode for n, p in self.procs.items()
                    if (watch is None or n in watch) and not p.alive()}
            if dead:
                name = next(iter(dead))
                raise SmokeFailure(f"{name} died (exit {dead[name]}) while waiting for {what}; its last lines:\n"
                                   f"{self.procs[name].tail()}")
            try:
                last = check()
                if last:
                    return last
            except Exception as error:  # noqa: BLE001 — not yet
                last = error
            time.sleep(every)
        raise SmokeFailure(f"{what}: not within {timeout:.0f}s (last: {last!r})")

    def healthchecks(self, envs: dict, when: str) -> None:
        for name in APP_SERVICES:
            test = self.services[name]["healthcheck"]["test"]
            if test[0] == "CMD":
                argv = resolve([self.map_text(w) for w in test[1:]], envs[name])
            else:
                argv = ["sh", "-c", self.map_text(test[1])]

            def healthy():
                result = subprocess.run(argv, cwd=self.app, env=envs[name], capture_output=True, text=True, timeout=30)
                healthy.output = (result.stdout + result.stderr).strip()[-500:]
                return result.returncode == 0
            healthy.output = ""
            try:
                self.wait_until(f"{name}'s healthcheck", healthy, timeout=60, every=2, watch=[name])
                self.checks.record(f"compose healthcheck of {name} ({when})", True)
            except SmokeFailure as failure:
                self.checks.record(f"compose healthcheck of {name} ({when})", False, f"{failure} {healthy.output}")

    # ---- 4. the product over HTTP

    def consumer(self, http, base_url: str, tag: str) -> dict:
        """A new consumer, registered over the API; their token's header."""
        name, password = f"smoke-{tag}-{uuid.uuid4().hex[:8]}", f"plum-tree-{uuid.uuid4().hex[:8]}-lantern"
        answer = http.post(f"{base_url}/api/v1/consumers/register/", json={"account_name": name, "password": password},
                           timeout=30)
        self.checks.require(f"register {tag}", answer.status_code == 201, answer.text[:300])
        token = http.post(f"{base_url}/api/v1/auth/token/", json={"username": name, "password": password}, timeout=30)
        return {"Authorization": f"Token {token.json()['token']}"}

    def post(self, http, url: str, headers: dict, expect: int, what: str, **kwargs) -> dict:
        answer = http.post(url, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, timeout=30, **kwargs)
        self.checks.require(what, answer.status_code == expect, f"{answer.status_code} {answer.text[:300]}")
        return answer.json()

    def demo_campaign(self, http, base_url: str, auth: dict) -> tuple[int, int]:
        api = base_url + "/api/v1"
        store = [s["id"] for s in http.get(f"{api}/stores/", headers=auth, timeout=30).json()
                 if s["name"] == "Demo Store"][0]
        campaign = [c["id"] for c in http.get(f"{api}/campaigns/?store={store}", headers=auth, timeout=30).json()
                    if c["name"] == "pay 80 get 100"][0]
        return store, campaign

    def payouts(self, request_ids: list) -> tuple[dict, dict]:
        """(request id → (status, resolution)) for these requests, and every refund's payout status → count."""
        import psycopg2

        with psycopg2.connect(dbname=self.args.database, **self.pg) as conn, conn.cursor() as cur:
            cur.execute("SELECT id, status, resolution FROM refunds_withdrawalrequest WHERE id = ANY(%s)",
                        [list(request_ids)])
            rows = {row[0]: row[1:] for row in cur.fetchall()}
            cur.execute("SELECT payout_status, count(*) FROM refunds_refund GROUP BY 1")
            payouts = dict(cur.fetchall())
        conn.close()
        return rows, payouts

    def money_flow(self) -> None:
        http = http_session()
        api = self.base_url + "/api/v1"
        run = uuid.uuid4().hex[:8]
        post = (lambda *args, **kwargs: self.post(http, *args, **kwargs))

        merchant_token = http.post(f"{api}/auth/token/", json={"username": "merchant", "password": "merchant"}, timeout=30)
        merchant = {"Authorization": f"Token {merchant_token.json()['token']}"}
        instant, held, refund_now = (self.consumer(http, self.base_url, tag) for tag in ("instant", "held", "refund-now"))
        store, campaign = self.demo_campaign(http, self.base_url, instant)
        requests_made = {}
        for tag, auth in {"instant": instant, "held": held, "refund-now": refund_now}.items():
            wallet = post(f"{api}/campaigns/{campaign}/purchase/", auth, 201, f"buy ({tag})")
            if tag != "instant":
                post(f"{api}/orders/", auth, 201, f"spend 10.00 ({tag})",
                     json={"store": store, "order_ref": f"{tag}-{run}", "amount": "10.00"})
            request = post(f"{api}/wallets/{wallet['id']}/withdrawals/", auth, 201, f"withdraw ({tag})")
            requests_made[tag] = request["id"]
            if tag == "instant":
                self.checks.require("an unspent allowance is refunded at once",
                                    (request["status"], request["resolution"]) == ("refunded", "instant"), str(request))
            else:
                self.checks.require(f"a spent allowance's withdrawal is held ({tag})", request["status"] == "pending",
                                    str(request))
            if tag == "refund-now":
                done = post(f"{api}/merchant/withdrawals/{request['id']}/refund/", merchant, 200, "merchant refund now")
                self.checks.require("refunded by the merchant", done["resolution"] == "merchant", str(done))

        def settled():
            rows, payouts = settled.state = self.payouts(list(requests_made.values()))
            return rows.get(requests_made["held"]) == ("refunded", "auto") and set(payouts) == {"succeeded"} \
                and payouts["succeeded"] == 3
        settled.state = None
        try:
            self.wait_until("the held request refunded by the beat and every payout succeeded", settled, timeout=60)
            self.checks.record("held request refunded by the beat (auto); 3 payouts succeeded", True,
                               str(settled.state[1]))
        except SmokeFailure as failure:
            self.checks.record("held request refunded by the beat; every payout succeeded", False,
                               f"{failure}; state {settled.state}")

    def page_login(self) -> None:
        page = http_session()
        form = page.get(self.base_url + "/accounts/login/", timeout=30)
        token = page.cookies.get("csrftoken")
        answer = page.post(self.base_url + "/accounts/login/", timeout=30, data={
            "username": "alice", "password": "alice", "csrfmiddlewaretoken": token})
        mine = page.get(self.base_url + "/me/allowance/", timeout=30, allow_redirects=False)
        self.checks.record("a page login over plain HTTP (compose's SECURE_SSL_REDIRECT=0) keeps its session",
                           form.status_code == 200 and answer.status_code in (200, 302) and mine.status_code == 200,
                           f"login form {form.status_code}, login {answer.status_code}, /me/allowance/ {mine.status_code}")

    def static_files(self) -> None:
        types = {".css": ("text/css",), ".js": ("text/javascript", "application/javascript"),
                 ".png": ("image/png",), ".svg": ("image/svg+xml",), ".ico": ("image/x-icon", "image/vnd.microsoft.icon")}
        for page in ["/", "/admin/login/", "/api/docs/"]:
            answer = HTTP.get(self.base_url + page, timeout=30)
            urls = sorted(set(re.findall(r'(?:href|src)="(/static/[^"?#]+)', answer.text)))
            ok = answer.status_code == 200 and bool(urls)
            problems = [] if ok else [f"{page} answered {answer.status_code} with {len(urls)} static files"]
            for url in urls:
                file = HTTP.get(self.base_url + url, timeout=30, headers={"Accept-Encoding": "gzip"})
                kind = file.headers.get("Content-Type", "").split(";")[0]
                cache = file.headers.get("Cache-Control", "")
                age = int(re.search(r"max-age=(\d+)", cache).group(1)) if "max-age=" in cache else 0
                if file.status_code != 200 or kind not in types.get(Path(url).suffix, (kind,)):
                    problems.append(f"{url}: {file.status_code} {kind}")
                if not re.search(r"\.[0-9a-f]{12}\.\w+$", url) or age < 31536000:
                    problems.append(f"{url}: not hashed or cached {cache!r}")
            self.checks.record(f"static files of {page}: {len(urls)} answer 200 with their type, hashed, cached a year",
                               not problems, "; ".join(problems[:5]))
        docs = HTTP.get(self.base_url + "/api/docs/", timeout=30)
        script_src = docs.headers.get("Content-Security-Policy", "").split("script-src")[1].split(";")[0]
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", docs.text)
        self.checks.record("/api/docs/: no inline script and a CSP without 'unsafe-inline' scripts",
                           "unsafe-inline" not in script_src and not inline, f"script-src{script_src}; inline {inline}")

    def bad_host(self) -> None:
        answer = HTTP.get(self.base_url + "/", headers={"Host": "evil.example.com"}, timeout=30)
        health = HTTP.get(self.base_url + "/healthz", headers={"Host": "evil.example.com"}, timeout=30,
                              allow_redirects=False)
        self.checks.record("a bad Host is a 400; /healthz answers 200 whatever the Host",
                           answer.status_code == 400 and health.status_code == 200,
                           f"{answer.status_code}, /healthz {health.status_code}")

    def procfile(self, env: dict) -> None:
        """The Procfile's processes, each line run by a shell as honcho/foreman do, with the production
        environment and $PORT: web answers, both workers answer `inspect ping` under their own node names,
        an instant withdrawal is paid, and all four are alive at the end."""
        lines = (ROOT / "Procfile").read_text().splitlines()
        commands = dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))
        env = {**env, "PORT": str(self.args.procfile_web_port)}
        env.pop("WEB_BIND", None)
        for name, command in commands.items():
            self.procs[name] = Process(name, ["sh", "-c", f"exec {command.strip()}"], env, self.app,
                                       self.run_dir / f"procfile-{name}.log")
        base_url = f"http://127.0.0.1:{self.args.procfile_web_port}"
        self.wait_until("the Procfile's web", lambda: HTTP.get(base_url + "/healthz", timeout=2).status_code == 200,
                        timeout=90)
        host = socket.gethostname()

        def both_nodes():
            argv = resolve(["celery", "-A", "config", "inspect", "ping", "--timeout", "5"], env)
            ping = subprocess.run(argv, cwd=self.app, env=env, capture_output=True, text=True, timeout=60)
            both_nodes.output = ping.stdout + ping.stderr
            return f"worker@{host}: OK" in ping.stdout and f"payouts@{host}: OK" in ping.stdout
        both_nodes.output = ""
        try:
            self.wait_until("both Procfile workers answering", both_nodes, timeout=60, every=1)
            self.checks.record(f"Procfile: worker@{host} and payouts@{host} answer inspect ping", True)
        except SmokeFailure as failure:
            self.checks.record("Procfile: both workers answer under their own node names", False,
                               f"{failure}\n{both_nodes.output[-1500:]}")
        http = http_session()
        auth = self.consumer(http, base_url, "procfile")
        _, campaign = self.demo_campaign(http, base_url, auth)
        wallet = self.post(http, f"{base_url}/api/v1/campaigns/{campaign}/purchase/", auth, 201, "buy (Procfile)")
        request = self.post(http, f"{base_url}/api/v1/wallets/{wallet['id']}/withdrawals/", auth, 201,
                            "withdraw (Procfile)")
        try:
            self.wait_until("the Procfile's payout", lambda: self.payouts([])[1] == {"succeeded": 4}, timeout=60)
            self.checks.record("Procfile: its instant withdrawal is paid (4 payouts succeeded)", True)
        except SmokeFailure as failure:
            self.checks.record("Procfile: its instant withdrawal is paid", False, f"{failure} {request}")
        dead = {n: (p.popen.returncode, p.tail()) for n, p in self.procs.items() if not p.alive()}
        self.checks.record("Procfile: web, worker, payouts and beat alive", not dead, str(dead)[:2000])

    def manage(self, env: dict, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["python", "manage.py", *args], cwd=self.app, env=env, capture_output=True, text=True,
                              timeout=120)

    # ---- the whole run

    def run(self) -> int:
        envs = {}
        try:
            if self.run_dir.exists():
                shutil.rmtree(self.run_dir)
            self.run_dir.mkdir(parents=True)
            say(f"prod smoke: logs under {self.run_dir}")
            image_env = self.build()
            envs = self.compose(image_env)
            self.servers()
            self.start(envs)
            self.wait_until("web's /healthz", lambda: HTTP.get(self.base_url + "/healthz", timeout=2).status_code
                            == 200, timeout=90)
            self.checks.record("web answers /healthz", True)
            self.healthchecks(envs, "at start")
            seed = self.manage(envs["web"], "seed_demo", "--force")
            self.checks.require("seed_demo --force (the README's compose trial step)", seed.returncode == 0,
                                seed.stderr[-2000:])
            self.money_flow()
            self.page_login()
            self.static_files()
            self.bad_host()
            deploy = self.manage({**envs["web"], "SECURE_SSL_REDIRECT": "1"}, "check", "--deploy",
                                 "--fail-level", "WARNING")
            self.checks.record("check --deploy (compose's environment, TLS on) finds no issue", deploy.returncode == 0,
                               (deploy.stdout + deploy.stderr)[-2000:])
            reconcile = self.manage(envs["web"], "reconcile")
            self.checks.record("reconcile", reconcile.returncode == 0, (reconcile.stdout + reconcile.stderr)[-1000:])
            self.healthchecks(envs, "at the end")
            dead = {n: (p.popen.returncode, p.tail()) for n, p in self.procs.items() if not p.alive()}
            self.checks.record("web, worker, payouts and beat all alive at the end", not dead, str(dead)[:2000])
            web_log = self.procs["web"].log.read_text(errors="replace")
            # With a traceback, its last line ("django.core.exceptions.DisallowedHost: Invalid HTTP_HOST …")
            # would be a second line naming the header.
            lines = [line for line in web_log.splitlines() if "Invalid HTTP_HOST header" in line]
            self.checks.record("the bad Host is logged in one line, no traceback",
                               len(lines) == 1 and "DisallowedHost" not in web_log, "\n".join(lines[:3]))
            # Then the Procfile's processes in their place (the same node names on this host must not overlap).
            for proc in self.procs.values():
                proc.stop()
            self.procs = {}
            self.procfile(envs["web"])
        except SmokeFailure as failure:
            say(f"stopped early: {failure}")
            if not self.checks.failed:
                self.checks.record("run", False, str(failure))
        except Exception as error:  # noqa: BLE001 — any surprise is a failure, reported, with cleanup
            self.checks.record("run", False, f"{type(error).__name__}: {error}")
        finally:
            self.stop()
        failed = self.checks.failed
        for name in failed:
            proc = self.procs.get(name.split()[-1])
            if proc is not None:
                print(f"--- {proc.name}'s last lines ---\n{proc.tail()}")
        print(f"RESULT: {'FAIL' if failed else 'PASS'} — {len(self.checks.results) - len(failed)} checks passed, "
              f"{len(failed)} failed{': ' + '; '.join(failed) if failed else ''} "
              f"({time.monotonic() - STARTED:.0f} s; logs {self.run_dir})", flush=True)
        return 1 if failed else 0

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.database_created:
            import psycopg2

            admin = psycopg2.connect(dbname="postgres", **self.pg)
            admin.autocommit = True
            with admin.cursor() as cur:
                for name in self.databases:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("PROD_SMOKE_WEB_PORT", 8061)))
    parser.add_argument("--procfile-web-port", type=int, default=int(os.environ.get("PROD_SMOKE_PROCFILE_PORT", 8062)))
    parser.add_argument("--redis-port", type=int, default=int(os.environ.get("PROD_SMOKE_REDIS_PORT", 6381)))
    parser.add_argument("--database", default="sa_prod_smoke")
    parser.add_argument("--hold-seconds", type=int, default=5)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--run-dir", default=str(ROOT / "artifacts" / "prod-smoke"))
    parser.add_argument("--venv-cache", default=os.environ.get(
        "PROD_SMOKE_VENV_CACHE", str(Path.home() / ".cache" / "store-allowance")))
    return Smoke(parser.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
