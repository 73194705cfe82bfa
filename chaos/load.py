"""A bounded, seeded load generator for the HTTP API: consumer threads and merchant threads on loopback.

Every call is recorded (operation, endpoint, status, latency). What the API must never do is counted as a
violation: a 5xx, an idempotent replay that answers differently from the first answer, bad input that is
accepted, or a request for someone else's object that is not a 404.
"""
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import requests

MONEY_TIMEOUT = 30


@dataclass
class Recorder:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_kind: dict = field(default_factory=lambda: defaultdict(Counter))  # kind → status → count
    latency: dict = field(default_factory=lambda: defaultdict(list))  # endpoint → [ms]
    violations: list = field(default_factory=list)
    done: int = 0

    def record(self, kind: str, endpoint: str, status, ms: float) -> None:
        with self.lock:
            self.by_kind[kind][status] += 1
            if isinstance(status, int):
                self.latency[endpoint].append(ms)

    def violation(self, what: str) -> None:
        with self.lock:
            self.violations.append(what)

    def count_5xx(self) -> int:
        return sum(n for statuses in self.by_kind.values() for s, n in statuses.items() if isinstance(s, int) and s >= 500)


class Api:
    """One thread's HTTP client. A dropped connection (a killed gunicorn worker) is retried only when the
    call carries an Idempotency-Key — exactly what the key is for; otherwise the outcome is recorded unknown."""

    def __init__(self, base_url: str, recorder: Recorder):
        self.base = base_url
        self.rec = recorder
        self.http = requests.Session()

    def call(self, kind, method, path, *, token=None, endpoint=None, body=None, raw=None, key=None,
             content_type="application/json", expect=None):
        endpoint = endpoint or f"{method} {path}"
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        if key:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        for attempt in range(4 if key else 1):
            started = time.perf_counter()
            try:
                response = self.http.request(method, self.base + path, data=data, headers=headers, timeout=MONEY_TIMEOUT)
            except requests.RequestException:
                self.rec.record(kind, endpoint, "conn_error", 0)
                time.sleep(0.2 * (attempt + 1))
                continue
            ms = (time.perf_counter() - started) * 1000
            self.rec.record(kind, endpoint, response.status_code, ms)
            if response.status_code >= 500:
                self.rec.violation(f"{response.status_code} {endpoint}: {response.text[:300]}")
            if expect and response.status_code not in expect and response.status_code < 500:
                self.rec.violation(f"{kind}: {endpoint} answered {response.status_code}, expected {sorted(expect)}: "
                                   f"{response.text[:200]}")
            try:
                payload = response.json()
            except ValueError:
                payload = None
            return response.status_code, payload
        return None, None


def as_list(payload):
    if isinstance(payload, dict) and "results" in payload:
        return payload["results"]
    return payload if isinstance(payload, list) else []


def yuan(fen: int, rng: random.Random):
    """The forms of a valid amount the API accepts: "12.34", "12.3", "12", 12 and 12.34."""
    form = rng.random()
    if fen % 100 == 0 and form < 0.3:
        return fen // 100 if form < 0.15 else str(fen // 100)
    if fen % 10 == 0 and form < 0.5:
        return f"{fen // 100}.{(fen % 100) // 10}"
    if form > 0.9:
        return round(fen / 100, 2)
    return f"{fen // 100}.{fen % 100:02d}"


BAD_AMOUNTS = ["abc", "1e3", "12.345", "-5.00", "0", "0.00", "NaN", "Infinity", "1000000.01", "", None, True,
               [1], {"a": 1}, "12,50", " ", "0x10", "+1", "1_000"]


@dataclass
class World:
    """What the seed created: ids and tokens."""
    consumers: list  # [(account_name, token)]
    staff: list  # [(store_id, token)]
    stores: list  # [store_id]
    campaigns: list  # [(campaign_id, store_id)]
    password: str


