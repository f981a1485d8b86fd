"""Inline SVG charts for ``report.html`` and Allure attachments: no scripts, no fonts, no network.

Design notes:

- Every chart is a plain string of SVG markup built here, so the report is one file that opens
  offline and renders the same in a browser, a CI artifact viewer or headless Chromium.
- Tooltips are SVG ``<title>`` children, which every browser shows on hover without JavaScript.
  Time series get one transparent hover band per second (or per bucket of seconds, so that a long
  run stays at a few hundred elements) whose title lists every value at that moment.
- Axes use "nice" ticks (1, 2, 2.5, 5 x 10^n) and always say their unit; charts start at zero so
  that bar and area heights compare honestly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
AXIS_COLOR = "#6b7280"
GRID_COLOR = "#e5e7eb"
MAX_HOVER_BANDS = 300
"""Hover bands per time chart; longer series are bucketed so the file stays small."""


def _a(text: str) -> str:
    """Escape for an attribute value or text node."""
    return escape(text, quote=True)


def _f(value: float) -> str:
    """Coordinates with one decimal: enough for a screen, half the bytes of repr()."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 x 10^n)."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def nice_max(value: float) -> float:
    """The smallest "nice" tick at or above ``value`` (the top of a y axis)."""
    if value <= 0:
        return 1.0
    ticks = nice_ticks(0, value)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else value
    top = ticks[-1]
    return top if top >= value else top + step


def tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k" if value % 1000 == 0 else f"{value:,.0f}"
    return f"{value:g}"


@dataclass(frozen=True)
class Line:
    """One line of a time chart; ``None`` values leave a gap."""

    name: str
    color: str
    values: Sequence[float | None]
    width: float = 2.0
    dash: str = ""


@dataclass(frozen=True)
class Phase:
    """A shaded span of the x axis with its name on top (a load profile's phase, a fault
    window)."""

    name: str
    start: float
    end: float
    fill: str = ""
    """Shading; empty: alternating light indigo, so consecutive phases read apart."""
    accent: str = ""
    """Boundary line and label colour; empty: indigo."""
    closed: bool = False
    """Also draw the end boundary: a window on its own (a fault), not one of back-to-back
    phases whose next start is this one's end."""


@dataclass(frozen=True)
class Marker:
    """One moment on the x axis: a dashed vertical line, labelled inside the plot's top edge."""

    name: str
    at: float
    color: str
    tooltip: str = ""
    above: bool = False
    """Label above the plot (where phase names go) instead of inside its top edge, so two
    markers close together do not write over each other."""


@dataclass(frozen=True)
class _Frame:
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    x_max: float
    y_max: float

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def x(self, value: float) -> float:
        return self.left + self.plot_w * (value / self.x_max if self.x_max else 0)

    def y(self, value: float) -> float:
        return self.top + self.plot_h * (1 - (value / self.y_max if self.y_max else 0))


def _svg_open(width: float, height: float, label: str, css_class: str = "chart") -> str:
    return (
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" '
        f'height="{_f(height)}" viewBox="0 0 {_f(width)} {_f(height)}" role="img" '
        f'aria-label="{_a(label)}" style="{FONT}">'
    )


def _shade_phases(frame: _Frame, phases: Sequence[Phase]) -> list[str]:
    out: list[str] = []
    shades = ("#eef2ff", "#f5f3ff")
    for i, phase in enumerate(phases):
        x0, x1 = frame.x(max(0.0, phase.start)), frame.x(min(frame.x_max, phase.end))
        if x1 <= x0:
            continue
        accent = phase.accent or "#6366f1"
        out.append(
            f'<rect x="{_f(x0)}" y="{_f(frame.top)}" width="{_f(x1 - x0)}" '
            f'height="{_f(frame.plot_h)}" fill="{phase.fill or shades[i % 2]}">'
            f"<title>{'' if phase.fill else 'phase '}{_a(phase.name)}: "
            f"{phase.start:.1f}-{phase.end:.1f} s</title></rect>"
        )
        for x in (x0, x1) if phase.closed else (x0,):
            out.append(
                f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(frame.top - 14)}" '
                f'y2="{_f(frame.top + frame.plot_h)}" stroke="{accent}" stroke-dasharray="3 3"/>'
            )
        # The label sits above the plot and is clipped to its phase, so neighbours never overlap.
        width_px = x1 - x0
        name = (
            phase.name
            if len(phase.name) * 6.2 < width_px - 6
            else phase.name[: max(0, int((width_px - 10) / 6.2))]
        )
        if name:
            out.append(
                f'<text x="{_f(x0 + 4)}" y="{_f(frame.top - 4)}" font-size="11" '
                f'fill="{phase.accent or "#4338ca"}">{_a(name)}</text>'
            )
    return out


