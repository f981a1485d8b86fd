"""Evaluate SLO specs against what a run measured: one ``SloResult`` per spec.

Design notes:

- Every SLO counts events (requests, probed cells, admission decisions, pod starts, recoveries)
  and which of them were bad; a threshold SLI's event is bad when its value misses the threshold
  (``op``/``value``). Verdict, observed value and consumed budget all come from the same counts,
  so they cannot disagree: the SLO holds exactly when bad / total <= 1 - target, i.e. when at most
  all of the budget was consumed.
- No events is no data: ``inconclusive`` with ``observed`` and the budget null, never a pass. An
  SLO reading Prometheus without a server is ``skip`` with the reason in ``message``; a Prometheus
  query that fails is ``inconclusive``.
- Load samples may be many (10 minutes at 1,000 req/s is 600k): the columns of
  ``gauntlet.load.samples.Samples`` are read directly when present, and each measurement is turned
  into events once per ``evaluate`` call, however many SLOs read it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from gauntlet.report.scorecard import LoadReport, SloResult, Verdict
from gauntlet.slo.burn import (
    DEFAULT_PEAK_RULE,
    Buckets,
    bucketize_indices,
    budget_consumed,
    evaluate_alert,
    peak_burn_rate,
    scale_rule,
)
from gauntlet.slo.prometheus import PrometheusError, PrometheusSource
from gauntlet.slo.spec import SloSpec


class SampleLike(Protocol):
    """One request of a load run (``gauntlet.load.samples.Sample`` satisfies it)."""

    @property
    def time_s(self) -> float: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def status(self) -> int: ...


class LoadRunLike(Protocol):
    """What evaluation needs from ``gauntlet.load.LoadRun``."""

    @property
    def report(self) -> LoadReport: ...
    @property
    def samples(self) -> Iterable[SampleLike]: ...


@dataclass(frozen=True)
class EventCounts:
    """Events that were checked and how many of them were bad (e.g. leaked cells)."""

    total: int
    bad: int

    def __post_init__(self) -> None:
        if not 0 <= self.bad <= self.total:
            raise ValueError(f"bad ({self.bad}) must be within 0..total ({self.total})")


@dataclass(frozen=True)
class Measurements:
    """What the run measured; a field left None is no data for the SLOs that read it."""

    load: LoadRunLike | None = None
    isolation: EventCounts | None = None
    """Denied cells probed conclusively (``total``) and those that connected (``bad``)."""
    admission: EventCounts | None = None
    """Admission decisions checked against the intent and the wrong ones."""
    pod_start_latencies_ms: Sequence[float] | None = None
    recovery_times_s: Sequence[float] | None = None
    unrecovered_s: Sequence[float] = ()
    """Faults after which the steady state never came back while watched, each with how long it
    was watched (a lower bound of its recovery time): bad whatever the SLO's threshold."""
    started_at: datetime | None = None
    """Start of the window Prometheus SLIs are queried over (default: the load's)."""
    finished_at: datetime | None = None


@dataclass(frozen=True)
class _Events:
    """Events of one SLI on one run: counts, optional time buckets, optional values."""

    total: float
    bad: float
    buckets: Buckets | None = None
    values: Sequence[float] | None = None
    """Threshold SLIs: every event's value, ascending."""


class _NoData(Exception):
    """The SLI has no data in this run; the message says why."""


class _Skip(Exception):
    """The SLI cannot be evaluated in this setup (no Prometheus server)."""


@dataclass
class _Context:
    m: Measurements
    prometheus: PrometheusSource | None
    cache: dict[str, object] = field(default_factory=dict)


def _bad_values(values: Sequence[float], op: str | None, threshold: float) -> list[bool]:
    if op == "lte":
        return [v > threshold for v in values]
    if op == "lt":
        return [v >= threshold for v in values]
    if op == "gte":
        return [v < threshold for v in values]
    return [v <= threshold for v in values]


