"""Which experiments of ``scenarios/chaos/`` the chaos suite runs, and how a result reads."""

from __future__ import annotations

from pathlib import Path

from gauntlet.chaos.experiment import SCENARIOS, Experiment, ExperimentError, load_experiment
from gauntlet.report.scorecard import ChaosExperimentReport


def selected(profile: str, directory: Path = SCENARIOS) -> list[Path]:
    """Every experiment file; the smoke profile keeps those marked ``smoke: true``."""
    paths = sorted(directory.glob("*.yaml"))
    if profile != "smoke":
        return paths
    out = []
    for path in paths:
        try:
            if load_experiment(path).settings.smoke:
                out.append(path)
        except ExperimentError:
            out.append(path)  # collected so that the broken file fails its own check
    return out


def target_family(target_name: str) -> str:
    return "local" if target_name == "local" else "kubernetes"


def runs_on(exp: Experiment, target_name: str) -> bool:
    return target_family(target_name) in exp.settings.targets


def summary(r: ChaosExperimentReport) -> str:
    def fmt(v: float | None, unit: str = "s") -> str:
        return "-" if v is None else f"{v:.2f} {unit}"

    lines = [
        f"{r.title} [{r.verdict.value.upper()}]: {r.message}",
        f"journal status {r.status}; steady state before {r.steady_state_before}, "
        f"after {r.steady_state_after}; deviated {r.deviated}; rollbacks ok {r.rollbacks_ok}",
        f"faults {', '.join(r.faults) or '-'}: window {fmt(r.fault_start_s)} .. "
        f"{fmt(r.fault_end_s)}; recovery {fmt(r.recovery_time_s)} "
        f"(resolution {r.recovery_resolution_s * 1000:.0f} ms)",
        f"isolation: {r.isolation_rounds} rounds, {len(r.leaks)} leaking cell(s)",
    ]
    for w in r.windows:
        budget = "-" if w.error_budget_consumed is None else f"{w.error_budget_consumed:.0%}"
        burn = "-" if w.peak_burn_rate is None else f"{w.peak_burn_rate:.1f}x"
        lines.append(
            f"  {w.name:<8} {w.start_s:6.2f}-{w.end_s:6.2f} s  {w.requests:6d} req  "
            f"{w.errors:4d} err  p95 {fmt(w.p95_ms, 'ms')}  budget {budget}  peak burn {burn}"
        )
    for lk in r.leaks:
        lines.append(
            f"  LEAK {lk.src} -> {lk.dst}:{lk.port}/{lk.protocol} at {lk.start_s:.2f}-"
            f"{lk.end_s:.2f} s ({lk.rounds} rounds, during fault: {lk.during_fault})"
        )
    return "\n".join(lines)


def timeline(r: ChaosExperimentReport) -> str:
    return "\n".join(f"{e.t_s:8.2f} s  {e.kind:<15} {e.message}" for e in r.events)
