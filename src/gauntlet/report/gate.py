"""``gauntlet gate``: did the candidate run regress against the baseline? (the upgrade gate)

Design notes:

- Run, upgrade, run, gate: both runs are scorecards; nothing is re-measured. Each SLO of the
  baseline is matched by (name, window) in the candidate and judged in one line that says why.
- "Significant beyond tolerance", not "different": a latency SLO regresses only when the whole
  confidence interval of (candidate - baseline) lies above the tolerance, so run-to-run noise
  never fails a gate, and a real shift does even when each run alone still meets its objective.
- The interval is a bootstrap over the stored HDR histograms (``LoadReport.histogram``). The
  p-th percentile of a resample of n values is its k-th order statistic (k = ceil(p n)), which is
  the empirical quantile at U, U ~ Beta(k, n - k + 1) (order statistics of uniforms). Drawing U
  instead of n values makes each resample O(log buckets) instead of O(n): 2,000 resamples of two
  600k-request runs take milliseconds, and with a fixed seed the gate is deterministic.
- Availability SLOs of Gauntlet's load get a two-proportion (normal) interval on the error
  ratio, in units of error budget; other SLOs (including latencies without a histogram, such as
  pod start latency) compare their error budget consumed: the scorecard holds no per-event data
  for them, and the objective says how much a change matters.
- A critical SLO that held in the baseline and is breached in the candidate fails the gate
  whatever the delta, and so does a check that passed and now fails. A candidate without data
  where the baseline had some is inconclusive, never a pass.

Exit codes (``ExitCode``): 0 no regression; 1 a check regressed; 2 an SLO regressed; 3
inconclusive (missing data in the candidate); 4 usage error (reported by the CLI).
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gauntlet.exitcodes import ExitCode
from gauntlet.report import fmt
from gauntlet.report.scorecard import LoadReport, Scorecard, SloResult, Verdict

_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)\b")


class GateError(Exception):
    """A tolerance or option the gate cannot use; the message says what to write instead."""


@dataclass(frozen=True)
class Tolerance:
    """How much worse the candidate may be before the gate calls it a regression."""

    relative: float = 0.10
    """Latency: the candidate may be this fraction slower than the baseline (0.10 = 10 %)."""
    latency_ms: float = 5.0
    """Latency: and at least this many milliseconds (a noise floor for fast services)."""
    budget: float = 0.10
    """Other SLOs: error budget consumed may grow by this much (0.10 = 10 % of the budget)."""

    def describe(self) -> str:
        return (
            f"latency max({self.latency_ms:g} ms, {100 * self.relative:g} %), "
            f"budget +{100 * self.budget:g} %"
        )


def _fraction(text: str, spec: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise GateError(f"--tolerance {spec!r}: {text!r} is not a number or percentage") from None
    if not math.isfinite(value) or value < 0:
        raise GateError(f"--tolerance {spec!r}: must be a non-negative number")
    return value


def parse_tolerance(specs: Sequence[str], base: Tolerance | None = None) -> Tolerance:
    """``["10%"]`` (relative latency), ``["5ms"]`` / ``["0.005s"]`` (latency floor),
    ``["budget=20%"]`` or ``["budget=0.2"]``; several may be given, comma-separated or repeated."""
    tol = base or Tolerance()
    for spec in specs:
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            if part.startswith("budget="):
                tol = Tolerance(tol.relative, tol.latency_ms, _fraction(part[7:], spec))
            elif part.endswith("ms"):
                tol = Tolerance(tol.relative, _fraction(part[:-2], spec), tol.budget)
            elif part.endswith("s"):
                tol = Tolerance(tol.relative, 1000 * _fraction(part[:-1], spec), tol.budget)
            elif part.endswith("%"):
                tol = Tolerance(_fraction(part, spec), tol.latency_ms, tol.budget)
            else:
                raise GateError(
                    f"--tolerance {part!r}: write a relative latency tolerance (10%), a latency "
                    "floor (5ms, 0.005s) or an error budget tolerance (budget=10%)"
                )
    return tol


# --- latency distributions ----------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyDistribution:
    """A decoded HDR histogram as sorted bucket values (microseconds) with cumulative counts."""

    values_us: tuple[int, ...]
    cumulative: tuple[int, ...]

    @property
    def count(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    @classmethod
    def from_histogram(cls, encoded: str) -> LatencyDistribution | None:
        """``None`` for an empty or undecodable histogram (the SLO then falls back to points)."""
        from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

        if not encoded:
            return None
        try:
            hist = HdrHistogram.decode(encoded.encode("ascii"))
        except Exception:  # hdrh raises plain Exceptions, ValueErrors and zlib errors
            return None
        values: list[int] = []
        cumulative: list[int] = []
        for item in hist.get_recorded_iterator():
            values.append(int(item.value_iterated_to))
            cumulative.append(int(item.total_count_to_this_value))
        if not cumulative:
            return None
        return cls(tuple(values), tuple(cumulative))

    def at_rank(self, rank: int) -> int:
        """The ``rank``-th smallest value (1-based)."""
        index = bisect_left(self.cumulative, max(1, min(rank, self.count)))
        return self.values_us[index]

    def percentile_us(self, p: float) -> int:
        """Nearest-rank percentile, ``p`` in 0..100."""
        return self.at_rank(math.ceil(p / 100 * self.count - 1e-9))

    def resampled_percentile_us(self, p: float, rng: random.Random) -> int:
        """The ``p``-th percentile of one bootstrap resample (same size, with replacement)."""
        n = self.count
        k = max(1, min(n, math.ceil(p / 100 * n - 1e-9)))
        u = rng.betavariate(k, n - k + 1)
        return self.at_rank(math.ceil(u * n - 1e-9))


@dataclass(frozen=True)
class Interval:
    """A difference (candidate - baseline) with its confidence interval, in some unit."""

    estimate: float
    low: float
    high: float


def bootstrap_percentile_difference(
    baseline: LatencyDistribution,
    candidate: LatencyDistribution,
    p: float,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of ``pXX(candidate) - pXX(baseline)``, in milliseconds."""
    rng = random.Random(f"{seed}:{p}")
    diffs = sorted(
        candidate.resampled_percentile_us(p, rng) - baseline.resampled_percentile_us(p, rng)
        for _ in range(resamples)
    )
    alpha = (1 - confidence) / 2
    low = diffs[max(0, math.floor(alpha * resamples))]
    high = diffs[min(resamples - 1, math.ceil((1 - alpha) * resamples) - 1)]
    estimate = candidate.percentile_us(p) - baseline.percentile_us(p)
    return Interval(estimate / 1000, low / 1000, high / 1000)


