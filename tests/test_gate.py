"""Tests for gauntlet.report.gate (``gauntlet gate``): synthetic baseline and candidate runs."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from gauntlet.cli import main
from gauntlet.exitcodes import ExitCode
from gauntlet.report.gate import (
    GateError,
    LatencyDistribution,
    Status,
    Tolerance,
    bootstrap_percentile_difference,
    gate,
    parse_tolerance,
)
from gauntlet.report.scorecard import Scorecard, Verdict, write_scorecard
from gauntlet.report.synthetic import synthetic_scorecard


def run(seed: int = 0, **kw: object) -> Scorecard:
    return synthetic_scorecard(duration_s=60, rps=200, checks=24, seed=seed, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def baseline() -> Scorecard:
    return run(0)


def line(result_lines: list[str], name: str) -> str:
    return next(x for x in result_lines if f"  {name}" in x)


def test_a_run_against_itself_passes(baseline: Scorecard) -> None:
    # The baseline has a failed check and a breached SLO: the gate judges change, not health.
    assert baseline.verdict is Verdict.FAIL
    result = gate(baseline, baseline)
    assert result.exit_code is ExitCode.OK
    assert {s.status for s in result.slos} <= {Status.OK, Status.NOT_COMPARED}
    p95 = next(s for s in result.slos if s.name == "latency-p95")
    assert p95.interval is not None
    assert p95.interval.low < 0 < p95.interval.high  # a self-comparison straddles zero
    assert (
        result.lines()[-1] == "gate: PASS: no significant regression beyond tolerance (exit 0 OK)"
    )


def test_planted_slowness_fails_with_one_line_per_slo(baseline: Scorecard) -> None:
    slow = run(1, extra_latency_ms=50)
    result = gate(baseline, slow)
    assert result.exit_code is ExitCode.SLO_BREACHED
    lines = result.lines()
    p95 = line(lines, "latency-p95")
    assert p95.lstrip().startswith("REGRESSION")
    assert "p95 +49" in p95 or "p95 +50" in p95
    assert "> tolerance 5 ms" in p95
    assert "95 % CI +4" in p95
    assert line(lines, "latency-p99").lstrip().startswith("REGRESSION")
    assert line(lines, "availability").lstrip().startswith("OK")
    assert lines[-1].startswith("gate: FAIL: regressed: latency-p95 [load], latency-p99 [load]")
    delta = next(s for s in result.slos if s.name == "latency-p95")
    assert delta.interval is not None
    assert 45 < delta.interval.low <= delta.interval.estimate <= delta.interval.high < 55


def test_noise_within_tolerance_passes(baseline: Scorecard) -> None:
    # Another sample of the same service, 1.5 ms slower: measurable, but within 5 ms.
    result = gate(baseline, run(7, extra_latency_ms=1.5))
    assert result.exit_code is ExitCode.OK, "\n".join(result.lines())
    p95 = next(s for s in result.slos if s.name == "latency-p95")
    assert p95.status is Status.OK
    assert p95.interval is not None and p95.interval.high < 5


def test_tolerance_decides_a_non_critical_slo_but_not_a_new_critical_breach(
    baseline: Scorecard,
) -> None:
    slow = run(1, extra_latency_ms=50)
    result = gate(baseline, slow, tolerance=parse_tolerance(["60ms"]))
    by_name = {s.name: s for s in result.slos}
    assert by_name["latency-p99"].status is Status.OK  # non-critical, within 60 ms
    p95 = by_name["latency-p95"]
    assert p95.status is Status.REGRESSION  # critical, held before, breached now
    assert p95.reason.startswith("critical SLO newly breached: 72")


def test_gate_is_deterministic(baseline: Scorecard) -> None:
    candidate = run(3, extra_latency_ms=2)
    assert gate(baseline, candidate).lines() == gate(baseline, candidate).lines()
    assert gate(baseline, candidate, seed=1).lines() != gate(baseline, candidate).lines()


def test_more_errors_regress_availability(baseline: Scorecard) -> None:
    from gauntlet.report.synthetic import synthetic_load, synthetic_slos

    load, ordered = synthetic_load(duration_s=60, rps=200, seed=5, error_ratio=0.003)
    flaky = baseline.model_copy(
        update={"load": load, "slos": synthetic_slos(load, ordered, leaks=1)}
    )
    result = gate(baseline, flaky)
    availability = next(s for s in result.slos if s.name == "availability")
    assert availability.status is Status.REGRESSION, availability.reason
    assert "CI" in availability.reason
    assert result.exit_code is ExitCode.SLO_BREACHED


def test_missing_data_in_the_candidate_is_inconclusive(baseline: Scorecard) -> None:
    slos = [
        s.model_copy(
            update={
                "observed": None,
                "verdict": Verdict.INCONCLUSIVE,
                "error_budget_consumed": None,
            }
        )
        if s.name == "availability"
        else s
        for s in baseline.slos
    ]
    result = gate(baseline, baseline.model_copy(update={"slos": slos}))
    assert result.exit_code is ExitCode.INCONCLUSIVE
    assert "no data in the candidate (baseline 99." in line(result.lines(), "availability")
    gone = gate(baseline, baseline.model_copy(update={"slos": baseline.slos[1:]}))
    assert gone.exit_code is ExitCode.INCONCLUSIVE
    assert "missing in the candidate" in line(gone.lines(), "availability")


def test_a_check_that_passed_and_now_fails_fails_the_gate(baseline: Scorecard) -> None:
    checks = list(baseline.checks)
    index = next(i for i, c in enumerate(checks) if c.verdict is Verdict.PASS)
    checks[index] = checks[index].model_copy(
        update={"verdict": Verdict.FAIL, "message": "team-alpha/api-0 reached team-beta\nmore"}
    )
    result = gate(baseline, baseline.model_copy(update={"checks": checks}))
    assert result.exit_code is ExitCode.CONFORMANCE_FAILED
    assert f"{checks[index].id}  pass -> fail: team-alpha/api-0 reached team-beta" in "\n".join(
        result.lines()
    )


def test_without_histograms_latency_is_judged_by_its_budget(baseline: Scorecard) -> None:
    assert baseline.load is not None
    no_hist = baseline.model_copy(
        update={"load": baseline.load.model_copy(update={"histogram": ""})}
    )
    slow = run(1, extra_latency_ms=50)
    result = gate(no_hist, slow)
    by_name = {s.name: s for s in result.slos}
    p99 = by_name["latency-p99"]  # 36 -> 87 ms against 120 ms: a few % of its budget
    assert p99.interval is None
    assert p99.status is Status.OK, p99.reason
    assert p99.reason.startswith("36")
    assert "ms: budget +" in p99.reason
    p95 = by_name["latency-p95"]  # 23 -> 72 ms against 50 ms: breached, and its budget is gone
    assert p95.status is Status.REGRESSION
    assert p95.interval is None


def test_distribution_percentiles_match_exact_values() -> None:
    from gauntlet.report.synthetic import synthetic_load

    load, ordered = synthetic_load(duration_s=20, rps=500, seed=2)
    dist = LatencyDistribution.from_histogram(load.histogram)
    assert dist is not None
    assert dist.count == len(ordered)
    for p in (50, 95, 99, 99.9):
        exact = ordered[math.ceil(p / 100 * len(ordered) - 1e-9) - 1]
        assert abs(dist.percentile_us(p) - exact) <= exact * 0.001 + 1  # 3 significant digits


def test_bootstrap_interval_covers_the_true_difference() -> None:
    """Two samples of distributions 3 ms apart: the 95 % interval should contain 3 ms in most
    of 20 repetitions (a sanity check of the Beta order-statistic resampling)."""
    from hdrh.histogram import HdrHistogram

    def dist(seed: int, shift_us: int) -> LatencyDistribution:
        rng = random.Random(seed)
        hist = HdrHistogram(1, 60_000_000, 3)
        for _ in range(4000):
            hist.record_value(int(rng.expovariate(1 / 10_000)) + 1000 + shift_us)
        d = LatencyDistribution.from_histogram(hist.encode().decode())
        assert d is not None
        return d

    covered = 0
    for i in range(20):
        interval = bootstrap_percentile_difference(
            dist(2 * i, 0), dist(2 * i + 1, 3000), 50, resamples=500
        )
        covered += interval.low <= 3.0 <= interval.high
    assert covered >= 16


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([], Tolerance()),
        (["20%"], Tolerance(relative=0.2)),
        (["5ms,budget=25%"], Tolerance(latency_ms=5, budget=0.25)),
        (["0.01s", "budget=0.5", "0%"], Tolerance(relative=0, latency_ms=10, budget=0.5)),
    ],
)
def test_parse_tolerance(specs: list[str], expected: Tolerance) -> None:
    assert parse_tolerance(specs) == expected


@pytest.mark.parametrize("spec", ["fast", "-5ms", "budget=lots", "x%"])
def test_parse_tolerance_rejects_with_a_hint(spec: str) -> None:
    with pytest.raises(GateError, match="tolerance"):
        parse_tolerance([spec])


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_gate_exit_codes(
    tmp_path: Path, baseline: Scorecard, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scorecard(baseline, tmp_path / "base" / "scorecard.json")
    write_scorecard(run(1, extra_latency_ms=50), tmp_path / "slow.json")

    def gate_cli(base: str, candidate: str, *extra: str) -> int:
        paths = ["--baseline", str(tmp_path / base), "--candidate", str(tmp_path / candidate)]
        return main(["gate", *paths, *extra])

    assert gate_cli("base", "base") == ExitCode.OK
    assert gate_cli("base", "slow.json") == ExitCode.SLO_BREACHED
    assert "REGRESSION  latency-p95 [load]" in capsys.readouterr().out
    assert gate_cli("nope", "base") == ExitCode.USAGE_ERROR
    assert gate_cli("base", "base", "--tolerance", "soon") == ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert "nope: no scorecard here" in err
    assert "--tolerance 'soon'" in err