def _markers(frame: _Frame, markers: Sequence[Marker]) -> list[str]:
    out: list[str] = []
    for m in markers:
        if not 0 <= m.at <= frame.x_max:
            continue
        x = frame.x(m.at)
        # Labels near the right edge turn to the left of their line so they stay inside.
        anchor, dx = ("end", -4) if x > frame.left + 0.8 * frame.plot_w else ("start", 4)
        title = f"<title>{_a(m.tooltip or m.name)}</title>"
        y0 = frame.top - 14 if m.above else frame.top
        out.append(
            f'<g><line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y0)}" '
            f'y2="{_f(frame.top + frame.plot_h)}" stroke="{m.color}" stroke-width="2" '
            f'stroke-dasharray="6 3"/>'
            f'<text x="{_f(x + dx)}" y="{_f(frame.top - 4 if m.above else frame.top + 13)}" '
            'font-size="11" font-weight="600" '
            f'text-anchor="{anchor}" fill="{m.color}" stroke="#ffffff" stroke-width="3" '
            f'paint-order="stroke">{_a(m.name)}</text>{title}</g>'
        )
    return out


def _x_axis(frame: _Frame, x_label: str) -> list[str]:
    out: list[str] = []
    for tick in nice_ticks(0, frame.x_max, 8):
        x = frame.x(tick)
        out.append(
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(frame.top + frame.plot_h)}" '
            f'y2="{_f(frame.top + frame.plot_h + 4)}" stroke="{AXIS_COLOR}"/>'
            f'<text x="{_f(x)}" y="{_f(frame.top + frame.plot_h + 17)}" font-size="11" '
            f'text-anchor="middle" fill="{AXIS_COLOR}">{tick_label(tick)}</text>'
        )
    bottom = frame.top + frame.plot_h
    out.append(
        f'<line x1="{_f(frame.left)}" x2="{_f(frame.width - frame.right)}" y1="{_f(bottom)}" '
        f'y2="{_f(bottom)}" stroke="{AXIS_COLOR}"/>'
        f'<text x="{_f(frame.left + frame.plot_w / 2)}" y="{_f(frame.height - 6)}" '
        f'font-size="12" text-anchor="middle" fill="#374151">{_a(x_label)}</text>'
    )
    return out


def _axes(frame: _Frame, *, x_label: str, y_label: str, phases: Sequence[Phase]) -> list[str]:
    # Phases first, so grid and data draw on top of the shading.
    out = _shade_phases(frame, phases)
    for tick in nice_ticks(0, frame.y_max):
        y = frame.y(tick)
        out.append(
            f'<line x1="{_f(frame.left)}" x2="{_f(frame.width - frame.right)}" y1="{_f(y)}" '
            f'y2="{_f(y)}" stroke="{GRID_COLOR}"/>'
            f'<text x="{_f(frame.left - 6)}" y="{_f(y + 4)}" font-size="11" text-anchor="end" '
            f'fill="{AXIS_COLOR}">{tick_label(tick)}</text>'
        )
    out += _x_axis(frame, x_label)
    bottom = frame.top + frame.plot_h
    out.append(
        f'<line x1="{_f(frame.left)}" x2="{_f(frame.left)}" y1="{_f(frame.top)}" '
        f'y2="{_f(bottom)}" stroke="{AXIS_COLOR}"/>'
        f'<text transform="translate(14 {_f(frame.top + frame.plot_h / 2)}) rotate(-90)" '
        f'font-size="12" text-anchor="middle" fill="#374151">{_a(y_label)}</text>'
    )
    return out


def _legend(items: Sequence[tuple[str, str]], *, x: float, y: float) -> str:
    parts = []
    offset = 0.0
    for name, color in items:
        parts.append(
            f'<rect x="{_f(x + offset)}" y="{_f(y - 9)}" width="12" height="10" rx="2" '
            f'fill="{color}"/><text x="{_f(x + offset + 16)}" y="{_f(y)}" font-size="12" '
            f'fill="#374151">{_a(name)}</text>'
        )
        offset += 16 + 7 * len(name) + 18
    return "".join(parts)