def _error_ratio_difference(baseline: LoadReport, candidate: LoadReport, z: float) -> Interval:
    """Normal interval of the difference of error ratios (candidate - baseline)."""
    p1 = baseline.errors / baseline.requests
    p2 = candidate.errors / candidate.requests
    se = math.sqrt(p1 * (1 - p1) / baseline.requests + p2 * (1 - p2) / candidate.requests)
    return Interval(p2 - p1, p2 - p1 - z * se, p2 - p1 + z * se)


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


# --- the verdicts -------------------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    """Within tolerance (or better)."""
    IMPROVED = "improved"
    """Significantly better than the baseline."""
    REGRESSION = "regression"
    """Significantly worse beyond tolerance, a newly breached critical SLO, or a check that
    passed and now fails."""
    INCONCLUSIVE = "inconclusive"
    """The candidate lacks data the baseline had."""
    NOT_COMPARED = "not compared"
    """Nothing to compare (no data in either run, skipped, or new in the candidate)."""


@dataclass(frozen=True)
class SloDelta:
    name: str
    window: str
    status: Status
    reason: str
    """One line saying why, e.g. ``"p95 +50.2 ms (95 % CI +49.8 to +50.9 ms) > tolerance 5 ms"``."""
    baseline: SloResult | None
    candidate: SloResult | None
    delta: float | None = None
    """candidate - baseline observed value, in the SLO's unit."""
    interval: Interval | None = None
    """Confidence interval of the difference the verdict rests on (SLO unit, or budget units)."""
    budget_delta: float | None = None

    @property
    def label(self) -> str:
        return self.name if self.window == "run" else f"{self.name} [{self.window}]"


@dataclass(frozen=True)
class CheckDelta:
    id: str
    status: Status
    reason: str


@dataclass(frozen=True)
class LatencyDelta:
    """An informational percentile difference of the two loads (not gating by itself)."""

    percentile: float
    baseline_ms: float
    candidate_ms: float
    interval: Interval


