"""The one amount field (SPEC §2): every amount in and out of the API goes through it."""
import re
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from core.ids import MAX_ID
from core.money import fen_to_yuan, yuan_to_fen

# A plain decimal: digits, at most two places, an optional minus (so a negative gets its own message).
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,2})?", re.ASCII)

# The same language as a schema pattern for clients: positive, at most two places, at most 1,000,000.00
# (the default MAX_AMOUNT); leading zeros allowed because the server accepts them.
AMOUNT_PATTERN = r"^0{0,13}(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|1000000(?:\.00?)?)$|^0{1,20}\.(?:0[1-9]|[1-9][0-9]?)$"
AMOUNT_OUTPUT_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"


class AmountField(serializers.Field):
    """Yuan in (string or JSON number, at most two places, positive, ≤ MAX_AMOUNT), integer fen inside,
    and a string with exactly two places out: "72.00"."""

    default_error_messages = {
        "invalid": _('Enter an amount in yuan with at most two decimal places, such as "72.50".'),
        "positive": _("The amount must be greater than zero."),
        # DRF fills messages with str.format, so the placeholder is {max} (a %(max)s would be shown as is).
        "max": _("The amount must be at most {max}."),
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not _PLAIN_DECIMAL.fullmatch(data):
                self.fail("invalid")
        elif isinstance(data, Decimal):
            # The JSON parser hands numbers with a fraction or an exponent over as a JSONNumber that keeps how
            # it was written: 1.0e1 equals 10 but its exponent is refused like "1e1" in a string (SPEC §2).
            written = getattr(data, "written", str(data))
            if not data.is_finite() or not _PLAIN_DECIMAL.fullmatch(written):
                self.fail("invalid")
            data = written
        elif not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        try:
            fen = yuan_to_fen(data)
        except (ValueError, ArithmeticError):
            self.fail("invalid")
        if fen <= 0:
            self.fail("positive")
        if fen > settings.MAX_AMOUNT_FEN:
            self.fail("max", max=fen_to_yuan(settings.MAX_AMOUNT_FEN))
        return fen

    def to_representation(self, value):
        return fen_to_yuan(value)


class IdField(serializers.IntegerField):
    """A primary key given in a body: a positive 64-bit integer (never a string, never out of range)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class AmountFieldSchema(OpenApiSerializerFieldExtension):
    """In requests an amount is a string or a number (SPEC §2); in responses always a two-place string."""

    target_class = AmountField

    def map_serializer_field(self, auto_schema, direction):
        if direction == "response":
            return {"type": "string", "pattern": AMOUNT_OUTPUT_PATTERN, "example": "72.00"}
        return {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {"type": "number", "minimum": 0.01, "maximum": 1000000, "multipleOf": 0.01},
            ],
            "description": 'Yuan: a decimal string with at most two places ("72", "72.5", "72.50") or a JSON '
            "number with at most two decimals; positive; at most MAX_AMOUNT (1,000,000.00).",
            "example": "72.50",
        }