def _hover_bands(
    frame: _Frame, times: Sequence[float], step_s: float, tooltip: Callable[[int, int], str]
) -> list[str]:
    """Transparent columns whose ``<title>`` describes points ``[i, j)``."""
    n = len(times)
    if n == 0:
        return []
    per_band = max(1, math.ceil(n / MAX_HOVER_BANDS))
    out = ['<g class="hover" fill="transparent">']
    for i in range(0, n, per_band):
        j = min(n, i + per_band)
        x0 = frame.x(times[i])
        x1 = frame.x(times[j - 1] + step_s)
        out.append(
            f'<rect x="{_f(x0)}" y="{_f(frame.top)}" width="{_f(max(1.0, x1 - x0))}" '
            f'height="{_f(frame.plot_h)}"><title>{_a(tooltip(i, j))}</title></rect>'
        )
    out.append("</g>")
    return out


def _path(frame: _Frame, times: Sequence[float], values: Sequence[float | None]) -> str:
    parts: list[str] = []
    pen_down = False
    for t, v in zip(times, values, strict=True):
        if v is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_f(frame.x(t))} {_f(frame.y(v))}")
        pen_down = True
    return "".join(parts)


def _secondary(frame: _Frame, times: Sequence[float], line: Line, label: str) -> list[str]:
    peak = max((v for v in line.values if v is not None), default=0.0)
    axis = _Frame(
        frame.width,
        frame.height,
        frame.left,
        frame.right,
        frame.top,
        frame.bottom,
        frame.x_max,
        # The right axis counts events: at least 0..4, so a single error does not get 0.25 ticks.
        max(4.0, nice_max(peak * 1.05)),
    )
    x = frame.width - frame.right
    out = [
        f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(frame.top)}" y2="{_f(frame.top + frame.plot_h)}" '
        f'stroke="{line.color}"/>'
    ]
    for tick in nice_ticks(0, axis.y_max, 4):
        y = axis.y(tick)
        out.append(
            f'<line x1="{_f(x)}" x2="{_f(x + 4)}" y1="{_f(y)}" y2="{_f(y)}" stroke="{line.color}"/>'
            f'<text x="{_f(x + 7)}" y="{_f(y + 4)}" font-size="11" fill="{line.color}">'
            f"{tick_label(tick)}</text>"
        )
    out.append(
        f'<text transform="translate({_f(frame.width - 12)} {_f(frame.top + frame.plot_h / 2)}) '
        f'rotate(90)" font-size="12" text-anchor="middle" fill="{line.color}">{_a(label)}</text>'
        f'<path d="{_path(axis, times, line.values)}" fill="none" stroke="{line.color}" '
        f'stroke-width="{line.width:g}" stroke-linejoin="round"/>'
    )
    return out


