"""From what a chaos run observed to its report, its windows and its SLOs.

Windows (seconds since the experiment started): ``before`` the first fault, ``fault`` while a
held fault is in place, ``recovery`` from the fault's end (its injection, for a single blow such
as a pod kill) until the steady state is back, ``after`` from there to the end. Recovery time is
measured from the fault's end: a partition held 10 s is not a slow recovery.

Verdict of an experiment, most severe first: the steady state did not hold *before* the fault
(nothing can be learnt: inconclusive); a fault this target cannot undergo (skip); the user
interrupted it (inconclusive); a leak, a deviation after the fault, no recovery, a failed
rollback or the safeguard firing (fail); no load ran while the experiment claims "under load"
(inconclusive); else pass.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gauntlet.chaos.context import ChaosContext
from gauntlet.chaos.experiment import Experiment
from gauntlet.chaos.watch import LeakSpan, Sample, recovery
from gauntlet.load.runner import LoadRun
from gauntlet.load.samples import Samples, percentile
from gauntlet.report.scorecard import (
    ChaosEvent,
    ChaosExperimentReport,
    ChaosWindow,
    IsolationLeak,
    SeriesPoint,
    SloResult,
    Verdict,
)
from gauntlet.slo import Measurements, SloSpec, evaluate
from gauntlet.slo.evaluate import EventCounts

NOT_SUPPORTED = "not supported by this target"


@dataclass
class ChaosOutcome:
    experiment: Experiment
    options_phases: frozenset[str]
    started_at: datetime
    duration_s: float
    journal: dict[str, Any]
    ctx: ChaosContext
    samples: list[Sample]
    resolution_s: float
    stable_s: float
    prober_rounds: int
    denied_observed: int
    leaks: list[LeakSpan]
    load_run: LoadRun | None
    load_problem: str
    interrupted: bool
    pod_starts_ms: list[float] = field(default_factory=list)
    availability_target: float = 0.999
    report: ChaosExperimentReport | None = None

    def load_offset_s(self) -> float:
        """Experiment seconds at which the load's clock started."""
        if self.load_run is None:
            return 0.0
        return (self.load_run.report.started_at - self.started_at).total_seconds()

    def write_journal(self, report_dir: Path) -> Path:
        out = report_dir / "chaos"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.experiment.name}.journal.json"
        path.write_text(json.dumps(self.journal, indent=2, default=str) + "\n")
        return path


def _met(journal: dict[str, Any], which: str) -> bool | None:
    state = (journal.get("steady_states") or {}).get(which)
    if not state:
        return None
    return bool(state.get("steady_state_met"))


def _failed_activities(journal: dict[str, Any]) -> list[str]:
    out = []
    for run in journal.get("run") or []:
        if run.get("status") == "failed":
            exc = run.get("exception") or []
            text = exc[-1].strip() if exc else "failed"
            out.append(f"{(run.get('activity') or {}).get('name', '?')}: {text}")
    return out


def _shifted(outcome: ChaosOutcome) -> tuple[list[float], list[int], list[bool]]:
    """Each request's completion time (experiment seconds), latency (µs) and failure flag."""
    if outcome.load_run is None:
        return [], [], []
    s: Samples = outcome.load_run.samples
    off = outcome.load_offset_s()
    times = [off + t / 1e6 for t in s.done_us]
    return times, list(s.latency_us), [e >= 0 for e in s.error_id]


def _window(
    name: str,
    start: float,
    end: float,
    cols: tuple[list[float], list[int], list[bool]],
    budget: float,
) -> ChaosWindow:
    times, lat, err = cols
    idx = [i for i, t in enumerate(times) if start <= t < end]
    requests = len(idx)
    errors = sum(1 for i in idx if err[i])
    p95 = percentile(sorted(lat[i] for i in idx), 95) / 1000.0 if idx else None
    consumed = errors / (budget * requests) if requests and budget > 0 else None
    peak = None
    if requests and budget > 0:
        per_s: dict[int, list[int]] = {}
        for i in idx:
            b = per_s.setdefault(math.floor(times[i]), [0, 0])
            b[0] += 1
            b[1] += int(err[i])
        peak = max((e / r) / budget for r, e in per_s.values() if r)
    return ChaosWindow(
        name=name,
        start_s=start,
        end_s=max(start, end),
        requests=requests,
        errors=errors,
        p95_ms=p95,
        error_budget_consumed=consumed,
        peak_burn_rate=peak,
    )


