"""Cross-cutting pieces every API view uses: the strict JSON parser, strict serializers, throttles,
limit/offset lists and scoped object look-ups."""
import hashlib

from django.core.validators import RegexValidator
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from allowance.api.parsers import StrictJSONParser
from config.cache import window_hit
from allowance.models import MAX_ID
from merchants.selectors import is_store_staff


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


class IsMerchantStaff(BasePermission):
    """The merchant endpoints without an object in the path (lists, search, summary, create) refuse anyone who
    is no store's staff (a consumer, an admin) with the same 403, as the consumer endpoints refuse staff, rather
    than an empty list from one and a 403 from the next. Endpoints that name an object (`…/ID/refund/`) keep
    answering 404 to everyone outside the store (SPEC §7: someone else's object is not found)."""

    message = _("Only merchant staff can do this.")

    def has_permission(self, request, view) -> bool:
        return is_store_staff(user=request.user)


class MerchantApiView(ApiView):
    permission_classes = [IsAuthenticated, IsMerchantStaff]


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