def time_chart(
    *,
    times: Sequence[float],
    lines: Sequence[Line],
    y_label: str,
    title: str,
    phases: Sequence[Phase] = (),
    tooltip: Callable[[int, int], str],
    stacked_areas: Sequence[Line] = (),
    secondary: Line | None = None,
    secondary_label: str = "",
    markers: Sequence[Marker] = (),
    x_label: str = "time since load start (s)",
    x_max: float | None = None,
    width: float = 1100,
    height: float = 300,
) -> str:
    """A time series chart: x in seconds since the load started (or ``x_label``'s origin).

    ``stacked_areas`` are filled and stacked from the x axis up (e.g. successful requests, then
    errors on top); ``lines`` are drawn over them; ``secondary`` is a line on its own axis on the
    right (errors per second: a handful of errors would vanish on the requests axis); ``markers``
    label moments (a recovery). ``x_max`` fixes the right end, so charts of one experiment line up
    with each other and with its ``lanes_chart``.
    """
    step_s = times[1] - times[0] if len(times) > 1 else 1.0
    if x_max is None:
        x_max = (times[-1] + step_s) if times else 1.0
        for phase in phases:
            x_max = max(x_max, phase.end)
    peak = 0.0
    for line in lines:
        peak = max([peak, *(v for v in line.values if v is not None)])
    stack_top = [0.0] * len(times)
    for area in stacked_areas:
        stack_top = [a + (v or 0.0) for a, v in zip(stack_top, area.values, strict=True)]
    peak = max([peak, *stack_top])
    right = 64.0  # the same with or without a right axis, so stacked charts line up in time
    frame = _Frame(width, height, 64, right, 40, 44, x_max, nice_max(peak * 1.05))
    out = [_svg_open(width, height, title)]
    out += _axes(frame, x_label=x_label, y_label=y_label, phases=phases)
    base = [0.0] * len(times)
    for area in stacked_areas:
        top = [b + (v or 0.0) for b, v in zip(base, area.values, strict=True)]
        upper = " ".join(
            f"{_f(frame.x(t))},{_f(frame.y(v))} {_f(frame.x(t + step_s))},{_f(frame.y(v))}"
            for t, v in zip(times, top, strict=True)
        )
        lower = " ".join(
            f"{_f(frame.x(t + step_s))},{_f(frame.y(v))} {_f(frame.x(t))},{_f(frame.y(v))}"
            for t, v in reversed(list(zip(times, base, strict=True)))
        )
        out.append(f'<polygon points="{upper} {lower}" fill="{area.color}" fill-opacity="0.85"/>')
        base = top
    if secondary is not None:
        out += _secondary(frame, times, secondary, secondary_label)
    for line in lines:
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        out.append(
            f'<path d="{_path(frame, times, line.values)}" fill="none" stroke="{line.color}" '
            f'stroke-width="{line.width:g}" stroke-linejoin="round"{dash}/>'
        )
    out += _hover_bands(frame, times, step_s, tooltip)
    # Above the hover bands, so hovering a marker's label shows its own tooltip.
    out += _markers(frame, markers)
    legend = [(a.name, a.color) for a in stacked_areas] + [(ln.name, ln.color) for ln in lines]
    if secondary is not None:
        legend.append((secondary.name, secondary.color))
    out.append(_legend(legend, x=frame.left, y=16))
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class LaneItem:
    """A span on a lane (``end > start``: a bar) or a moment (``end == start``: a tick)."""

    start: float
    end: float
    color: str
    tooltip: str


@dataclass(frozen=True)
class Lane:
    """One row of a ``lanes_chart``; its name is written inside the row, on the left."""

    name: str
    items: Sequence[LaneItem]
    name_color: str = "#374151"


LANE_H = 24.0


def lanes_chart(
    *,
    lanes: Sequence[Lane],
    x_max: float,
    title: str,
    x_label: str,
    phases: Sequence[Phase] = (),
    markers: Sequence[Marker] = (),
    width: float = 1100,
) -> str:
    """Rows of spans and ticks on a time axis (a Gantt strip: fault, leaks, events).

    Margins match ``time_chart``'s, so with the same ``x_max`` and ``width`` a strip drawn under
    a time chart lines up with it second for second. Lane names sit inside their row (cell names
    like ``team-a/client-0 → team-b/api-0:8080`` would not fit a left margin) with a white halo,
    so they stay readable over a bar.
    """
    top, bottom = 26.0, 40.0
    height = top + LANE_H * max(1, len(lanes)) + bottom
    frame = _Frame(width, height, 64, 64, top, bottom, x_max, 1.0)
    out = [_svg_open(width, height, title)]
    out += _shade_phases(frame, phases)
    for i, lane in enumerate(lanes):
        y0 = top + LANE_H * i
        if i:
            out.append(
                f'<line x1="{_f(frame.left)}" x2="{_f(width - frame.right)}" y1="{_f(y0)}" '
                f'y2="{_f(y0)}" stroke="{GRID_COLOR}"/>'
            )
        for item in lane.items:
            x0 = frame.x(max(0.0, min(x_max, item.start)))
            x1 = frame.x(max(0.0, min(x_max, item.end)))
            if item.end > item.start:
                shape = (
                    f'<rect x="{_f(x0)}" y="{_f(y0 + 5)}" width="{_f(max(3.0, x1 - x0))}" '
                    f'height="{_f(LANE_H - 10)}" rx="2" fill="{item.color}"/>'
                )
            else:
                # A wider transparent stroke behind the tick makes a 2 px line easy to hover.
                shape = (
                    f'<line x1="{_f(x0)}" x2="{_f(x0)}" y1="{_f(y0 + 3)}" '
                    f'y2="{_f(y0 + LANE_H - 3)}" stroke="transparent" stroke-width="7"/>'
                    f'<line x1="{_f(x0)}" x2="{_f(x0)}" y1="{_f(y0 + 4)}" '
                    f'y2="{_f(y0 + LANE_H - 4)}" stroke="{item.color}" stroke-width="2"/>'
                )
            out.append(f"<g>{shape}<title>{_a(item.tooltip)}</title></g>")
        out.append(
            f'<text x="{_f(frame.left + 4)}" y="{_f(y0 + LANE_H / 2 + 4)}" font-size="11" '
            f'fill="{lane.name_color}" stroke="#ffffff" stroke-width="3" paint-order="stroke" '
            f'pointer-events="none">{_a(lane.name)}</text>'
        )
    out += _markers(frame, markers)
    out += _x_axis(frame, x_label)
    out.append(
        f'<rect x="{_f(frame.left)}" y="{_f(top)}" width="{_f(frame.plot_w)}" '
        f'height="{_f(frame.plot_h)}" fill="none" stroke="{GRID_COLOR}"/>'
    )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Cell:
    """One heatmap cell: fill colour, a short mark drawn in it, and its tooltip."""

    fill: str
    mark: str
    tooltip: str
    strong: bool = False
    """Outlined and bold: a leak or a block must stand out from a sea of passes."""