def _series(cols: tuple[list[float], list[int], list[bool]], end_s: float) -> list[SeriesPoint]:
    times, lat, err = cols
    n = max(1, math.ceil(end_s))
    buckets: list[list[int]] = [[] for _ in range(n)]
    errors = [0] * n
    for t, v, e in zip(times, lat, err, strict=True):
        sec = min(max(0, math.floor(t)), n - 1)
        buckets[sec].append(v)
        errors[sec] += int(e)
    out = []
    for sec, values in enumerate(buckets):
        values.sort()
        out.append(
            SeriesPoint(
                t_s=float(sec),
                requests=len(values),
                errors=errors[sec],
                p50_ms=percentile(values, 50) / 1000.0 if values else None,
                p95_ms=percentile(values, 95) / 1000.0 if values else None,
                p99_ms=percentile(values, 99) / 1000.0 if values else None,
            )
        )
    return out


def recovery_of(outcome: ChaosOutcome) -> tuple[float | None, float | None, float]:
    """(recovery time, recovered at, resolution): None, None when it never recovered."""
    window = outcome.ctx.fault_window()
    if window is None:
        return None, None, outcome.resolution_s
    rec = recovery(outcome.samples, since_s=window[1], stable_s=outcome.stable_s)
    if rec is None:
        return None, None, outcome.resolution_s
    return max(0.0, rec.at_s - window[1]), rec.at_s, rec.resolution_s


def build_report(outcome: ChaosOutcome) -> ChaosExperimentReport:
    exp, journal, ctx = outcome.experiment, outcome.journal, outcome.ctx
    before, after = _met(journal, "before"), _met(journal, "after")
    deviated = bool(journal.get("deviated", False))
    window = ctx.fault_window()
    rec_s, rec_at, resolution = recovery_of(outcome)
    events = list(ctx.events)
    if rec_at is not None and window is not None:
        events.append(
            ChaosEvent(
                t_s=rec_at, kind="recovered", message=f"steady state back after {rec_s:.2f} s"
            )
        )
    leaks = [
        IsolationLeak(
            src=lk.src,
            dst=lk.dst,
            port=lk.port,
            protocol=lk.protocol,
            start_s=lk.start_s,
            end_s=lk.end_s,
            rounds=lk.rounds,
            during_fault=window is not None
            and lk.end_s >= window[0]
            and lk.start_s <= (rec_at if rec_at is not None else outcome.duration_s),
        )
        for lk in outcome.leaks
    ]
    for lk in leaks:
        events.append(
            ChaosEvent(t_s=lk.start_s, kind="leak", message=f"{lk.src} -> {lk.dst}:{lk.port}")
        )
    events.sort(key=lambda e: e.t_s)
    rollbacks = journal.get("rollbacks")
    rollbacks_ok = (
        all(r.get("status") == "succeeded" for r in rollbacks)
        if "rollback" in outcome.options_phases and rollbacks is not None
        else None
    )
    cols = _shifted(outcome)
    budget = 1.0 - outcome.availability_target
    windows: list[ChaosWindow] = []
    end = outcome.duration_s
    if window is not None:
        fs, fe = window
        windows.append(_window("before", 0.0, fs, cols, budget))
        if fe > fs:
            windows.append(_window("fault", fs, fe, cols, budget))
        rec_end = rec_at if rec_at is not None else end
        if rec_end > fe:
            windows.append(_window("recovery", fe, rec_end, cols, budget))
        if rec_at is not None:
            windows.append(_window("after", rec_at, end, cols, budget))
    verdict, message = _verdict(
        outcome, before, after, deviated, window, rec_s, leaks, rollbacks_ok
    )
    return ChaosExperimentReport(
        title=exp.title,
        file=str(exp.path),
        faults=sorted({f.fault for f in ctx.faults} or set(exp.faults())),
        status=str(journal.get("status", "not run")),
        steady_state_before=before,
        steady_state_after=after,
        deviated=deviated,
        verdict=verdict,
        message=message,
        started_at=outcome.started_at,
        duration_s=outcome.duration_s,
        fault_start_s=window[0] if window else None,
        fault_end_s=window[1] if window else None,
        recovery_time_s=rec_s,
        recovery_resolution_s=resolution,
        pod_start_latency_ms=outcome.pod_starts_ms,
        isolation_rounds=outcome.prober_rounds,
        leaks=leaks,
        windows=windows,
        series=_series(cols, end) if outcome.load_run is not None else [],
        events=events,
        aborted_by_safeguard=any(e.kind == "safeguard" for e in ctx.events),
        rollbacks_ok=rollbacks_ok,
    )