@dataclass(frozen=True)
class GateResult:
    baseline: Scorecard
    candidate: Scorecard
    tolerance: Tolerance
    confidence: float
    resamples: int
    slos: list[SloDelta]
    checks: list[CheckDelta]
    latency: list[LatencyDelta]
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        if any(c.status is Status.REGRESSION for c in self.checks):
            return ExitCode.CONFORMANCE_FAILED
        if any(s.status is Status.REGRESSION for s in self.slos):
            return ExitCode.SLO_BREACHED
        if any(s.status is Status.INCONCLUSIVE for s in self.slos) or any(
            c.status is Status.INCONCLUSIVE for c in self.checks
        ):
            return ExitCode.INCONCLUSIVE
        return ExitCode.OK

    def lines(self) -> list[str]:
        """The report: a header, one line per SLO, regressed checks, latency, the verdict."""
        b, c = self.baseline, self.candidate
        out = [
            f"gate: baseline {b.run_id} ({b.distribution.name}) vs candidate {c.run_id} "
            f"({c.distribution.name}); tolerance {self.tolerance.describe()}; "
            f"{100 * self.confidence:g} % intervals from {self.resamples} bootstrap resamples",
            *(f"note: {n}" for n in self.notes),
        ]
        width = max((len(s.label) for s in self.slos), default=0)
        for s in self.slos:
            out.append(f"{s.status.value.upper():>12}  {s.label:<{width}}  {s.reason}")
        for ch in self.checks:
            out.append(f"{ch.status.value.upper():>12}  {ch.id}  {ch.reason}")
        for lat in self.latency:
            i = lat.interval
            out.append(
                f"{'latency':>12}  p{lat.percentile:g} {fmt.ms(lat.baseline_ms)} -> "
                f"{fmt.ms(lat.candidate_ms)}: {fmt.signed(i.estimate, 'ms')} "
                f"(CI {fmt.signed(i.low, 'ms')} to {fmt.signed(i.high, 'ms')})"
            )
        code = self.exit_code
        regressed = [s.label for s in self.slos if s.status is Status.REGRESSION]
        regressed += [ch.id for ch in self.checks if ch.status is Status.REGRESSION]
        if code is ExitCode.OK:
            verdict = "PASS: no significant regression beyond tolerance"
        elif code is ExitCode.INCONCLUSIVE:
            verdict = "INCONCLUSIVE: the candidate lacks data the baseline had"
        else:
            verdict = f"FAIL: regressed: {', '.join(regressed)}"
        out.append(f"gate: {verdict} (exit {int(code)} {code.name})")
        return out


def _percentile_of(slo: SloResult) -> float | None:
    match = _PERCENTILE.search(slo.sli) or _PERCENTILE.search(slo.name)
    return float(match.group(1)) if match else None


def _is_latency(slo: SloResult) -> bool:
    return slo.unit in ("ms", "s") and ("latency" in slo.sli or "latency" in slo.name)


def _from_load(slo: SloResult) -> bool:
    """Whether the SLO measures the load's requests (whose histogram the scorecard stores), not
    e.g. pod start latency, which has its own samples."""
    return slo.source == "gauntlet" and (slo.window == "load" or slo.sli.startswith("request"))


def _scale(unit: str) -> float:
    """Milliseconds per unit of the SLO."""
    return 1000.0 if unit == "s" else 1.0


def _budgets(base: SloResult, cand: SloResult) -> str:
    before, after = fmt.budget(base.error_budget_consumed), fmt.budget(cand.error_budget_consumed)
    return f"budget {before} -> {after}"


@dataclass(frozen=True)
class _Context:
    tolerance: Tolerance
    confidence: float
    resamples: int
    seed: int
    base_load: LoadReport | None
    cand_load: LoadReport | None
    base_dist: LatencyDistribution | None
    cand_dist: LatencyDistribution | None


def _resampled_percentile(base: SloResult, cand: SloResult, ctx: _Context) -> float | None:
    """The percentile to bootstrap from the load histograms, or None when that is not possible
    (not a latency SLO of the load's requests, or a run without a histogram)."""
    p = _percentile_of(cand)
    if (
        p is None
        or ctx.base_dist is None
        or ctx.cand_dist is None
        or not (_is_latency(cand) and _from_load(base) and _from_load(cand))
    ):
        return None
    return p


def _latency_delta(base: SloResult, cand: SloResult, p: float, ctx: _Context) -> SloDelta:
    assert base.observed is not None and ctx.base_dist is not None and ctx.cand_dist is not None
    scale = _scale(cand.unit)
    tol = ctx.tolerance
    ms_interval = bootstrap_percentile_difference(
        ctx.base_dist,
        ctx.cand_dist,
        p,
        resamples=ctx.resamples,
        confidence=ctx.confidence,
        seed=ctx.seed,
    )
    interval = Interval(
        ms_interval.estimate / scale, ms_interval.low / scale, ms_interval.high / scale
    )
    unit = cand.unit
    allowed = max(tol.latency_ms, tol.relative * base.observed * scale) / scale
    shift = (
        f"p{p:g} {fmt.signed(interval.estimate, unit)} ({100 * ctx.confidence:g} % CI "
        f"{fmt.signed(interval.low, unit)} to {fmt.signed(interval.high, unit)})"
    )
    limit = f"tolerance {fmt.in_unit(allowed, unit)}"
    budgets = _budgets(base, cand)
    return _judged(
        base,
        cand,
        worse=interval.low > allowed,
        better=interval.high < -allowed,
        reasons=(
            f"{shift} > {limit}; {budgets}",
            f"{shift}, faster beyond {limit}; {budgets}",
            f"{shift}, within {limit}; {budgets}",
        ),
        interval=interval,
    )


