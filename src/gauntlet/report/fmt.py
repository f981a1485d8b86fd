"""Numbers as every report prints them: SLO values in their unit, budgets, latencies, counts.

One module so that ``report.html``, ``gauntlet compare``, ``gauntlet gate`` and JUnit say the same
thing the same way ("99.95 %", "312.4 ms", "budget 37 % used").
"""

from __future__ import annotations

from gauntlet.report.scorecard import SloResult


def number(value: float) -> str:
    """Up to 4 significant digits, no exponent for everyday magnitudes: 0.5, 12.34, 1234, 12345."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def ms(value_ms: float | None) -> str:
    """A latency in milliseconds; sub-millisecond values keep their microseconds."""
    if value_ms is None:
        return "-"
    if abs(value_ms) >= 10_000:
        return f"{value_ms / 1000:.1f}".removesuffix(".0") + " s"
    if abs(value_ms) >= 100:
        return f"{value_ms:.0f} ms"
    if abs(value_ms) >= 1:
        return f"{value_ms:.1f}".removesuffix(".0") + " ms"
    return f"{value_ms:.2f} ms"


def in_unit(value: float | None, unit: str) -> str:
    """An SLI value in its unit: ratios as percentages, ``ms``/``s`` with their symbol."""
    if value is None:
        return "no data"
    if unit == "ratio":
        # 99.95 % and 99.999 % must stay distinguishable, 62.5 % needs no such precision.
        percent = 100.0 * value
        decimals = 4 if 99.9 <= percent < 100 else 3 if 99 <= percent < 100 else 1
        return f"{percent:.{decimals}f}".rstrip("0").rstrip(".") + " %"
    if unit == "ms":
        return ms(value)
    if unit == "s":
        return f"{number(value)} s"
    return number(value) if not unit else f"{number(value)} {unit}"


def objective(slo: SloResult) -> str:
    """``"≥ 99.9 %"`` or ``"≤ 300 ms"``."""
    sign = "≥" if slo.comparator == "gte" else "≤"
    return f"{sign} {in_unit(slo.objective, slo.unit)}"


def observed(slo: SloResult) -> str:
    return in_unit(slo.observed, slo.unit)


def budget(consumed: float | None) -> str:
    """Error budget consumed as a percentage; ``"unknown"`` without data."""
    if consumed is None:
        return "unknown"
    # An SLO without budget (objective 100 %) reports a capped 1000x for any bad event: the exact
    # figure means nothing there.
    return f"{100 * consumed:.0f} %" if consumed < 10 else "> 1000 %"


def signed(value: float, unit: str) -> str:
    """A difference with its sign: ``"+50.2 ms"``, ``"-0.01 %"``."""
    text = in_unit(abs(value), unit)
    return ("+" if value >= 0 else "-") + text


__all__ = ["budget", "in_unit", "ms", "number", "objective", "observed", "signed"]
