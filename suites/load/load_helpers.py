"""Helpers of the load suite: running the profile's load once per session, the summary table,
and the SLO measurements."""

from __future__ import annotations

from dataclasses import dataclass

from gauntlet.load.runner import LoadRun
from gauntlet.report.scorecard import LoadReport, SloResult


@dataclass(frozen=True)
class LoadOutcome:
    """The session's load run, or why there is none (then every load check is inconclusive)."""

    run: LoadRun | None
    source: str
    """The pod the load came from (``ns/pod``), or empty."""
    service: str
    """The loaded Service, ``ns/name:port``."""
    problem: str = ""


def summary(report: LoadReport, *, source: str, service: str) -> str:
    """A plain-text summary for the check's evidence and the terminal."""
    lat = report.latency
    share = report.errors / report.requests if report.requests else 0.0
    statuses = ", ".join(f"{k} x{v}" for k, v in report.status_counts.items()) or "-"
    errors = ", ".join(f"{k} x{v}" for k, v in report.error_counts.items()) or "-"
    phases = ", ".join(f"{p.name} {p.start_s:.1f}-{p.end_s:.1f} s" for p in report.phases) or "-"
    return "\n".join(
        [
            f"profile {report.profile}: {service} at {report.entrypoint}, load from {source}, "
            f"{report.duration_s:.1f} s",
            f"requests {report.requests}, errors {report.errors} ({share:.2%}), "
            f"{report.rps:.1f} req/s",
            f"latency ms: mean {lat.mean_ms:.2f}  p50 {lat.p50_ms:.2f}  p90 {lat.p90_ms:.2f}  "
            f"p95 {lat.p95_ms:.2f}  p99 {lat.p99_ms:.2f}  p99.9 {lat.p999_ms:.2f}  "
            f"max {lat.max_ms:.2f}",
            f"status: {statuses}",
            f"errors: {errors}",
            f"phases: {phases}",
        ]
    )


def slo_table(results: list[SloResult]) -> str:
    """One line per SLO: verdict, observed against objective, budget, peak burn rate."""

    def num(value: float | None, unit: str) -> str:
        if value is None:
            return "no data"
        return f"{value:.4f}" if unit == "ratio" else f"{value:.1f} {unit}"

    rows = [("SLO", "verdict", "observed", "objective", "budget used", "peak burn")]
    for r in results:
        op = "<=" if r.comparator == "lte" else ">="
        budget = "-" if r.error_budget_consumed is None else f"{r.error_budget_consumed:.0%}"
        burn = "-" if r.peak_burn_rate is None else f"{r.peak_burn_rate:.1f}x"
        rows.append(
            (
                r.name,
                r.verdict.value.upper(),
                num(r.observed, r.unit),
                f"{op} {num(r.objective, r.unit)}",
                budget,
                burn,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