def _group(label: str) -> str:
    return label.split("/", 1)[0]


def heatmap(
    *,
    rows: Sequence[str],
    cols: Sequence[str],
    cells: dict[tuple[str, str], Cell],
    title: str,
    row_axis: str,
    col_axis: str,
) -> str:
    """A grid of ``rows`` x ``cols``; labels ``<namespace>/<name>`` get a thicker line between
    namespaces, so tenants read as blocks."""
    cell = max(8.0, min(26.0, 900 / max(1, len(cols))))
    font = min(11.0, cell - 2)
    row_label_w = min(260.0, 12 + 0.62 * font * max((len(r) for r in rows), default=4))
    col_label_h = min(240.0, 8 + 0.62 * font * max((len(c) for c in cols), default=4))
    left, top = row_label_w + 24, col_label_h + 30
    width = left + cell * len(cols) + 20
    height = top + cell * len(rows) + 16
    out = [_svg_open(width, height, title, "chart heatmap")]
    out.append(
        f'<text x="{_f(left)}" y="14" font-size="12" fill="#374151">{_a(col_axis)} →</text>'
        f'<text transform="translate(12 {_f(top + cell * len(rows) / 2)}) rotate(-90)" '
        f'font-size="12" text-anchor="middle" fill="#374151">{_a(row_axis)} →</text>'
    )
    for j, col in enumerate(cols):
        x = left + cell * j + cell / 2
        out.append(
            f'<text transform="translate({_f(x + font / 3)} {_f(top - 6)}) rotate(-90)" '
            f'font-size="{_f(font)}" fill="#374151">{_a(col)}<title>{_a(col)}</title></text>'
        )
    for i, row in enumerate(rows):
        y = top + cell * i + cell / 2 + 4
        out.append(
            f'<text x="{_f(left - 6)}" y="{_f(y)}" font-size="{_f(font)}" text-anchor="end" '
            f'fill="#374151">{_a(row)}<title>{_a(row)}</title></text>'
        )
    strong: list[str] = []
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            c = cells.get((row, col))
            x, y = left + cell * j, top + cell * i
            if c is None:
                out.append(
                    f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(cell)}" height="{_f(cell)}" '
                    f'fill="#ffffff" stroke="#f3f4f6"><title>{_a(row)} → {_a(col)}: not probed'
                    "</title></rect>"
                )
                continue
            element = (
                f'<g><rect x="{_f(x)}" y="{_f(y)}" width="{_f(cell)}" height="{_f(cell)}" '
                f'fill="{c.fill}" stroke="#ffffff"/>'
            )
            if c.mark and cell >= 10:
                weight = "700" if c.strong else "400"
                element += (
                    f'<text x="{_f(x + cell / 2)}" y="{_f(y + cell / 2 + font / 3)}" '
                    f'font-size="{_f(font)}" font-weight="{weight}" text-anchor="middle" '
                    f'fill="{"#ffffff" if c.strong else "#374151"}">{_a(c.mark)}</text>'
                )
            element += f"<title>{_a(c.tooltip)}</title></g>"
            if c.strong:
                strong.append(
                    f'<rect x="{_f(x + 0.5)}" y="{_f(y + 0.5)}" width="{_f(cell - 1)}" '
                    f'height="{_f(cell - 1)}" fill="none" stroke="#111827" stroke-width="1.5" '
                    'pointer-events="none"/>'
                )
            out.append(element)
    # Namespace separators: a boundary wherever the group of the label changes.
    bottom, right = top + cell * len(rows), left + cell * len(cols)
    for i in range(1, len(rows)):
        if _group(rows[i]) != _group(rows[i - 1]):
            y = top + cell * i
            out.append(
                f'<line x1="{_f(left)}" x2="{_f(right)}" y1="{_f(y)}" y2="{_f(y)}" '
                'stroke="#374151" stroke-width="1.5"/>'
            )
    for j in range(1, len(cols)):
        if _group(cols[j]) != _group(cols[j - 1]):
            x = left + cell * j
            out.append(
                f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(top)}" y2="{_f(bottom)}" '
                'stroke="#374151" stroke-width="1.5"/>'
            )
    out += strong
    out.append(
        f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(right - left)}" '
        f'height="{_f(bottom - top)}" fill="none" stroke="#374151"/>'
    )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Bars:
    """One series of a grouped bar chart (one bar per category)."""

    name: str
    color: str
    values: Sequence[float]