def _verdict(
    outcome: ChaosOutcome,
    before: bool | None,
    after: bool | None,
    deviated: bool,
    window: tuple[float, float] | None,
    rec_s: float | None,
    leaks: list[IsolationLeak],
    rollbacks_ok: bool | None,
) -> tuple[Verdict, str]:
    failed = _failed_activities(outcome.journal)
    unsupported = [f for f in failed if NOT_SUPPORTED in f]
    if before is False:
        return Verdict.INCONCLUSIVE, "the steady state did not hold before the fault"
    if unsupported:
        return Verdict.SKIP, "; ".join(unsupported)
    if outcome.interrupted:
        return Verdict.INCONCLUSIVE, "interrupted before the experiment finished"
    # The target did not answer the recovery watcher after the fault: "not recovered" would be
    # a claim nothing observed (a leak still stands: a handshake cannot be faked).
    blind = window is not None and rec_s is None and _watcher_blind(outcome, window[1])
    if blind and not leaks:
        return (
            Verdict.INCONCLUSIVE,
            "the recovery watcher could not observe the target after the fault",
        )
    problems = []
    if leaks:
        cells = ", ".join(f"{lk.src}->{lk.dst}:{lk.port}" for lk in leaks[:5])
        problems.append(f"{len(leaks)} isolation leak(s): {cells}")
    if after is False or deviated:
        problems.append("the steady state did not hold after the fault")
    if window is not None and rec_s is None and not blind:
        problems.append("the platform did not recover (steady state never restored)")
    if rollbacks_ok is False:
        problems.append("a rollback failed")
    if any(e.kind == "safeguard" for e in outcome.ctx.events):
        problems.append(outcome.ctx.abort_reason)
    if failed and not problems:
        problems.append("activities failed: " + "; ".join(failed))
    if problems:
        return Verdict.FAIL, "; ".join(problems)
    if outcome.prober_rounds == 0 and "inject" in outcome.options_phases:
        return Verdict.INCONCLUSIVE, "the isolation matrix was never probed during the experiment"
    if outcome.load_run is None and "inject" in outcome.options_phases:
        return Verdict.INCONCLUSIVE, f"no load ran during the experiment ({outcome.load_problem})"
    if window is None and "inject" in outcome.options_phases:
        return Verdict.INCONCLUSIVE, "the method injected no fault"
    rec = f"recovered in {rec_s:.2f} s" if rec_s is not None else "no fault injected"
    return Verdict.PASS, f"{rec}; {outcome.prober_rounds} isolation rounds without a leak"


def _watcher_blind(outcome: ChaosOutcome, since_s: float) -> bool:
    after = [s for s in outcome.samples if s.t_s >= since_s]
    return bool(after) and all(s.detail.startswith("watcher:") for s in after)


def chaos_slos(
    outcome: ChaosOutcome, specs: list[SloSpec], *, distribution: str
) -> list[SloResult]:
    """The SLOs of one experiment's window: load SLOs over its load, isolation integrity over
    its probe rounds, recovery time, and the start latency of the pods it restarted."""
    report = outcome.report
    assert report is not None
    exp = outcome.experiment
    overrides = exp.settings.objectives
    # Only what this experiment measured: no restarted pod, no pod-start SLO; no fault, no
    # recovery SLO (an SLO without its measurement would read as "no data").
    wanted = {"load", "isolation"}
    if outcome.pod_starts_ms:
        wanted.add("pods")
    if report.fault_end_s is not None and not (
        report.recovery_time_s is None and _watcher_blind(outcome, report.fault_end_s)
    ):
        wanted.add("chaos")
    adjusted = [
        dataclasses.replace(s, target=overrides[s.name], overrides={}) if s.name in overrides else s
        for s in specs
        if s.measurement in wanted
    ]
    unrecovered: list[float] = []
    if report.fault_end_s is not None and report.recovery_time_s is None:
        unrecovered.append(max(0.0, report.duration_s - report.fault_end_s))
    leak_rounds = sum(lk.rounds for lk in report.leaks)
    m = Measurements(
        load=outcome.load_run,
        isolation=EventCounts(total=max(outcome.denied_observed, leak_rounds), bad=leak_rounds)
        if outcome.prober_rounds
        else None,
        pod_start_latencies_ms=outcome.pod_starts_ms or None,
        recovery_times_s=[report.recovery_time_s] if report.recovery_time_s is not None else None,
        unrecovered_s=unrecovered,
    )
    results = evaluate(adjusted, m, distribution=distribution, window=f"chaos:{exp.name}")
    return [r.model_copy(update={"name": f"{exp.name}/{r.name}"}) for r in results]
