"""`Idempotency-Key` for money-moving POSTs (SPEC §8).

The key row is inserted first, inside the same transaction as the action and its stored answer. A concurrent
request with the same key blocks on the unique (user, key) insert until the first commits, then finds the
stored answer and replays it; if the first rolled back, the second inserts and acts. So one key gives one
effect however many requests race, and a replay gets the same status and body.
"""
import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
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


class _Rollback(Exception):
    def __init__(self, response):
        self.response = response


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


def idempotent(handler):
    """Wrap an APIView's `post`: runs after authentication, permissions and throttles."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not _valid_key(key):
            return Response({"detail": f"{HEADER} must be 1–255 printable ASCII characters."},
                            status=status.HTTP_400_BAD_REQUEST)
        fingerprint = _fingerprint(request)
        expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
        try:
            with transaction.atomic():
                IdempotencyKey.objects.filter(user=request.user, key=key, created_at__lt=expired_before).delete()
                try:
                    with transaction.atomic():
                        row = IdempotencyKey.objects.create(user=request.user, key=key, fingerprint=fingerprint)
                except IntegrityError:
                    row = None
                if row is None:
                    stored = IdempotencyKey.objects.get(user=request.user, key=key)
                    if stored.fingerprint != fingerprint:
                        return Response(
                            {"detail": f"This {HEADER} was used with another request.", "code": "idempotency_key_reused"},
                            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                        )
                    replay = Response(stored.response_body, status=stored.status_code)
                    replay["Idempotent-Replayed"] = "true"
                    return replay
                try:
                    with transaction.atomic():  # a failed action rolls back to here; the key row stays usable
                        response = handler(view, request, *args, **kwargs)
                except Exception as exc:  # a domain error is an answer too: store it like any other
                    response = view.handle_exception(exc)
                if response.status_code >= 500:
                    raise _Rollback(response)
                row.status_code = response.status_code
                row.response_body = response.data
                row.save(update_fields=["status_code", "response_body"])
                return response
        except _Rollback as rollback:
            return rollback.response
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