def hbar_chart(
    *,
    categories: Sequence[str],
    series: Sequence[Bars],
    title: str,
    x_label: str,
    unit: str,
    width: float = 520,
) -> str:
    """Grouped horizontal bars: one group per category, one bar per series."""
    bar_h, gap = 14.0, 10.0
    group_h = bar_h * len(series) + gap
    label_w = min(220.0, 24 + 7.5 * max((len(c) for c in categories), default=4))
    top = 40.0
    height = top + group_h * len(categories) + 44
    peak = max((v for s in series for v in s.values), default=0.0)
    frame = _Frame(width, height, label_w, 70, top, 44, nice_max(peak * 1.05), 1.0)
    out = [_svg_open(width, height, title)]
    for tick in nice_ticks(0, frame.x_max, 4):
        x = frame.left + frame.plot_w * tick / frame.x_max
        out.append(
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(top)}" y2="{_f(top + frame.plot_h)}" '
            f'stroke="{GRID_COLOR}"/><text x="{_f(x)}" y="{_f(top + frame.plot_h + 16)}" '
            f'font-size="11" text-anchor="middle" fill="{AXIS_COLOR}">{tick_label(tick)}</text>'
        )
    for i, category in enumerate(categories):
        y0 = top + group_h * i + gap / 2
        out.append(
            f'<text x="{_f(label_w - 8)}" y="{_f(y0 + bar_h * len(series) / 2 + 4)}" '
            f'font-size="12" text-anchor="end" fill="#374151">{_a(category)}</text>'
        )
        for k, s in enumerate(series):
            value = s.values[i]
            w = frame.plot_w * value / frame.x_max
            y = y0 + bar_h * k
            out.append(
                f'<g><rect x="{_f(label_w)}" y="{_f(y)}" width="{_f(max(0.0, w))}" '
                f'height="{_f(bar_h - 2)}" fill="{s.color}" rx="2"/>'
                f'<text x="{_f(label_w + w + 4)}" y="{_f(y + bar_h - 4)}" font-size="10" '
                f'fill="#374151">{tick_label(round(value, 1))}</text>'
                f"<title>{_a(category)}: {_a(s.name)} {value:g} {_a(unit)}</title></g>"
            )
    out.append(
        f'<line x1="{_f(label_w)}" x2="{_f(label_w)}" y1="{_f(top)}" '
        f'y2="{_f(top + frame.plot_h)}" stroke="{AXIS_COLOR}"/>'
        f'<text x="{_f(label_w + frame.plot_w / 2)}" y="{_f(height - 8)}" font-size="12" '
        f'text-anchor="middle" fill="#374151">{_a(x_label)}</text>'
    )
    out.append(_legend([(s.name, s.color) for s in series], x=label_w, y=16))
    out.append("</svg>")
    return "".join(out)


