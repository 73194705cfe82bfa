"""The API's only parser (kept apart from the views: DRF imports it while building APIView)."""
import json
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONNumber(Decimal):
    """A JSON number with a fraction or an exponent, exact, that remembers how it was written: `1.0e1` equals 10
    but is written with an exponent, which SPEC §2 refuses for amounts (the amount field reads `written`)."""

    written: str

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.written = text
        return number

    def __reduce__(self):  # a pickled copy (a cache, a task argument) keeps how it was written
        return type(self), (self.written,)


class StrictJSONParser(JSONParser):
    """JSON only; numbers with a fraction or exponent stay exact (JSONNumber, a Decimal, never float);
    NaN/Infinity and text that cannot be stored (lone surrogates) are a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            if not text.strip():
                return {}
            data = json.loads(text, parse_float=JSONNumber, parse_constant=_reject_constant)
            json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError) as exc:
            raise ParseError(_("The body is not valid JSON.")) from exc
        return data


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")