def _judged(
    base: SloResult,
    cand: SloResult,
    *,
    worse: bool,
    better: bool,
    reasons: tuple[str, str, str],
    interval: Interval | None,
) -> SloDelta:
    """The delta with its status; ``reasons`` are the lines for regression, improved, ok."""
    assert base.observed is not None and cand.observed is not None
    if worse:
        status, reason = Status.REGRESSION, reasons[0]
    elif better:
        status, reason = Status.IMPROVED, reasons[1]
    else:
        status, reason = Status.OK, reasons[2]
    return SloDelta(
        name=cand.name,
        window=cand.window,
        status=status,
        reason=reason,
        baseline=base,
        candidate=cand,
        delta=cand.observed - base.observed,
        interval=interval,
        budget_delta=_budget_delta(base, cand),
    )


def _budget_delta(base: SloResult, cand: SloResult) -> float | None:
    if base.error_budget_consumed is None or cand.error_budget_consumed is None:
        return None
    return cand.error_budget_consumed - base.error_budget_consumed


def _other_delta(base: SloResult, cand: SloResult, ctx: _Context) -> SloDelta:
    assert base.observed is not None and cand.observed is not None
    delta = cand.observed - base.observed
    budget_delta = _budget_delta(base, cand)
    tol = ctx.tolerance.budget
    observed = f"{fmt.observed(base)} -> {fmt.observed(cand)}"
    interval: Interval | None = None
    if (
        "availability" in cand.sli
        and _from_load(base)
        and _from_load(cand)
        and base.objective < 1
        and ctx.base_load is not None
        and ctx.cand_load is not None
        and ctx.base_load.requests
        and ctx.cand_load.requests
    ):
        ratio = _error_ratio_difference(ctx.base_load, ctx.cand_load, _z(ctx.confidence))
        budget = 1 - base.objective
        interval = Interval(ratio.estimate / budget, ratio.low / budget, ratio.high / budget)
        shift = (
            f"budget {100 * interval.estimate:+.0f} % ({100 * ctx.confidence:g} % CI "
            f"{100 * interval.low:+.0f} to {100 * interval.high:+.0f} %)"
        )
        worse, better = interval.low > tol, interval.high < -tol
    elif budget_delta is not None:
        shift = f"budget {100 * budget_delta:+.0f} %"
        worse, better = budget_delta > tol, budget_delta < -tol
    else:
        # No budget on one side: compare the observed values, the SLO's direction decides.
        worse_by = -delta if cand.comparator == "gte" else delta
        allowed = ctx.tolerance.relative * abs(base.observed)
        shift = f"observed {fmt.signed(delta, cand.unit)}"
        worse, better = worse_by > allowed, worse_by < -allowed
    limit = f"tolerance +{100 * tol:g} % of budget"
    budgets = _budgets(base, cand)
    return _judged(
        base,
        cand,
        worse=worse,
        better=better,
        reasons=(
            f"{observed}: {shift} > {limit}; {budgets}",
            f"{observed}: {shift}; {budgets}",
            f"{observed}: {shift}, within {limit}; {budgets}",
        ),
        interval=interval,
    )


