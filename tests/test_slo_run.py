"""Tests for gauntlet.slo.run: run-level SLOs from what the suites recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gauntlet.report.scorecard import Check, MatrixCell, SloResult, Verdict
from gauntlet.slo import EventCounts, load_specs
from gauntlet.slo.run import admission_counts, evaluate_run, isolation_counts, merge

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPECS = load_specs()


def check(suite: str, verdict: Verdict, n: int = 0, **counts: int) -> Check:
    return Check(suite=suite, id=f"{suite}/{n}", title="t", verdict=verdict, counts=counts)


def cell(expected: bool, observed: str, n: int = 0) -> MatrixCell:
    return MatrixCell(
        src=f"a/{n}", dst="b/api", port=80, protocol="TCP", expected=expected, observed=observed
    )  # type: ignore[arg-type]


def run(checks: list[Check], matrix: list[MatrixCell] = [], pods: list[float] | None = None):  # noqa: B006
    return {
        r.name: r
        for r in evaluate_run(
            SPECS,
            checks=checks,
            matrix=matrix,
            pod_start_latencies_ms=pods,
            started_at=T0,
            finished_at=T0 + timedelta(seconds=10),
            distribution="local-sandbox",
            prometheus=None,
        )
    }


def test_isolation_counts() -> None:
    rows = [
        check("isolation", Verdict.PASS, 0, cells=10, expected_allowed=4),
        check("isolation", Verdict.PASS, 1, cells=10, expected_allowed=6),
        check("isolation", Verdict.INCONCLUSIVE, 2, cells=10, expected_allowed=6),
    ]
    assert isolation_counts(rows, []) == EventCounts(10, 0)
    failed = [*rows, check("isolation", Verdict.FAIL, 3, cells=10, expected_allowed=6)]
    assert isolation_counts(failed, []) is None  # leaks vs blocks unknown without a matrix
    matrix = [cell(False, "pass"), cell(False, "leak", 1), cell(True, "blocked", 2)]
    matrix.append(cell(False, "inconclusive", 3))
    assert isolation_counts(failed, matrix) == EventCounts(2, 1)


def test_admission_counts() -> None:
    checks = [
        check("policy", Verdict.PASS, 0),
        check("policy", Verdict.FAIL, 1),
        check("policy", Verdict.INCONCLUSIVE, 2),
        check("isolation", Verdict.FAIL, 3),
    ]
    assert admission_counts(checks) == EventCounts(2, 1)


def test_only_the_suites_that_ran_have_run_level_slos() -> None:
    # A load-only run: nothing about isolation or admission, no deployment measured.
    assert run([check("load", Verdict.PASS)]) == {}
    results = run(
        [
            check("isolation", Verdict.PASS, cells=5, expected_allowed=1),
            check("policy", Verdict.FAIL),
        ],
        pods=[100.0, 200.0],
    )
    assert set(results) == {"isolation-integrity", "admission-correctness", "pod-start-latency"}
    assert results["isolation-integrity"].verdict is Verdict.PASS
    assert results["admission-correctness"].verdict is Verdict.FAIL
    assert results["pod-start-latency"].observed == 200.0
    # A suite that ran but observed nothing: no data, inconclusive.
    empty = run([check("isolation", Verdict.INCONCLUSIVE, cells=5, expected_allowed=1)])
    assert empty["isolation-integrity"].verdict is Verdict.INCONCLUSIVE


def test_published_results_win() -> None:
    def slo(name: str, window: str, verdict: Verdict) -> SloResult:
        return SloResult(
            name=name,
            objective=1,
            observed=1,
            verdict=verdict,
            error_budget_consumed=0,
            window=window,
        )

    published = [
        slo("isolation-integrity", "run", Verdict.FAIL),
        slo("availability", "load", Verdict.PASS),
    ]
    run_level = [
        slo("isolation-integrity", "run", Verdict.PASS),
        slo("isolation-integrity", "chaos:x", Verdict.PASS),
    ]
    merged = merge(published, run_level)
    assert [(s.name, s.window, s.verdict) for s in merged] == [
        ("isolation-integrity", "run", Verdict.FAIL),
        ("availability", "load", Verdict.PASS),
        ("isolation-integrity", "chaos:x", Verdict.PASS),
    ]
