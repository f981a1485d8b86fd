"""Tests for gauntlet.slo evaluation: verdicts, budgets, burn rates and alerts (known answers)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gauntlet.report.scorecard import LatencySummary, LoadReport, Verdict
from gauntlet.slo import BUDGET_CAP, EventCounts, Measurements, evaluate, load_specs
from gauntlet.slo.burn import (
    Buckets,
    bucketize,
    budget_consumed,
    evaluate_alert,
    peak_burn_rate,
    scale_rule,
)
from gauntlet.slo.spec import BurnRateRule, SloSpec

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPECS = {s.name: s for s in load_specs()}


@dataclass(frozen=True)
class Sample:
    time_s: float
    latency_ms: float
    status: int
    name: str = "GET /"
    error: str | None = None


@dataclass
class Run:
    """A stand-in for gauntlet.load.LoadRun: the report and per-request samples."""

    samples: list[Sample]
    duration_s: float
    report: LoadReport = field(init=False)

    def __post_init__(self) -> None:
        zero = LatencySummary(
            count=0, mean_ms=0, p50_ms=0, p90_ms=0, p95_ms=0, p99_ms=0, p999_ms=0, max_ms=0
        )
        self.report = LoadReport(
            profile="test",
            entrypoint="http://10.0.0.1/",
            started_at=T0,
            duration_s=self.duration_s,
            requests=len(self.samples),
            errors=0,
            rps=0,
            latency=zero,
            histogram="",
        )


def steady(
    seconds: int, rps: int, *, bad: range = range(0), latency_ms: float = 10.0, status: int = 503
) -> Run:
    """``rps`` requests each second; the seconds in ``bad`` answer ``status``."""
    samples = [
        Sample(sec + (i + 0.5) / rps, latency_ms, status if sec in bad else 200)
        for sec in range(seconds)
        for i in range(rps)
    ]
    return Run(samples, float(seconds))


def one(name: str, m: Measurements, distribution: str = "local-sandbox") -> object:
    (result,) = evaluate([SPECS[name]], m, distribution=distribution, window="load")
    return result


# --- budget math ---------------------------------------------------------------------------------


def test_budget_consumed() -> None:
    assert budget_consumed(0, 0, 0.999) is None
    assert budget_consumed(1, 1000, 0.999) == pytest.approx(1.0)
    assert budget_consumed(5, 1000, 0.99) == pytest.approx(0.5)
    assert budget_consumed(0, 10, 1.0) == 0.0
    assert budget_consumed(1, 10, 1.0) == BUDGET_CAP  # no budget: capped, finite
    assert budget_consumed(1000, 1000, 0.999999999) == BUDGET_CAP


@given(
    total=st.integers(1, 10_000),
    bad=st.integers(0, 10_000),
    more=st.integers(0, 100),
    target=st.floats(0.5, 1.0),
)
def test_budget_consumed_is_monotone_in_errors(
    total: int, bad: int, more: int, target: float
) -> None:
    bad = min(bad, total)
    worse = min(bad + more, total)
    a, b = budget_consumed(bad, total, target), budget_consumed(worse, total, target)
    assert a is not None and b is not None
    assert 0 <= a <= b <= BUDGET_CAP


# --- availability --------------------------------------------------------------------------------


def test_availability_pass_and_fail_with_budget() -> None:
    ok = one("availability", Measurements(load=steady(100, 10)))
    assert (ok.verdict, ok.observed, ok.error_budget_consumed) == (Verdict.PASS, 1.0, 0.0)
    assert ok.critical and ok.weight == 3 and ok.window == "load" and ok.source == "gauntlet"
    assert ok.objective == 0.999 and ok.comparator == "gte" and ok.unit == "ratio"

    # 1 bad second of 100 at 10 rps: 10 / 1000 bad = 1 %, budget 0.1 % -> 10x consumed.
    bad = one("availability", Measurements(load=steady(100, 10, bad=range(50, 51))))
    assert bad.verdict is Verdict.FAIL
    assert bad.observed == pytest.approx(0.99)
    assert bad.error_budget_consumed == pytest.approx(10.0)
    assert "10 of 1000 events bad" in bad.message


def test_availability_counts_connection_errors_not_4xx() -> None:
    run = steady(10, 100, bad=range(0, 10), status=404)
    assert one("availability", Measurements(load=run)).verdict is Verdict.PASS
    run = steady(10, 100, bad=range(0, 10), status=0)  # no answer at all
    assert one("availability", Measurements(load=run)).observed == 0.0


def test_per_distribution_target() -> None:
    # 0.3 % errors: breaches 99.9 % (local sandbox) but holds 99.5 % (kind).
    run = steady(100, 1000, bad=range(0))
    samples = [replace(s, status=503) if i % 1000 < 3 else s for i, s in enumerate(run.samples)]
    run = Run(samples, 100)
    assert one("availability", Measurements(load=run)).verdict is Verdict.FAIL
    on_kind = one("availability", Measurements(load=run), distribution="kind")
    assert on_kind.verdict is Verdict.PASS
    assert on_kind.objective == 0.995
    assert on_kind.error_budget_consumed == pytest.approx(0.6)


# --- latency -------------------------------------------------------------------------------------


def test_latency_percentile_against_threshold() -> None:
    # 94 fast + 6 slow per 100 requests: p95 is slow, so p95 <= 200 ms fails; p99 too.
    samples = [Sample(i / 100, 500.0 if i % 100 >= 94 else 20.0, 200) for i in range(10_000)]
    run = Run(samples, 100)
    p95 = one("latency-p95", Measurements(load=run))
    assert p95.verdict is Verdict.FAIL
    assert (p95.observed, p95.objective, p95.comparator, p95.unit) == (500.0, 200, "lte", "ms")
    assert p95.error_budget_consumed == pytest.approx(0.06 / 0.05)
    # On EKS the threshold is 400 ms: still slower.
    assert one("latency-p95", Measurements(load=run), "eks").verdict is Verdict.FAIL
    # 5 slow per 100 is exactly the budget: p95 (nearest rank) is fast -> pass at 100 %.
    samples = [Sample(i / 100, 500.0 if i % 100 >= 95 else 20.0, 200) for i in range(10_000)]
    edge = one("latency-p95", Measurements(load=Run(samples, 100)))
    assert edge.verdict is Verdict.PASS
    assert edge.observed == 20.0
    assert edge.error_budget_consumed == pytest.approx(1.0)


# --- no data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_no_data_is_inconclusive_never_pass(name: str) -> None:
    result = one(name, Measurements())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.observed is None and result.error_budget_consumed is None
    assert result.message.startswith("no data")


def test_empty_measurements_are_no_data() -> None:
    assert one("availability", Measurements(load=Run([], 10))).verdict is Verdict.INCONCLUSIVE
    empty = Measurements(isolation=EventCounts(0, 0), pod_start_latencies_ms=[])
    assert one("isolation-integrity", empty).verdict is Verdict.INCONCLUSIVE
    assert one("pod-start-latency", empty).verdict is Verdict.INCONCLUSIVE


def test_counts_and_values_measurements() -> None:
    held = one("isolation-integrity", Measurements(isolation=EventCounts(120, 0)))
    assert (held.verdict, held.observed, held.error_budget_consumed) == (Verdict.PASS, 1.0, 0.0)
    assert held.peak_burn_rate is None and held.alerts == []
    leak = one("isolation-integrity", Measurements(isolation=EventCounts(120, 1)))
    assert leak.verdict is Verdict.FAIL
    assert leak.error_budget_consumed == BUDGET_CAP
    wrong = one("admission-correctness", Measurements(admission=EventCounts(40, 2)))
    assert wrong.verdict is Verdict.FAIL and wrong.observed == pytest.approx(0.95)
    pods = one("pod-start-latency", Measurements(pod_start_latencies_ms=[100, 300, 200]))
    assert (pods.verdict, pods.observed) == (Verdict.PASS, 300)
    slow = one("recovery-time", Measurements(recovery_times_s=[12, 75]))
    assert (slow.verdict, slow.observed) == (Verdict.FAIL, 75)
    assert one("recovery-time", Measurements(recovery_times_s=[12, 75]), "kind").verdict is (
        Verdict.PASS
    )
    with pytest.raises(ValueError):
        EventCounts(1, 2)


def test_prometheus_sli_without_server_is_skipped(tmp_path: object) -> None:
    spec = SPECS["availability"]
    prom = replace(spec, indicator=replace(spec.indicator, source="prometheus", total="up"))
    (result,) = evaluate([prom], Measurements(), distribution="kind")
    assert result.verdict is Verdict.SKIP
    assert "--prometheus-url" in result.message


# --- burn rates and alerts -----------------------------------------------------------------------

FAST = BurnRateRule("fast", threshold=14.4, inclusive=True, long_window_s=3600, short_window_s=300)
SLOW = BurnRateRule("slow", threshold=6, inclusive=True, long_window_s=21600, short_window_s=1800)


def test_scaling_to_the_run() -> None:
    # A 30-day period squeezed into 30 days of run keeps the windows.
    same = scale_rule(FAST, run_s=30 * 86400, period_s=30 * 86400, bucket_s=60)
    assert (same.long_n, same.short_n) == (60, 5)
    # A 1-day run: windows shrink by 30 (2 min / 10 s).
    day = scale_rule(FAST, run_s=86400, period_s=30 * 86400, bucket_s=1)
    assert (day.long_n, day.short_n) == (120, 10)
    # A 10-minute run: the short window would be 0.07 s; stretched to one bucket, ratio kept.
    short = scale_rule(FAST, run_s=600, period_s=30 * 86400, bucket_s=1)
    assert (short.long_n, short.short_n) == (12, 1)
    # Never longer than the run.
    tiny = scale_rule(SLOW, run_s=5, period_s=30 * 86400, bucket_s=1)
    assert (tiny.long_n, tiny.short_n) == (5, 1)


def test_alert_fires_when_both_windows_burn() -> None:
    # 600 s at 100 req/s, target 99.9 %; seconds 300..304 fail completely.
    times = [s + i / 100 for s in range(600) for i in range(100)]
    bad = [300 <= t < 305 for t in times]
    buckets = bucketize(times, bad, span_s=600)
    scaled = scale_rule(FAST, run_s=600, period_s=30 * 86400, bucket_s=1)  # 12 s / 1 s
    alert = evaluate_alert(buckets, target=0.999, scaled=scaled)
    # At the end of second 300 (t = 301): short window 100 % bad (burn 1000), long window
    # 100/1200 bad = burn 83.3: both >= 14.4.
    assert alert.fired and alert.first_fired_s == 301
    assert (alert.long_window_s, alert.short_window_s) == (12, 1)
    # Peak burn rate over the 12 s window: 5 of 12 seconds bad -> 5/12 / 0.001.
    peak = peak_burn_rate(buckets, target=0.999, rules=[scaled])
    assert peak == pytest.approx(5 / 12 / 0.001)


def test_short_window_stops_a_stale_alert() -> None:
    # Budget burnt early, then clean: the long window alone stays high, the short one resets.
    buckets = Buckets(total=[100.0] * 20, bad=[5.0] * 2 + [0.0] * 18)
    rule = BurnRateRule("r", threshold=10, inclusive=True, long_window_s=10, short_window_s=1)
    scaled = scale_rule(rule, run_s=20, period_s=20, bucket_s=1)
    alert = evaluate_alert(buckets, target=0.99, scaled=scaled)
    assert alert.first_fired_s is None or alert.first_fired_s <= 2
    later = Buckets(total=[100.0] * 20, bad=[0.0] * 10 + [2.0] + [0.0] * 9)
    # 2 % errors in one second: short window burn 2, below 10 -> no alert.
    assert not evaluate_alert(later, target=0.99, scaled=scaled).fired


def test_alert_after_needs_a_sustained_burn() -> None:
    rule = BurnRateRule(
        "r", threshold=10, inclusive=True, long_window_s=2, short_window_s=1, alert_after_s=3
    )
    scaled = scale_rule(rule, run_s=30, period_s=30, bucket_s=1)
    blip = Buckets(total=[10.0] * 30, bad=[0.0] * 10 + [10.0] * 3 + [0.0] * 17)
    assert not evaluate_alert(blip, target=0.99, scaled=scaled).fired
    sustained = Buckets(total=[10.0] * 30, bad=[0.0] * 10 + [10.0] * 5 + [0.0] * 15)
    alert = evaluate_alert(sustained, target=0.99, scaled=scaled)
    assert alert.fired and alert.first_fired_s == 14  # held 4 buckets: 10, 11, 12, then 13


def test_gt_is_strict() -> None:
    buckets = Buckets(total=[100.0] * 4, bad=[1.0] * 4)  # burn exactly 1.0 at 99 %
    for inclusive, fired in ((True, True), (False, False)):
        rule = BurnRateRule(
            "r", threshold=1, inclusive=inclusive, long_window_s=2, short_window_s=1
        )
        scaled = scale_rule(rule, run_s=4, period_s=4, bucket_s=1)
        assert evaluate_alert(buckets, target=0.99, scaled=scaled).fired is fired


def test_evaluate_reports_alerts_and_peak() -> None:
    run = steady(600, 10, bad=range(300, 310))
    result = one("availability", Measurements(load=run))
    assert [a.name for a in result.alerts] == ["fast-burn", "slow-burn", "budget-drain"]
    assert all(a.fired for a in result.alerts)
    fast = result.alerts[0]
    assert fast.first_fired_s == 301
    assert result.peak_burn_rate == pytest.approx(10 / 12 / 0.001)
    quiet = one("availability", Measurements(load=steady(600, 10)))
    assert quiet.peak_burn_rate == 0.0
    assert not any(a.fired for a in quiet.alerts)


def test_specs_without_alerts_still_get_a_peak(tmp_path: object) -> None:
    spec: SloSpec = replace(SPECS["availability"], alerts=())
    (result,) = evaluate(
        [spec], Measurements(load=steady(60, 10, bad=range(0, 1))), distribution="x"
    )
    assert result.alerts == []
    assert result.peak_burn_rate == pytest.approx(1 / 12 / 0.001)


def test_evaluation_is_fast_enough_for_a_long_run() -> None:
    import time

    run = steady(600, 1000)
    start = time.perf_counter()
    evaluate(load_specs(measurement="load"), Measurements(load=run), distribution="kind")
    # 600k requests; the budget for scoring and reports is 5 s (issue 5), leave room for both.
    assert time.perf_counter() - start < 4.0


@given(
    latencies=st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=300),
    threshold=st.floats(1, 999),
    target=st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_threshold_verdict_agrees_with_observed_percentile(
    latencies: list[float], threshold: float, target: float
) -> None:
    spec = replace(SPECS["latency-p95"], value=threshold, target=target, overrides={})
    run = Run([Sample(i / 100, v, 200) for i, v in enumerate(latencies)], 3.0)
    (result,) = evaluate([spec], Measurements(load=run), distribution="local-sandbox")
    assert result.observed is not None and result.error_budget_consumed is not None
    # The nearest-rank percentile at the target is within the threshold exactly when the SLO
    # holds, and then at most the whole budget was consumed.
    assert (result.observed <= threshold) == (result.verdict is Verdict.PASS)
    assert (result.verdict is Verdict.PASS) == (result.error_budget_consumed <= 1 + 1e-9)