def budget_bar(consumed: float | None, *, width: float = 180) -> str:
    """Error budget consumed (filled) vs remaining; overspending fills red and says by how much."""
    height = 18.0
    if consumed is None:
        return (
            f"{_svg_open(width, height, 'error budget unknown', 'budget')}"
            f'<rect width="{_f(width)}" height="{_f(height)}" rx="3" fill="#f3f4f6" '
            'stroke="#d1d5db" stroke-dasharray="3 2"/>'
            f'<text x="{_f(width / 2)}" y="13" font-size="11" text-anchor="middle" '
            'fill="#6b7280">no data</text><title>no data: budget unknown</title></svg>'
        )
    share = min(consumed, 1.0)
    color = "#16a34a" if consumed < 0.5 else "#d97706" if consumed < 1 else "#dc2626"
    percent = f"{100 * consumed:.0f} %" if consumed < 10 else "> 1000 %"
    label = f"{percent} used" if consumed <= 1 else f"{percent} overspent"
    remaining = max(0.0, 1 - consumed)
    inside = share > 0.45
    return (
        f"{_svg_open(width, height, 'error budget', 'budget')}"
        f'<rect width="{_f(width)}" height="{_f(height)}" rx="3" fill="#dcfce7"/>'
        f'<rect width="{_f(width * share)}" height="{_f(height)}" rx="3" fill="{color}"/>'
        f'<text x="{_f(6 if inside else width * share + 5)}" y="13" font-size="11" '
        f'font-weight="600" fill="{"#ffffff" if inside else "#111827"}">{_a(label)}</text>'
        f"<title>error budget: {100 * consumed:.1f} % consumed, "
        f"{100 * remaining:.1f} % remaining</title></svg>"
    )


def stacked_bar(parts: Sequence[tuple[str, int, str]], *, width: float = 220) -> str:
    """One horizontal bar split by count (e.g. passed / failed / inconclusive / skipped)."""
    height = 14.0
    total = sum(n for _, n, _ in parts)
    out = [_svg_open(width, height, "verdicts", "stacked")]
    out.append(f'<rect width="{_f(width)}" height="{_f(height)}" rx="3" fill="#f3f4f6"/>')
    x = 0.0
    for name, count, color in parts:
        if not count or not total:
            continue
        w = width * count / total
        out.append(
            f'<rect x="{_f(x)}" width="{_f(w)}" height="{_f(height)}" fill="{color}">'
            f"<title>{count} {_a(name)}</title></rect>"
        )
        x += w
    out.append("</svg>")
    return "".join(out)


def gauge(score: float, *, color: str, size: float = 120) -> str:
    """The score as a ring filled to ``score`` / 100, the number in the middle."""
    r = size / 2 - 10
    c = 2 * math.pi * r
    filled = c * max(0.0, min(score, 100.0)) / 100
    mid = size / 2
    return (
        f"{_svg_open(size, size, f'score {score:.1f} of 100', 'gauge')}"
        f'<circle cx="{_f(mid)}" cy="{_f(mid)}" r="{_f(r)}" fill="none" stroke="#e5e7eb" '
        'stroke-width="12"/>'
        f'<circle cx="{_f(mid)}" cy="{_f(mid)}" r="{_f(r)}" fill="none" stroke="{color}" '
        f'stroke-width="12" stroke-dasharray="{_f(filled)} {_f(c)}" '
        f'transform="rotate(-90 {_f(mid)} {_f(mid)})"/>'
        f'<text x="{_f(mid)}" y="{_f(mid + 8)}" font-size="26" font-weight="700" '
        f'text-anchor="middle" fill="#111827">{score:.1f}</text>'
        f'<text x="{_f(mid)}" y="{_f(mid + 26)}" font-size="11" text-anchor="middle" '
        f'fill="#6b7280">of 100</text><title>score {score:.2f} of 100</title></svg>'
    )


__all__ = [
    "Bars",
    "Cell",
    "Lane",
    "LaneItem",
    "Line",
    "Marker",
    "Phase",
    "budget_bar",
    "gauge",
    "hbar_chart",
    "heatmap",
    "lanes_chart",
    "nice_max",
    "nice_ticks",
    "stacked_bar",
    "time_chart",
]
