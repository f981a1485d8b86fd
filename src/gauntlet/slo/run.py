"""Run-level SLOs: the ones measured by a run as a whole rather than by one suite.

Design notes:

- At the end of a session the pytest plugin hands over what the suites recorded (checks, the
  published isolation matrix, pod start latencies of the deployment); this module turns that into
  ``Measurements`` and evaluates the SLOs whose measurement was part of the run. An SLO whose suite
  did not run is left out (``--suite load`` says nothing about isolation); one whose suite ran but
  observed nothing is ``inconclusive``.
- Isolation counts come from the published matrix when there is one (exact: every denied cell
  and whether it leaked); otherwise from the isolation rows that passed. A failed row without a
  matrix does not say how many of its mismatches were leaks rather than blocks, so then the leak
  count is unknown: no data.
- Results a suite published win over run-level ones of the same name and window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gauntlet.report.scorecard import Check, MatrixCell, SloResult, Verdict
from gauntlet.slo.evaluate import EventCounts, Measurements, evaluate
from gauntlet.slo.prometheus import PrometheusSource
from gauntlet.slo.spec import SloSpec


def isolation_counts(checks: Sequence[Check], matrix: Sequence[MatrixCell]) -> EventCounts | None:
    """Denied cells probed conclusively and those that leaked (None: unknown)."""
    if matrix:
        denied = [c for c in matrix if not c.expected and c.observed in ("pass", "leak")]
        return EventCounts(len(denied), sum(1 for c in denied if c.observed == "leak"))
    rows = [c for c in checks if c.suite == "isolation"]
    if any(c.verdict is Verdict.FAIL for c in rows):
        return None
    total = sum(
        c.counts.get("cells", 0) - c.counts.get("expected_allowed", 0)
        for c in rows
        if c.verdict is Verdict.PASS
    )
    return EventCounts(total, 0)


def admission_counts(checks: Sequence[Check]) -> EventCounts:
    """Policy-suite checks that observed an answer (passed or failed) and those that failed."""
    judged = [
        c for c in checks if c.suite == "policy" and c.verdict in (Verdict.PASS, Verdict.FAIL)
    ]
    return EventCounts(len(judged), sum(1 for c in judged if c.verdict is Verdict.FAIL))


def evaluate_run(
    specs: Sequence[SloSpec],
    *,
    checks: Sequence[Check],
    matrix: Sequence[MatrixCell],
    pod_start_latencies_ms: Sequence[float] | None,
    started_at: datetime,
    finished_at: datetime,
    distribution: str,
    prometheus: PrometheusSource | None,
) -> list[SloResult]:
    """Evaluate the run-level SLOs among ``specs`` whose measurement was part of the run."""
    ran = {c.suite for c in checks if c.verdict is not Verdict.SKIP}
    in_scope = {
        "isolation": "isolation" in ran or bool(matrix),
        "admission": "policy" in ran,
        "pods": pod_start_latencies_ms is not None,
        "prometheus": True,
    }
    measurements = Measurements(
        isolation=isolation_counts(checks, matrix) if in_scope["isolation"] else None,
        admission=admission_counts(checks) if in_scope["admission"] else None,
        pod_start_latencies_ms=pod_start_latencies_ms,
        started_at=started_at,
        finished_at=finished_at,
    )
    wanted = [s for s in specs if in_scope.get(s.measurement, False)]
    return evaluate(wanted, measurements, distribution=distribution, prometheus=prometheus)


def merge(published: Sequence[SloResult], run_level: Sequence[SloResult]) -> list[SloResult]:
    """Published results, then run-level ones not already published (same name and window)."""
    seen = {(s.name, s.window) for s in published}
    return [*published, *(s for s in run_level if (s.name, s.window) not in seen)]
