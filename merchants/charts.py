"""Server-rendered SVG charts (no script, no CDN): the insights page's daily chart."""
from django.utils.html import escape
from django.utils.safestring import mark_safe

from core.money import fen_to_yuan

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 40


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 × a power of ten (in fen), at least the largest value."""
    if value <= 0:
        return 100
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def daily_chart_svg(*, days, series: list[tuple[str, str, str]], title: str, empty_text: str) -> str:
    """A line chart of `days` (objects with `.day` and one attribute per series).

    `series` is [(attribute, label, css class)]; labels and title are already translated. Amounts in fen,
    axis in yuan.
    """
    n = len(days)
    values = [[getattr(d, attr) for d in days] for attr, _, _ in series]
    top = _nice_max(max((max(v) for v in values if v), default=0))
    bottom = min(0, min((min(v) for v in values if v), default=0))
    span = top - bottom or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i):
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v):
        return TOP + plot_h * (top - v) / span

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for k in range(5):  # horizontal grid with yuan labels
        v = bottom + span * k / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fen_to_yuan(int(v))}</text>')
    every = max(1, -(-n // 8))  # at most about 8 date labels, the last day always, none crowding it
    for i, d in enumerate(days):
        if i == n - 1 or (i % every == 0 and n - 1 - i >= every * 0.6):
            anchor = "end" if i == n - 1 and n > 1 else "start" if i == 0 and n > 1 else "middle"
            out.append(f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">'
                       f'{d.day:%m-%d}</text>')
    for (attr, label, css), vals in zip(series, values):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        out.append(f'<polyline class="series {css}" fill="none" points="{points}"><title>{escape(label)}</title></polyline>')
        if n <= 62:
            for i, v in enumerate(vals):
                if v:
                    out.append(f'<circle class="series {css}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5">'
                               f'<title>{days[i].day:%Y-%m-%d} {escape(label)}: {fen_to_yuan(v)}</title></circle>')
    if not any(any(v) for v in values):
        out.append(f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">'
                   f'{escape(empty_text)}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))
