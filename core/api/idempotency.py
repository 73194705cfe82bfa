"""`Idempotency-Key` for money-moving POSTs (SPEC §8).

The key is claimed first, inside the same transaction as the action and its stored answer: one
`INSERT … ON CONFLICT (user, key)`. A concurrent request with the same key waits on that insert until the first
commits, then finds the stored answer and replays it; if the first rolled back, the second claims and acts. So
one key gives one effect however many requests race, and a replay gets the same status and body.

A refusal (a 4xx raised by the action) rolls the whole transaction back, claim included, and is then stored in
one autocommit `INSERT … ON CONFLICT`: if another request with the key committed meanwhile, that first answer is
replayed instead. No savepoint is needed, and the answer a key keeps is always that of the one effect.

Views may give `checks`: the read-only refusals that need no lock (body, who asks, what is asked for), run before
any transaction; a refusal there costs one read and that one insert (the flash sale's sold-out buyers,
docs/perf.md). And `answer_now(request, response)` stores the answer inside the action, before its last
statement, so a purchase holds the campaign row only for the stock UPDATE and the COMMIT.
"""
import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.http.request import RawPostDataException
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from core.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False, pattern=r"^[\x20-\x7e]{1,255}$",
    description="Any unique string (≤ 255 printable ASCII characters, e.g. a UUID). A retry with the same key "
    "and body returns the first answer; the same key with another body is a 422. Keys expire after 24 hours.",
)

_TABLE = IdempotencyKey._meta.db_table
# The claim, or a refusal's answer: inserted, or an expired row of the key replaced; nothing (no row returned)
# when the key has a live row — which, if another transaction is writing it, this waits for.
_INSERT = (
    f"INSERT INTO {_TABLE} (user_id, key, fingerprint, status_code, response_body, created_at)"
    " VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (user_id, key) DO UPDATE SET"
    " fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,"
    f" response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at WHERE {_TABLE}.created_at < %s"
    " RETURNING id"
)
_ANSWER = f"UPDATE {_TABLE} SET status_code = %s, response_body = %s::jsonb WHERE id = %s"


class _Rollback(Exception):
    def __init__(self, response):
        self.response = response


class _Claim:
    """The key this request holds in its open transaction, and the answer already stored for it, if any."""

    def __init__(self, row_id: int):
        self.row_id = row_id
        self.answered = None


def _fingerprint(request) -> str:
    try:
        body = request.body or b""
    except RawPostDataException:  # a multipart body already streamed away (it is refused as a 415 anyway)
        body = b"<streamed>"
    try:
        canonical = json.dumps(json.loads(body or b"{}"), sort_keys=True, separators=(",", ":"), default=str)
    except (ValueError, RecursionError):
        canonical = body.hex()
    digest = hashlib.sha256()
    for part in (request.method, request.path, canonical):
        digest.update(str(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(32 <= ord(c) < 127 for c in key)


def _insert(request, key: str, fingerprint: str, response=None) -> int | None:
    """Claim the key (no answer yet) or store `response` as its answer; the row's id, or None when the key is
    already someone's answer (then read it with `_replay`)."""
    now = timezone.now()
    expired_before = now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    answer = (None, None) if response is None else (response.status_code, json.dumps(response.data))
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [request.user.pk, key, fingerprint, *answer, now, expired_before])
        row = cursor.fetchone()
    return row[0] if row else None


def _replay(request, key: str, fingerprint: str) -> Response:
    stored = IdempotencyKey.objects.get(user=request.user, key=key)
    if stored.fingerprint != fingerprint:
        return Response(
            {"detail": f"This {HEADER} was used with another request.", "code": "idempotency_key_reused"},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    replay = Response(stored.response_body, status=stored.status_code)
    replay["Idempotent-Replayed"] = "true"
    return replay


def _refusal_store(request, key: str, fingerprint: str, response) -> Response:
    """A refusal given outside any transaction (or after rolling it back): the key's first answer unless another
    request with the key has one already — then that one is the answer."""
    if response.status_code >= 500:  # nothing is stored: a retry acts again
        return response
    if _insert(request, key, fingerprint, response) is None:
        return _replay(request, key, fingerprint)
    return response


def answer_now(request, response) -> None:
    """Store `response` as the answer of this request's key now, in the action's transaction (so it commits or
    rolls back with the action); the key's wrapper then does not write it again. Without a key, nothing."""
    claim = getattr(request, "_idempotency_claim", None)
    if claim is None:
        return
    _answer(claim.row_id, response)
    claim.answered = response


def _answer(row_id: int, response) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_ANSWER, [response.status_code, json.dumps(response.data), row_id])


def idempotent(handler=None, *, checks=None):
    """Wrap an APIView's `post`: runs after authentication, permissions and throttles.

    `checks(view, request, *args, **kwargs)`, if given, runs first, outside any transaction, and only reads: it
    raises the refusals that need no lock, or returns what it read, which the handler gets as `checked`.
    """
    if handler is None:
        return functools.partial(idempotent, checks=checks)

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is not None and not _valid_key(key):
            return Response({"detail": f"{HEADER} must be 1–255 printable ASCII characters."},
                            status=status.HTTP_400_BAD_REQUEST)
        fingerprint = None if key is None else _fingerprint(request)
        if checks is not None:
            try:
                kwargs = {**kwargs, "checked": checks(view, request, *args, **kwargs)}
            except Exception as exc:
                if key is None:
                    raise
                return _refusal_store(request, key, fingerprint, view.handle_exception(exc))
        if key is None:
            return handler(view, request, *args, **kwargs)
        try:
            with transaction.atomic():
                row_id = _insert(request, key, fingerprint)
                if row_id is None:
                    return _replay(request, key, fingerprint)
                request._idempotency_claim = claim = _Claim(row_id)
                try:
                    response = handler(view, request, *args, **kwargs)
                except Exception as exc:  # a domain error is an answer too: stored once its effects are undone
                    raise _Rollback(view.handle_exception(exc))
                finally:
                    request._idempotency_claim = None
                if response.status_code >= 500:
                    raise _Rollback(response)
                if claim.answered is not response:
                    _answer(row_id, response)
                return response
        except _Rollback as rollback:
            return _refusal_store(request, key, fingerprint, rollback.response)
    return wrapper


def idempotency_keys_purge(*, now=None, batch_size: int = 5000) -> int:
    """Delete stored answers older than the key lifetime, in batches; returns how many were deleted."""
    expired_before = (now or timezone.now()) - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    deleted = 0
    while True:
        ids = list(IdempotencyKey.objects.filter(created_at__lt=expired_before).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
