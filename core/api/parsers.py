"""The API's only parser (kept apart from the views: DRF imports it while building APIView)."""
import json
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """JSON only; numbers with a fraction stay exact (Decimal, never float); NaN/Infinity and text that cannot
    be stored (lone surrogates) are a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            if not text.strip():
                return {}
            data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
            json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError) as exc:
            raise ParseError(_("The body is not valid JSON.")) from exc
        return data


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")