class ConsumerLoad:
    def __init__(self, api: Api, world: World, mine: list, rng: random.Random, ops: int, progress):
        self.api, self.world, self.mine, self.rng, self.ops, self.progress = api, world, mine, rng, ops, progress
        self.deadline = None  # time.monotonic() after which no new operation starts
        self.orders = defaultdict(list)  # token → [order id]
        self.wallets_seen = defaultdict(set)  # token → {wallet id}
        self.stores_held = defaultdict(set)  # token → {store id} where the consumer bought something
        self.campaign_store = dict(world.campaigns)

    def run(self) -> None:
        ops = [
            (self.buy, 17), (self.spend, 22), (self.order_return, 12), (self.withdraw, 13), (self.cancel, 8),
            (self.read, 10), (self.bad_input, 10), (self.someone_elses, 4), (self.key_reuse, 2), (self.login, 1),
        ]
        actions, weights = zip(*ops)
        for _ in range(self.ops):
            if self.deadline is not None and time.monotonic() > self.deadline:
                break  # a time-boxed run (the smoke profile): the load stops, the checks do not change
            name, token = self.rng.choice(self.mine)
            self.rng.choices(actions, weights)[0](name, token)
            self.progress()

    # --- money -------------------------------------------------------------------------------

    def buy(self, name, token):
        campaign_id, _ = self.rng.choice(self.world.campaigns)
        path = f"/api/v1/campaigns/{campaign_id}/purchase/"
        roll = self.rng.random()
        key = str(uuid.UUID(int=self.rng.getrandbits(128))) if roll < 0.35 else None
        status, body = self.api.call("buy", "POST", path, token=token, endpoint="POST /campaigns/ID/purchase/",
                                     key=key, body={}, expect={201, 409})
        if status == 201:
            self.wallets_seen[token].add(body["id"])
            self.stores_held[token].add(self.campaign_store[campaign_id])
        if key and roll < 0.15:
            self.replay("buy", path, "POST /campaigns/ID/purchase/", token, key, {}, status, body)
        elif roll > 0.9:  # a double click without a key: a second purchase or a clear refusal
            self.api.call("buy-duplicate", "POST", path, token=token, endpoint="POST /campaigns/ID/purchase/",
                          body={}, expect={201, 409})

    def spend(self, name, token):
        held = sorted(self.stores_held[token])
        store_id = self.rng.choice(held if held and self.rng.random() < 0.85 else self.world.stores)
        fen = self.rng.choice([self.rng.randint(1, 300), self.rng.randint(100, 4000), self.rng.randint(100, 4000),
                               self.rng.randint(4000, 25000)])
        order_ref = f"{name}-{self.rng.getrandbits(48):x}"
        request = {"store": store_id, "order_ref": order_ref, "amount": yuan(fen, self.rng)}
        roll = self.rng.random()
        key = str(uuid.UUID(int=self.rng.getrandbits(128))) if roll < 0.3 else None
        status, body = self.api.call("spend", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                                     key=key, body=request, expect={201, 409})
        if status == 201:
            self.orders[token].append(body["id"])
        if key and roll < 0.15:
            self.replay("spend", "/api/v1/orders/", "POST /orders/", token, key, request, status, body)
        elif status == 201 and roll > 0.93:  # the same order reference again, without a key: refused
            self.api.call("spend-duplicate", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                          body=request, expect={409})

    def order_return(self, name, token):
        if not self.orders[token]:
            return self.spend(name, token)
        order_id = self.rng.choice(self.orders[token])
        request = {} if self.rng.random() < 0.5 else {"amount": yuan(self.rng.randint(1, 3000), self.rng)}
        key = str(uuid.uuid4()) if self.rng.random() < 0.3 else None
        path = f"/api/v1/orders/{order_id}/return/"
        status, body = self.api.call("return", "POST", path, token=token, endpoint="POST /orders/ID/return/",
                                     key=key, body=request, expect={200, 409})
        if key and self.rng.random() < 0.5:
            self.replay("return", path, "POST /orders/ID/return/", token, key, request, status, body)

    def withdraw(self, name, token):
        _, wallets = self.api.call("read", "GET", "/api/v1/wallets/", token=token, endpoint="GET /wallets/", expect={200})
        candidates = [w for w in as_list(wallets) if w.get("status") == "active" and w.get("principal") != "0.00"]
        if not candidates:
            return self.buy(name, token)
        wallet = self.rng.choice(candidates)
        self.api.call("preview", "GET", f"/api/v1/wallets/{wallet['id']}/withdrawal-preview/", token=token,
                      endpoint="GET /wallets/ID/withdrawal-preview/", expect={200, 409})
        key = str(uuid.uuid4()) if self.rng.random() < 0.4 else None
        path = f"/api/v1/wallets/{wallet['id']}/withdrawals/"
        status, body = self.api.call("withdraw", "POST", path, token=token, endpoint="POST /wallets/ID/withdrawals/",
                                     key=key, body={}, expect={201, 409})
        if key and self.rng.random() < 0.4:
            self.replay("withdraw", path, "POST /wallets/ID/withdrawals/", token, key, {}, status, body)
        if status == 201 and body.get("status") == "pending" and self.rng.random() < 0.35:
            # Changing one's mind at once: races the merchant's refund, a retention message and the sweep.
            self.api.call("cancel", "POST", f"/api/v1/withdrawals/{body['id']}/cancel/", token=token,
                          endpoint="POST /withdrawals/ID/cancel/", body={}, expect={200, 409})
        elif self.rng.random() < 0.1:  # a second request for the same wallet without a key: one open at most
            self.api.call("withdraw-duplicate", "POST", path, token=token, endpoint="POST /wallets/ID/withdrawals/",
                          body={}, expect={409})

    def cancel(self, name, token):
        _, requests_ = self.api.call("read", "GET", "/api/v1/withdrawals/", token=token, endpoint="GET /withdrawals/",
                                     expect={200})
        pending = [r for r in as_list(requests_) if r.get("status") == "pending"]
        if not pending:
            return self.withdraw(name, token)
        request = self.rng.choice(pending)
        key = str(uuid.uuid4()) if self.rng.random() < 0.3 else None
        path = f"/api/v1/withdrawals/{request['id']}/cancel/"
        status, body = self.api.call("cancel", "POST", path, token=token, endpoint="POST /withdrawals/ID/cancel/",
                                     key=key, body={}, expect={200, 409})
        if key and self.rng.random() < 0.5:
            self.replay("cancel", path, "POST /withdrawals/ID/cancel/", token, key, {}, status, body)

    def replay(self, kind, path, endpoint, token, key, request, status, body):
        """The same key and body again (a client retry): the first answer, status and body."""
        if status is None:
            return
        again_status, again_body = self.api.call(f"{kind}-replay", "POST", path, token=token, endpoint=endpoint,
                                                 key=key, body=request)
        if again_status is not None and (again_status, again_body) != (status, body):
            self.api.rec.violation(f"replay of {endpoint} with key {key}: first {status} {body}, "
                                   f"then {again_status} {again_body}")

    def key_reuse(self, name, token):
        """The same key with another body is refused with 422 and does nothing."""
        key = str(uuid.uuid4())
        store_id = self.rng.choice(self.world.stores)
        first = {"store": store_id, "order_ref": f"{name}-k{self.rng.getrandbits(40):x}", "amount": "0.01"}
        status, body = self.api.call("spend", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                                     key=key, body=first, expect={201, 409})
        if status == 201:
            self.orders[token].append(body["id"])
        if status is not None:
            self.api.call("key-reuse", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/", key=key,
                          body={**first, "amount": "0.02"}, expect={422})

    # --- reads, bad input, other people's things -------------------------------------------

    def read(self, name, token):
        choice = self.rng.random()
        if choice < 0.4:
            _, wallets = self.api.call("read", "GET", "/api/v1/wallets/", token=token, endpoint="GET /wallets/", expect={200})
            for wallet in as_list(wallets)[:1]:
                self.wallets_seen[token].add(wallet["id"])
                self.api.call("read", "GET", f"/api/v1/wallets/{wallet['id']}/entries/", token=token,
                              endpoint="GET /wallets/ID/entries/", expect={200})
        elif choice < 0.7:
            store_id = self.rng.choice(self.world.stores)
            self.api.call("read", "GET", f"/api/v1/campaigns/?store={store_id}", token=token,
                          endpoint="GET /campaigns/", expect={200})
        else:
            self.api.call("read", "GET", "/api/v1/withdrawals/", token=token, endpoint="GET /withdrawals/", expect={200})

    def bad_input(self, name, token):
        roll = self.rng.random()
        store_id = self.rng.choice(self.world.stores)
        if roll < 0.45:
            amount = self.rng.choice(BAD_AMOUNTS)
            self.api.call("bad-input", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                          body={"store": store_id, "order_ref": f"bad-{uuid.uuid4().hex[:8]}", "amount": amount},
                          expect={400})
        elif roll < 0.55:
            self.api.call("bad-input", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                          raw='{"store": 1, "amount": "1.00", ', expect={400})
        elif roll < 0.65:
            self.api.call("bad-input", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                          body={"store": "x", "order_ref": "", "amount": "1.00"}, expect={400, 404})
        elif roll < 0.72:
            self.api.call("bad-input", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                          raw="store=1&amount=1", content_type="application/x-www-form-urlencoded", expect={400, 415})
        elif roll < 0.8:
            self.api.call("bad-input", "POST", "/api/v1/orders/", token=None, endpoint="POST /orders/",
                          body={"store": store_id, "order_ref": "anon", "amount": "1.00"}, expect={401, 403})
        elif roll < 0.88:
            self.api.call("bad-input", "POST", "/api/v1/orders/999999999/return/", token=token,
                          endpoint="POST /orders/ID/return/", body={}, expect={404})
        else:
            self.api.call("bad-input", "POST", "/api/v1/orders/", token=token, endpoint="POST /orders/",
                          key="é" * 3, body={"store": store_id, "order_ref": "k", "amount": "1.00"}, expect={400})

    def someone_elses(self, name, token):
        """Another consumer's wallet or order answers 404, like one that does not exist."""
        other_name, other_token = self.rng.choice(self.world.consumers)
        if other_token == token:
            return
        _, wallets = self.api.call("read", "GET", "/api/v1/wallets/", token=other_token, endpoint="GET /wallets/",
                                   expect={200})
        for wallet in as_list(wallets)[:1]:
            self.api.call("someone-elses", "GET", f"/api/v1/wallets/{wallet['id']}/", token=token,
                          endpoint="GET /wallets/ID/", expect={404})
            self.api.call("someone-elses", "POST", f"/api/v1/wallets/{wallet['id']}/withdrawals/", token=token,
                          endpoint="POST /wallets/ID/withdrawals/", body={}, expect={404})

    def login(self, name, token):
        """A real password check now and then; a wrong one is a 400 (far below the lockout)."""
        if self.rng.random() < 0.3:
            status, body = self.api.call("login", "POST", "/api/v1/auth/token/", endpoint="POST /auth/token/",
                                         body={"username": name.upper(), "password": self.world.password}, expect={200})
            if status == 200 and body.get("token") != token:
                self.api.rec.violation(f"login for {name} gave another token")
        else:
            self.api.call("login", "POST", "/api/v1/auth/token/", endpoint="POST /auth/token/",
                          body={"username": name, "password": "not the password"}, expect={400})


