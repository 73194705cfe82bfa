"""Template helpers for money and time left."""
from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext

from core.money import fen_to_yuan

register = template.Library()


@register.filter
def yuan(fen) -> str:
    """Integer fen → "72.00" (the product shows money as yuan with two decimals)."""
    if fen in (None, ""):
        return ""
    return fen_to_yuan(int(fen))


@register.filter
def date_span(text) -> str:
    """A formatted date that a line never breaks inside ("2027-/06-30"), also inside a translated sentence:
    {% blocktranslate with start=day|date:"Y-m-d"|date_span %}…"""
    return format_html('<span class="date">{}</span>', text)


@register.filter
def signed_yuan(fen) -> str:
    """A ledger delta: "+80.00", "-8.00", "0.00"."""
    fen = int(fen or 0)
    return f"+{fen_to_yuan(fen)}" if fen > 0 else fen_to_yuan(fen)


@register.filter
def seconds_until(moment) -> int:
    if moment is None:
        return 0
    return max(int((moment - timezone.now()).total_seconds()), 0)


@register.filter
def duration(seconds) -> str:
    """Seconds → "1 d 23:59:58" (the same format the live countdown writes)."""
    seconds = max(int(seconds or 0), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return gettext("%(days)s d %(clock)s") % {"days": days, "clock": clock} if days else clock


def hold_words(seconds: int) -> str:
    """A hold as people say it: "48 hours", "30 minutes", "20 seconds" (the largest whole unit)."""
    seconds = int(seconds)
    if seconds and seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    if seconds and seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}


@register.simple_tag
def hold_duration() -> str:
    """The withdrawal hold of this deployment (WITHDRAWAL_HOLD_SECONDS) in words, in the page's language."""
    return hold_words(settings.WITHDRAWAL_HOLD_SECONDS)