def _slo_delta(base: SloResult | None, cand: SloResult | None, ctx: _Context) -> SloDelta:
    ref = cand or base
    assert ref is not None

    def result(status: Status, reason: str) -> SloDelta:
        return SloDelta(ref.name, ref.window, status, reason, base, cand)

    if cand is None:
        return result(Status.INCONCLUSIVE, "missing in the candidate")
    if base is None:
        return result(Status.NOT_COMPARED, f"new in the candidate ({cand.verdict})")
    if Verdict.SKIP in (base.verdict, cand.verdict):
        return result(Status.NOT_COMPARED, "skipped in one of the runs")
    if cand.observed is None:
        if base.observed is None:
            return result(Status.NOT_COMPARED, "no data in either run")
        return result(
            Status.INCONCLUSIVE, f"no data in the candidate (baseline {fmt.observed(base)})"
        )
    if base.observed is None:
        return result(Status.NOT_COMPARED, "no data in the baseline")
    # Without per-event data (pod start latency, a Prometheus SLI, a v1 file) two values are two
    # samples of noise: they are judged by the error budget they used, which the objective scales.
    p = _resampled_percentile(base, cand, ctx)
    delta = _other_delta(base, cand, ctx) if p is None else _latency_delta(base, cand, p, ctx)
    if cand.critical and base.verdict is Verdict.PASS and cand.verdict is Verdict.FAIL:
        reason = (
            f"critical SLO newly breached: {fmt.observed(cand)} vs objective "
            f"{fmt.objective(cand)}; {delta.reason}"
        )
        return SloDelta(
            delta.name,
            delta.window,
            Status.REGRESSION,
            reason,
            base,
            cand,
            delta.delta,
            delta.interval,
            delta.budget_delta,
        )
    return delta


def _check_deltas(baseline: Scorecard, candidate: Scorecard) -> list[CheckDelta]:
    before = {c.id: c for c in baseline.checks}
    out: list[CheckDelta] = []
    for check in candidate.checks:
        old = before.get(check.id)
        if old is None or old.verdict is not Verdict.PASS or check.verdict is Verdict.PASS:
            continue
        message = f": {check.message.splitlines()[0]}" if check.message else ""
        if check.verdict is Verdict.FAIL:
            out.append(CheckDelta(check.id, Status.REGRESSION, f"pass -> fail{message}"))
        elif check.verdict is Verdict.INCONCLUSIVE:
            out.append(CheckDelta(check.id, Status.INCONCLUSIVE, f"pass -> inconclusive{message}"))
    return out


def gate(
    baseline: Scorecard,
    candidate: Scorecard,
    *,
    tolerance: Tolerance | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> GateResult:
    """Compare ``candidate`` with ``baseline``; ``GateResult.exit_code`` is the gate's verdict."""
    if not 0.5 <= confidence < 1:
        raise GateError(f"--confidence {confidence:g}: use a value in [0.5, 1), e.g. 0.95")
    if resamples < 100:
        raise GateError(f"--resamples {resamples}: use at least 100 (default 2000)")
    tol = tolerance or Tolerance()
    b_load, c_load = baseline.load, candidate.load
    ctx = _Context(
        tolerance=tol,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        base_load=b_load,
        cand_load=c_load,
        base_dist=LatencyDistribution.from_histogram(b_load.histogram) if b_load else None,
        cand_dist=LatencyDistribution.from_histogram(c_load.histogram) if c_load else None,
    )
    cand_slos = {(s.name, s.window): s for s in candidate.slos}
    base_slos = {(s.name, s.window): s for s in baseline.slos}
    keys = list(base_slos) + [k for k in cand_slos if k not in base_slos]
    slos = [_slo_delta(base_slos.get(k), cand_slos.get(k), ctx) for k in keys]
    latency: list[LatencyDelta] = []
    if ctx.base_dist is not None and ctx.cand_dist is not None:
        for p in (50.0, 95.0, 99.0):
            latency.append(
                LatencyDelta(
                    percentile=p,
                    baseline_ms=ctx.base_dist.percentile_us(p) / 1000,
                    candidate_ms=ctx.cand_dist.percentile_us(p) / 1000,
                    interval=bootstrap_percentile_difference(
                        ctx.base_dist,
                        ctx.cand_dist,
                        p,
                        resamples=resamples,
                        confidence=confidence,
                        seed=seed,
                    ),
                )
            )
    notes = []
    if baseline.distribution.name != candidate.distribution.name:
        notes.append(
            f"different distributions ({baseline.distribution.name} vs "
            f"{candidate.distribution.name}): deltas include the platform difference"
        )
    if b_load and c_load and b_load.profile != c_load.profile:
        notes.append(f"different load profiles ({b_load.profile} vs {c_load.profile})")
    if (b_load is None) != (c_load is None):
        notes.append("only one run has load measurements: latency is compared by SLO values only")
    return GateResult(
        baseline=baseline,
        candidate=candidate,
        tolerance=tol,
        confidence=confidence,
        resamples=resamples,
        slos=slos,
        checks=_check_deltas(baseline, candidate),
        latency=latency,
        notes=notes,
    )


__all__ = [
    "CheckDelta",
    "GateError",
    "GateResult",
    "Interval",
    "LatencyDelta",
    "LatencyDistribution",
    "SloDelta",
    "Status",
    "Tolerance",
    "bootstrap_percentile_difference",
    "gate",
    "parse_tolerance",
]
