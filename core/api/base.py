"""Cross-cutting pieces every API view uses: the strict JSON parser, strict serializers, throttles,
limit/offset lists and scoped object look-ups."""
import hashlib

from django.core.validators import RegexValidator
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from django.contrib.auth import get_user_model
from django.db import connections, router
from rest_framework import authentication, exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from core.api.parsers import StrictJSONParser
from config.cache import window_hit
from core.ids import MAX_ID


# Text that is more than blanks, without NUL (which no database column can hold).
TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


def text_validators():
    return [RegexValidator(TEXT_PATTERN, _("Enter some text (not only blanks)."))]


class StrictSerializer(serializers.Serializer):
    """Input serializer that rejects fields it does not know (a typo must not be silently ignored)."""

    default_error_messages = {"unknown": _("Unknown field.")}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(k)[:100] for k in data if k not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown[:20]})
        return super().to_internal_value(data)


class EmptyBodySerializer(StrictSerializer):
    """For POSTs that take no body: nothing, or `{}`."""


class LoginThrottle(SimpleRateThrottle):
    """Password guessing: limited per account name and, separately, per client address."""

    scope = "login"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.now = self.timer()
        self._wait = None
        counted = []
        for key in self._keys(request):
            history = [t for t in self.cache.get(key, []) if t > self.now - self.duration]
            if len(history) >= self.num_requests:
                self._wait = max(self._wait or 0, self.duration - (self.now - history[-1]))
            counted.append((key, history))
        if self._wait is not None:
            return False
        for key, history in counted:
            self.cache.set(key, [self.now, *history], self.duration)
        return True

    def wait(self):
        return self._wait

    def _keys(self, request):
        keys = [self.cache_format % {"scope": "login-ip", "ident": self.get_ident(request)}]
        try:
            name = request.data.get("username") or request.data.get("account_name") if isinstance(request.data, dict) else None
        except Exception:  # an unreadable body is answered by the view; it still counts for the address
            name = None
        if isinstance(name, str) and name.strip():
            # Hashed: any account name, however long or odd, makes a short, fixed-size cache key.
            ident = hashlib.sha256(name.strip().casefold().encode("utf-8", "replace")).hexdigest()
            keys.append(self.cache_format % {"scope": "login-name", "ident": ident})
        return keys

    def get_cache_key(self, request, view):  # not used: allow_request checks several keys
        return None


class MoneyThrottle(UserRateThrottle):
    """Money-moving POSTs, per user: at most `num_requests` in a window that starts with the first of them.

    One atomic counter (`window_hit`, one Redis round trip) instead of DRF's read-then-write of a list of
    timestamps, which costs two round trips and which concurrent requests can slip through together.
    """

    scope = "money"

    def allow_request(self, request, view):
        if request.method != "POST" or self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        hits, self._wait = window_hit(self.cache, key, self.duration)
        return hits <= self.num_requests

    def wait(self):
        return self._wait


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, its answers and checks unchanged, with the token and its user read by
    one hand-written statement (the same join DRF's `select_related("user").get(key=…)` sends) instead of a
    query the ORM compiles on every request: that compilation was about a third of the CPU of a trivial API
    request (docs/perf.md). The user and the token are model instances as the ORM would give them."""

    _statements: dict = {}

    def _statement(self, token_model, user_model):
        key = (token_model, user_model)
        if key not in self._statements:
            names = [f.attname for f in user_model._meta.concrete_fields]
            columns = ", ".join(f'u."{f.column}"' for f in user_model._meta.concrete_fields)
            sql = (f'SELECT t."created", {columns} FROM "{token_model._meta.db_table}" t'
                   f' JOIN "{user_model._meta.db_table}" u ON u."{user_model._meta.pk.column}" = t."user_id"'
                   ' WHERE t."key" = %s')
            self._statements[key] = (sql, names)
        return self._statements[key]

    def authenticate_credentials(self, key):
        token_model, user_model = self.get_model(), get_user_model()
        sql, names = self._statement(token_model, user_model)
        alias = router.db_for_read(token_model)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = user_model.from_db(alias, names, row[1:])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = token_model.from_db(alias, ["key", "user_id", "created"], [key, user.pk, row[0]])
        token.user = user
        return (user, token)


class ApiView(APIView):
    """Base of every API view: token first (so a missing credential is a 401 with WWW-Authenticate),
    then session (CSRF enforced for writes); JSON only."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]


class PublicApiView(ApiView):
    permission_classes = [AllowAny]


class MoneyApiView(ApiView):
    throttle_classes = [MoneyThrottle]


# --- lists ---------------------------------------------------------------------------------


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100,
                                     help_text="At most this many (default 100, at most 1000).")
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0, help_text="Skip this many.")


PAGE_PARAMETERS = [PageSerializer]
TOTAL_COUNT_HEADER = {"X-Total-Count": {"description": "How many there are in all.", "schema": {"type": "integer"}}}


def query_params(serializer_class, request) -> dict:
    # A plain dict, not the QueryDict: an empty value ("?store=") is then an error, not "not given".
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def paged_response(request, queryset, serializer_class, **context) -> Response:
    """A plain JSON array of one page, with the full count in X-Total-Count."""
    page = query_params(PageSerializer, request)
    total = queryset.count()
    rows = queryset[page["offset"] : page["offset"] + page["limit"]]
    data = serializer_class(rows, many=True, context={"request": request, **context}).data
    return Response(data, headers={"X-Total-Count": str(total)})


# --- scoped look-ups -----------------------------------------------------------------------


def scoped_get(queryset, pk):
    """The object with this id in the caller's scope, or 404: someone else's answers like a missing one."""
    if not isinstance(pk, int) or not 0 < pk <= MAX_ID:
        raise Http404
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def consumer_of(user):
    """The consumer behind a user, or None (merchant staff and admins are not consumers)."""
    return getattr(user, "consumer", None) if getattr(user, "is_authenticated", False) else None
