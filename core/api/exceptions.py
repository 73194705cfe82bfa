"""The ONE exception handler of the API: every error is a JSON body with a 4xx status.

Domain errors carry their own status and code; Django's ValidationError (password validators, model checks)
is a 400 naming the fields; input the database cannot hold is a 400; a database that cannot be reached (a
failover in progress, a pool restarting) is a 503 with Retry-After — the transaction rolled back, nothing moved,
and an Idempotency-Key stays free for the retry. Anything else is a bug: it is logged with its traceback and
answered with a JSON 500 (hiding a bug behind a 4xx would tell clients their input was wrong).
"""
import logging

from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError as DjangoValidationError,
)
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError

logger = logging.getLogger("allowance.api")


def django_validation_error_data(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"detail": " ".join(str(m) for m in exc.messages)}


DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = "2"


def api_exception_handler(exc, context):
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable, answered 503: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
        return Response({"detail": "The service could not reach its database just now. Nothing was changed: try "
                                   "again in a few seconds.", "code": "service_unavailable"},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
    if isinstance(exc, DomainError):
        if exc.field:
            return Response(exc.field_errors(), status=exc.status_code)
        return Response({"detail": str(exc), "code": exc.code, **exc.data}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response(django_validation_error_data(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ObjectDoesNotExist):
        exc = Http404()
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": "The request could not be read."}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (DataError, OverflowError)):
        return Response({"detail": "A value is out of range."}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        logger.warning("integrity error answered as a conflict: %s", exc)
        return Response({"detail": "The request conflicts with the current state.", "code": "conflict"},
                        status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    logger.exception("unexpected error in the API", exc_info=exc)
    return Response({"detail": "Something went wrong on our side.", "code": "server_error"},
                    status=status.HTTP_500_INTERNAL_SERVER_ERROR)
