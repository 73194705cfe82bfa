"""Yuan strings ⇄ integer fen. Floats never touch money."""
import re
from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100

# ASCII digits only: Decimal() and int() also read Arabic-Indic, full-width and other Unicode digits, which a
# person typing "１０" may not mean as ten, and which no amount shown back to them would ever contain.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]*)?|-?\.[0-9]+", re.ASCII)


def fen_to_yuan(fen: int) -> str:
    """1234 → "12.34" (exactly two places, sign kept)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // FEN_PER_YUAN}.{fen % FEN_PER_YUAN:02d}"


def yuan_to_fen(value) -> int:
    """"72", "72.5", "72.50" → integer fen; raises ValueError on anything else (exponents, NaN, >2 places)."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    if isinstance(value, int):
        return value * FEN_PER_YUAN
    text = str(value).strip() if not isinstance(value, float) else repr(value)
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError("not a plain decimal of ASCII digits")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not amount.is_finite():
        raise ValueError("not a finite number")
    if amount.as_tuple().exponent < -2:
        raise ValueError("more than two decimal places")
    return int(amount * FEN_PER_YUAN)