class MerchantLoad:
    """Store staff working their pending requests: refund now, or a retention message; searches and summaries.
    They race the consumers' cancels and the sweep for the same requests."""

    def __init__(self, api: Api, world: World, store_id: int, token: str, rng: random.Random, stop: threading.Event):
        self.api, self.world, self.store_id, self.token, self.rng, self.stop = api, world, store_id, token, rng, stop

    def run(self) -> None:
        while not self.stop.is_set():
            _, pending = self.api.call("merchant-read", "GET", "/api/v1/merchant/withdrawals/?status=pending",
                                       token=self.token, endpoint="GET /merchant/withdrawals/", expect={200})
            for request in as_list(pending)[: self.rng.randint(0, 3)]:
                roll = self.rng.random()
                if roll < 0.4:
                    key = str(uuid.uuid4()) if self.rng.random() < 0.5 else None
                    self.api.call("merchant-refund", "POST", f"/api/v1/merchant/withdrawals/{request['id']}/refund/",
                                  token=self.token, endpoint="POST /merchant/withdrawals/ID/refund/", key=key,
                                  body={}, expect={200, 409})
                elif roll < 0.8:
                    self.api.call("retention", "POST", f"/api/v1/merchant/withdrawals/{request['id']}/retention/",
                                  token=self.token, endpoint="POST /merchant/withdrawals/ID/retention/",
                                  body={"message": "Stay with us: 10% off your next order"}, expect={201, 409})
            roll = self.rng.random()
            if roll < 0.3:
                name, _ = self.rng.choice(self.world.consumers)
                self.api.call("merchant-read", "GET", f"/api/v1/merchant/users/?account_name={name.upper()}",
                              token=self.token, endpoint="GET /merchant/users/", expect={200})
            elif roll < 0.45:
                self.api.call("merchant-read", "GET", f"/api/v1/merchant/summary/?store={self.store_id}",
                              token=self.token, endpoint="GET /merchant/summary/", expect={200})
            elif roll < 0.5:
                self.api.call("bad-input", "POST", "/api/v1/merchant/withdrawals/999999999/refund/", token=self.token,
                              endpoint="POST /merchant/withdrawals/ID/refund/", body={}, expect={404})
            time.sleep(self.rng.uniform(0.05, 0.3))