def _load_columns(ctx: _Context) -> tuple[list[int], list[float], list[int], float]:
    """(completion second, latency ms, status) per request and the load's span, cached."""
    cached = ctx.cache.get("load")
    if cached is not None:
        return cached  # type: ignore[return-value]
    run = ctx.m.load
    if run is None:
        raise _NoData("no load ran")
    samples = run.samples
    done_us = getattr(samples, "done_us", None)
    latency_us = getattr(samples, "latency_us", None)
    status_col = getattr(samples, "status", None)
    if done_us is not None and latency_us is not None and status_col is not None:
        seconds = [max(0, t // 1_000_000) for t in done_us]
        latencies = [v / 1000.0 for v in latency_us]
        statuses = list(status_col)
    else:
        rows = list(samples)
        seconds = [max(0, int(s.time_s)) for s in rows]
        latencies = [s.latency_ms for s in rows]
        statuses = [s.status for s in rows]
    span = max(run.report.duration_s, max(seconds, default=0))
    ctx.cache["load"] = (seconds, latencies, statuses, span)
    return seconds, latencies, statuses, span


def _gauntlet_events(spec: SloSpec, ctx: _Context, op: str | None, value: float | None) -> _Events:
    ind = spec.indicator
    m = ctx.m
    if ind.measurement == "load":
        seconds, latencies, statuses, span = _load_columns(ctx)
        if not seconds:
            raise _NoData("the load completed no request")
        if ind.kind == "ratio":
            # Availability: an HTTP answer below 500 is good; 5xx and no answer (0) are bad.
            bad = [s == 0 or s >= 500 for s in statuses]
        else:
            assert value is not None
            bad = _bad_values(latencies, op, value)
        events = bucketize_indices(seconds, bad, span_s=span)
        ordered = _sorted(ctx, latencies) if ind.kind == "threshold" else None
        return _Events(len(bad), sum(bad), events, values=ordered)
    if ind.measurement in ("isolation", "admission"):
        counts = m.isolation if ind.measurement == "isolation" else m.admission
        if counts is None:
            raise _NoData(f"no {ind.measurement} measurement in this run")
        return _Events(counts.total, counts.bad)
    values = m.pod_start_latencies_ms if ind.measurement == "pods" else m.recovery_times_s
    never = list(m.unrecovered_s) if ind.measurement != "pods" else []
    if values is None and not never:
        raise _NoData(f"no {ind.measurement} measurement in this run")
    assert value is not None
    seen = list(values or [])
    n_bad = sum(_bad_values(seen, op, value)) + len(never)
    return _Events(len(seen) + len(never), n_bad, values=sorted(seen + never))


def _sorted(ctx: _Context, latencies: list[float]) -> list[float]:
    cached = ctx.cache.get("load.sorted")
    if cached is None:
        cached = sorted(latencies)
        ctx.cache["load.sorted"] = cached
    return cached  # type: ignore[return-value]


def _window(m: Measurements) -> tuple[datetime, datetime]:
    if m.started_at is not None and m.finished_at is not None:
        return m.started_at, m.finished_at
    if m.load is not None:
        start = m.load.report.started_at
        return start, start + timedelta(seconds=m.load.report.duration_s)
    raise _NoData("no time window to query Prometheus over (no load ran, no run window given)")


def _prometheus_events(
    spec: SloSpec, ctx: _Context, op: str | None, value: float | None
) -> _Events:
    prom = ctx.prometheus
    if prom is None:
        raise _Skip("no Prometheus server given (--prometheus-url or $GAUNTLET_PROMETHEUS_URL)")
    start, end = _window(ctx.m)
    step = prom.step_s(start, end)
    ind = spec.indicator
    try:
        if ind.kind == "threshold":
            series = prom.query_range(ind.total, start=start, end=end)
            if not series:
                raise _NoData(f"Prometheus returned no samples for {ind.total!r}")
            assert value is not None
            times = [t - start.timestamp() for t, _ in series]
            bad = _bad_values([v for _, v in series], op, value)
            buckets = _to_buckets(
                times, [1.0] * len(bad), [float(b) for b in bad], step, start, end
            )
            return _Events(len(bad), sum(bad), buckets, values=sorted(v for _, v in series))
        fetch = prom.increases if ind.counter else prom.query_range
        total = dict(fetch(ind.total, start=start, end=end))
        part_query = ind.good if ind.good is not None else ind.bad
        assert part_query is not None
        part = dict(fetch(part_query, start=start, end=end))
    except PrometheusError as exc:
        raise _NoData(str(exc)) from None
    times_abs = sorted(total)
    totals = [total[t] for t in times_abs]
    parts = [min(part.get(t, 0.0), total[t]) for t in times_abs]
    bads = parts if ind.bad is not None else [t - g for t, g in zip(totals, parts, strict=True)]
    times = [t - start.timestamp() for t in times_abs]
    return _Events(
        math.fsum(totals), math.fsum(bads), _to_buckets(times, totals, bads, step, start, end)
    )


def _to_buckets(
    times: list[float],
    totals: list[float],
    bads: list[float],
    step: float,
    start: datetime,
    end: datetime,
) -> Buckets:
    n = max(1, math.ceil((end - start).total_seconds() / step))
    total_b, bad_b = [0.0] * n, [0.0] * n
    for t, tot, b in zip(times, totals, bads, strict=True):
        # A point at t covers the step ending at t (Prometheus evaluates "up to t").
        i = min(n - 1, max(0, math.ceil(t / step - 1e-9) - 1))
        total_b[i] += tot
        bad_b[i] += max(0.0, b)
    return Buckets(total=total_b, bad=bad_b, bucket_s=step)


def _observed(events: _Events, target: float, op: str | None) -> float:
    if events.values is None:
        return (events.total - events.bad) / events.total
    values = events.values
    n = len(values)
    need = max(1, math.ceil(target * n - 1e-9))  # events that must be good
    if op in ("lte", "lt"):
        return values[need - 1]  # nearest-rank percentile at the target
    return values[n - need]


def _result(spec: SloSpec, distribution: str, window: str, **kw: object) -> SloResult:
    objective = spec.objective_for(distribution)
    is_threshold = spec.indicator.kind == "threshold"
    return SloResult.model_validate(
        {
            "name": spec.name,
            "description": spec.description,
            "sli": spec.indicator.name,
            "unit": spec.indicator.unit,
            "objective": objective.value if is_threshold else objective.target,
            "comparator": "lte" if is_threshold and spec.op in ("lte", "lt") else "gte",
            "critical": spec.critical,
            "weight": spec.weight,
            "window": window,
            "source": spec.indicator.source,
            **kw,
        }
    )


def evaluate_one(
    spec: SloSpec,
    measurements: Measurements,
    *,
    distribution: str,
    prometheus: PrometheusSource | None = None,
    window: str = "run",
) -> SloResult:
    """Evaluate one spec; see ``evaluate``."""
    return evaluate(
        [spec], measurements, distribution=distribution, prometheus=prometheus, window=window
    )[0]


def evaluate(
    specs: Sequence[SloSpec],
    measurements: Measurements,
    *,
    distribution: str,
    prometheus: PrometheusSource | None = None,
    window: str = "run",
) -> list[SloResult]:
    """One ``SloResult`` per spec, in order, with the objectives that apply on ``distribution``.

    ``window`` names what the measurements cover (``"run"``, ``"load"``, ``"chaos:<name>"``).
    Pass only the specs whose measurement this call has (``load_specs(measurement=...)``): a spec
    whose measurement is None is evaluated as no data, i.e. ``inconclusive``.
    """
    ctx = _Context(measurements, prometheus)
    results = []
    for spec in specs:
        objective = spec.objective_for(distribution)
        op, value = spec.op, objective.value
        try:
            if spec.indicator.source == "prometheus":
                events = _prometheus_events(spec, ctx, op, value)
            else:
                events = _gauntlet_events(spec, ctx, op, value)
            if events.total <= 0:
                raise _NoData("no events in the window")
        except (_Skip, _NoData) as exc:
            skipped = isinstance(exc, _Skip)
            results.append(
                _result(
                    spec,
                    distribution,
                    window,
                    observed=None,
                    verdict=Verdict.SKIP if skipped else Verdict.INCONCLUSIVE,
                    error_budget_consumed=None,
                    message=str(exc) if skipped else f"no data: {exc}",
                )
            )
            continue
        consumed = budget_consumed(events.bad, events.total, objective.target)
        assert consumed is not None
        held = events.bad <= (1.0 - objective.target) * events.total + 1e-9
        peak, alerts = None, []
        if events.buckets is not None:
            b = events.buckets
            rules = spec.alerts or (DEFAULT_PEAK_RULE,)
            scaled = [
                scale_rule(r, run_s=b.span_s, period_s=spec.period_s, bucket_s=b.bucket_s)
                for r in rules
            ]
            peak = peak_burn_rate(b, target=objective.target, rules=scaled)
            alerts = [
                evaluate_alert(b, target=objective.target, scaled=s) for s in scaled if spec.alerts
            ]
        results.append(
            _result(
                spec,
                distribution,
                window,
                observed=_observed(events, objective.target, op),
                verdict=Verdict.PASS if held else Verdict.FAIL,
                error_budget_consumed=consumed,
                peak_burn_rate=peak,
                alerts=alerts,
                message=(
                    f"{_count(events.bad)} of {_count(events.total)} events bad; "
                    f"budget allows {_count((1 - objective.target) * events.total)}"
                ),
            )
        )
    return results


def _count(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"
