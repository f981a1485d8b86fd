"""Error budgets, burn rates and multi-window multi-burn-rate alerts over one run.

Design notes:

- The budget of an SLO with target ``T`` is the fraction ``1 - T`` of its events. Consumed budget
  = bad fraction / (1 - T); a burn rate is the same ratio over a window (Google SRE workbook,
  "Alerting on SLOs": burn rate 1 spends exactly the budget over the SLO period).
- An objective of 100 % has no budget: any bad event consumes ``BUDGET_CAP`` (a finite stand-in
  for infinity, which JSON cannot carry), none consumes 0; burn rates likewise.
- The workbook's windows belong to a 30-day period; a test run lasts minutes. ``scale_rule`` lets
  the run stand in for the period: every window is multiplied by ``run_s / period_s``, then, if
  the short window came out below one bucket (the series resolution, 1 s for load), both windows
  are stretched by the same factor until it is one bucket, and no window is longer than the run.
  The burn-rate thresholds are not scaled: a burn rate is a speed, independent of the window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gauntlet.report.scorecard import BurnRateAlert
from gauntlet.slo.spec import BurnRateRule

BUDGET_CAP = 1000.0
"""Consumed budget and burn rate reported when an SLO without budget (target 1) saw a bad event."""

DEFAULT_PEAK_RULE = BurnRateRule(
    name="default", threshold=14.4, inclusive=True, long_window_s=3600, short_window_s=300
)
"""Without alert conditions, the peak burn rate is taken over the workbook's fast-burn long window
(1 h of a 30-day period), scaled like any alert."""


def budget_consumed(bad: float, total: float, target: float) -> float | None:
    """Fraction of the error budget the events used (None without events), capped."""
    if total <= 0:
        return None
    allowed = 1.0 - target
    fraction = bad / total
    if allowed <= 1e-12:
        return 0.0 if bad <= 0 else BUDGET_CAP
    return min(BUDGET_CAP, fraction / allowed)


@dataclass(frozen=True)
class Buckets:
    """Event counts per fixed-length bucket from the start of the SLO's window."""

    total: Sequence[float]
    bad: Sequence[float]
    bucket_s: float = 1.0

    @property
    def span_s(self) -> float:
        return len(self.total) * self.bucket_s


@dataclass(frozen=True)
class ScaledRule:
    """A burn-rate rule with its windows in buckets of the run."""

    rule: BurnRateRule
    long_n: int
    short_n: int
    after_n: int
    bucket_s: float


def scale_rule(rule: BurnRateRule, *, run_s: float, period_s: float, bucket_s: float) -> ScaledRule:
    """The rule's windows shrunk from the SLO period to the run (see the module notes)."""
    factor = run_s / period_s if period_s > 0 else 1.0
    long_s, short_s, after_s = (
        rule.long_window_s * factor,
        rule.short_window_s * factor,
        rule.alert_after_s * factor,
    )
    if short_s < bucket_s:
        stretch = bucket_s / short_s
        long_s, short_s, after_s = long_s * stretch, bucket_s, after_s * stretch
    long_s = min(long_s, max(run_s, bucket_s))
    short_s = min(short_s, long_s)
    return ScaledRule(
        rule=rule,
        long_n=max(1, round(long_s / bucket_s)),
        short_n=max(1, round(short_s / bucket_s)),
        after_n=max(0, round(after_s / bucket_s)),
        bucket_s=bucket_s,
    )


def _prefix(values: Sequence[float]) -> list[float]:
    out = [0.0]
    for v in values:
        out.append(out[-1] + v)
    return out


class _Windows:
    """Burn rates of trailing windows in O(1) each, from prefix sums."""

    def __init__(self, buckets: Buckets, target: float) -> None:
        self.total = _prefix(buckets.total)
        self.bad = _prefix(buckets.bad)
        self.target = target
        self.n = len(buckets.total)

    def burn(self, end: int, width: int) -> float:
        """Burn rate over buckets ``end - width + 1 .. end`` (clipped at the start); 0 with no
        events (nothing burns without events)."""
        lo = max(0, end + 1 - width)
        total = self.total[end + 1] - self.total[lo]
        bad = self.bad[end + 1] - self.bad[lo]
        return budget_consumed(bad, total, self.target) or 0.0


def peak_burn_rate(buckets: Buckets, *, target: float, rules: Sequence[ScaledRule]) -> float | None:
    """Highest burn rate over a sliding window as long as the shortest long window of ``rules``
    (only full windows, unless the run is shorter than one); None without events."""
    if not buckets.total or sum(buckets.total) <= 0:
        return None
    width = min(r.long_n for r in rules)
    windows = _Windows(buckets, target)
    first = min(width, windows.n) - 1
    return max(windows.burn(end, width) for end in range(first, windows.n))


def evaluate_alert(buckets: Buckets, *, target: float, scaled: ScaledRule) -> BurnRateAlert:
    """Whether the rule fired: both windows at (``gte``) or above the threshold, held for
    ``alertAfter``. Evaluated at the end of every bucket once the short window is full."""
    windows = _Windows(buckets, target)
    rule = scaled.rule

    # A relative tolerance keeps "exactly at the threshold" exact despite float rounding
    # (0.01 / (1 - 0.99) is 0.9999999999999991).
    at, above = rule.threshold * (1 - 1e-9), rule.threshold * (1 + 1e-9)

    def over(rate: float) -> bool:
        return rate >= at if rule.inclusive else rate > above

    held = 0
    fired_at: float | None = None
    for end in range(scaled.short_n - 1, windows.n):
        if over(windows.burn(end, scaled.long_n)) and over(windows.burn(end, scaled.short_n)):
            held += 1
            if held > scaled.after_n:
                fired_at = (end + 1) * scaled.bucket_s
                break
        else:
            held = 0
    return BurnRateAlert(
        name=rule.name,
        long_window_s=scaled.long_n * scaled.bucket_s,
        short_window_s=scaled.short_n * scaled.bucket_s,
        threshold=rule.threshold,
        fired=fired_at is not None,
        first_fired_s=fired_at,
    )


def bucketize(times_s: Sequence[float], bad: Sequence[bool], *, span_s: float) -> Buckets:
    """Per-second buckets of events at ``times_s`` (seconds since the window start)."""
    return bucketize_indices([max(0, int(t)) for t in times_s], bad, span_s=span_s)


def bucketize_indices(seconds: Sequence[int], bad: Sequence[bool], *, span_s: float) -> Buckets:
    """Per-second buckets of events in whole seconds since the window start (>= 0)."""
    n = max(1, math.ceil(span_s - 1e-9), max(seconds, default=0) + 1)
    total = [0.0] * n
    bads = [0.0] * n
    for i, b in zip(seconds, bad, strict=True):
        total[i] += 1
        if b:
            bads[i] += 1
    return Buckets(total=total, bad=bads)
