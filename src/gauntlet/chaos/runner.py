"""The chaos runner: one Chaos Toolkit experiment, under load, with isolation re-probed.

Order of things, and why:

1. The isolation prober, the recovery watcher and the load start first, and the load warms up
   for ``warmup_s``: the "before" window is the baseline the fault is compared with.
2. Chaos Toolkit runs the experiment in-process (``chaoslib.experiment.run_experiment``), with
   rollbacks set to ``always``. Its exit status is not trusted: the journal's
   ``steady_states.before/after.steady_state_met`` and ``deviated`` are read instead (``chaos
   run`` exits 0 when the pre-fault hypothesis already fails).
3. Whatever happens (an exception, Ctrl-C, the safeguard), every fault still in place is
   reverted in a ``finally``, then the load stops and the watchers stop. The target itself is
   torn down by whoever deployed it.
4. The safeguard watches the availability burn rate over the last seconds; above
   ``max_burn_rate`` it reverts the faults at once, then tells the experiment to stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaoslib.experiment import run_experiment
from chaoslib.run import RunEventHandler
from chaoslib.types import Strategy

from gauntlet import progress
from gauntlet.blueprint.model import Blueprint
from gauntlet.chaos.context import ChaosContext, bound
from gauntlet.chaos.experiment import Experiment, load_experiment
from gauntlet.chaos.live import ChaosSnapshot
from gauntlet.chaos.results import ChaosOutcome, build_report
from gauntlet.chaos.watch import IsolationProber, LoadWindow, RecoveryWatcher, recovery
from gauntlet.load.profiles import load_profile
from gauntlet.load.runner import LiveStats, LoadError, LoadRun, run_load
from gauntlet.load.service import NoLoadService, load_service
from gauntlet.report.scorecard import ChaosExperimentReport
from gauntlet.targets.base import ProbeMode, ProbeRequest, Target, TargetError

PHASES = ("hypothesis", "inject", "rollback")


@dataclass(frozen=True)
class ChaosOptions:
    # Load profile run during the experiment (scenarios/load/<profile>.py).
    profile: str = "smoke"
    # Which parts of the experiment run: "hypothesis" (steady state before and after),
    # "inject" (the method), "rollback"; "all" is all three.
    phases: frozenset[str] = field(default_factory=lambda: frozenset(PHASES))
    # Abort and roll back when the availability burn rate exceeds this (None: no safeguard).
    max_burn_rate: float | None = None
    # Seconds of errors the safeguard's burn rate looks at.
    safeguard_window_s: float = 5.0
    # The availability objective the burn rate is relative to.
    availability_target: float = 0.999
    # Recovery watcher sampling interval (the recovery time's resolution).
    resolution_s: float = 0.05
    # A recovery counts once the steady state held this long (a flap is not a recovery).
    stable_s: float = 1.0
    # Caps the experiments' recovery timeouts (None: each experiment's own).
    recovery_timeout_s: float | None = None
    # Load before the experiment starts (the baseline window) and after it ends.
    warmup_s: float = 3.0
    tail_s: float = 2.0
    # Timeout of each isolation probe while chaos runs.
    isolation_timeout_s: float = 0.3
    # Run load during the experiment (off only for tests of the runner itself).
    load: bool = True
    # Where the journal goes (``<report_dir>/chaos/<experiment>.journal.json``).
    report_dir: Path | None = None


class _Phases(RunEventHandler):  # type: ignore[misc]
    """Chaos Toolkit's run events, as timeline events and the live view's phase."""

    def __init__(self, ctx: ChaosContext, state: _LiveState) -> None:
        self.ctx = ctx
        self.state = state

    def _phase(self, name: str, message: str) -> None:
        self.state.phase = name
        self.ctx.event("phase", message)

    def start_hypothesis_before(self, experiment: Any) -> None:
        self._phase("hypothesis-before", "steady-state hypothesis (before)")

    def hypothesis_before_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        met = bool(state and state.get("steady_state_met"))
        self.ctx.event("steady-state", f"before: {'met' if met else 'NOT met'}")

    def start_method(self, experiment: Any) -> None:
        self._phase("method", "method (faults)")

    def start_hypothesis_after(self, experiment: Any) -> None:
        self._phase("hypothesis-after", "steady-state hypothesis (after)")

    def hypothesis_after_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        met = bool(state and state.get("steady_state_met"))
        self.ctx.event("steady-state", f"after: {'met' if met else 'NOT met'}")

    def start_rollbacks(self, experiment: Any) -> None:
        self._phase("rollback", "rollbacks")

    def activity_completed(self, activity: Any, run: Any) -> None:
        if run.get("status") == "failed":
            self.ctx.event(
                "error", f"{activity.get('name')}: {run.get('exception', [''])[-1]}".strip()
            )


@dataclass
class _LiveState:
    phase: str = "starting"
    stats: LiveStats | None = None


def _canaries(exp: Experiment, timeout_s: float) -> list[ProbeRequest]:
    return [
        ProbeRequest(
            id=f"canary {c.src}->{c.dst}:{c.port}",
            src=c.src,
            dst=c.dst,
            port=c.port,
            protocol=c.protocol,
            mode=ProbeMode.UDP if c.protocol == "UDP" else ProbeMode.TCP,
            timeout_s=timeout_s,
        )
        for c in exp.settings.canaries
    ]


def _prepare(raw: dict[str, Any], phases: frozenset[str]) -> tuple[dict[str, Any], Strategy, str]:
    exp = dict(raw)
    if "inject" not in phases:
        exp["method"] = []
    strategy = Strategy.DEFAULT if "hypothesis" in phases else Strategy.SKIP
    rollbacks = "always" if "rollback" in phases else "never"
    return exp, strategy, rollbacks


class ChaosRunner:
    def __init__(
        self,
        target: Target,
        experiment: Experiment,
        *,
        blueprint: Blueprint,
        options: ChaosOptions,
        on_snapshot: Callable[[ChaosSnapshot], None] | None = None,
    ) -> None:
        self.target = target
        self.exp = experiment
        self.blueprint = blueprint
        self.options = options
        self.on_snapshot = on_snapshot
        self.ctx = ChaosContext(
            target=target, blueprint=blueprint, recovery_timeout_cap_s=options.recovery_timeout_s
        )
        self.live = _LiveState()
        self.done = threading.Event()
        self.load_stop = threading.Event()
        self.load_run: LoadRun | None = None
        self.load_problem = ""
        self.restarts_before: dict[str, int] = {}

    # -- load ------------------------------------------------------------------------------
    def _start_load(self, window: LoadWindow) -> threading.Thread | None:
        if not self.options.load:
            self.load_problem = "load disabled"
            return None
        try:
            svc = load_service(self.blueprint)
            profile = load_profile(self.options.profile)
            url = self.target.load_entrypoint(svc.namespace, svc.service, port=svc.port)
            prefix = self.target.load_exec_prefix()
        except (NoLoadService, TargetError, ValueError) as exc:
            self.load_problem = f"{type(exc).__name__}: {exc}"
            self.ctx.event("error", f"no load: {self.load_problem}")
            return None

        def feed(stats: LiveStats) -> None:
            self.live.stats = stats
            window(stats)

        def body() -> None:
            try:
                self.load_run = run_load(
                    profile,
                    url,
                    exec_prefix=prefix,
                    progress=feed,
                    stop=self.load_stop,
                    hold=True,
                )
            except LoadError as exc:
                self.load_problem = str(exc)
                self.ctx.event("error", f"load failed: {exc}")

        self.ctx.event("note", f"load {profile.name} against {svc.key}:{svc.port} ({url})")
        thread = threading.Thread(target=body, name="gauntlet-chaos-load", daemon=True)
        thread.start()
        return thread

    # -- safeguard and live view -----------------------------------------------------------
    def _monitor(self, window: LoadWindow, prober: IsolationProber) -> None:
        opts = self.options
        budget = 1.0 - opts.availability_target
        while not self.done.wait(1.0):
            if opts.max_burn_rate is not None and not self.ctx.abort.is_set():
                requests, errors = window.recent(opts.safeguard_window_s)
                if requests and budget > 0:
                    burn = (errors / requests) / budget
                    if burn > opts.max_burn_rate:
                        self._abort(
                            f"safeguard: burn rate {burn:.1f}x over the last "
                            f"{opts.safeguard_window_s:g} s exceeds {opts.max_burn_rate:g}x",
                            kind="safeguard",
                        )
            if self.on_snapshot is not None:
                self.on_snapshot(self._snapshot(prober))

    def _abort(self, reason: str, *, kind: str) -> None:
        self.ctx.abort_reason = reason
        self.ctx.abort.set()
        self.ctx.event(kind, reason)
        try:
            self.ctx.revert(reason=kind)
        except TargetError as exc:
            self.ctx.event("error", f"revert after {kind} failed: {exc}")

    def _snapshot(self, prober: IsolationProber) -> ChaosSnapshot:
        s = self.live.stats
        watcher = self.ctx.watcher
        return ChaosSnapshot(
            experiment=self.exp.title,
            phase=self.live.phase,
            elapsed_s=self.ctx.now_s(),
            time_left_s=None,
            rps=s.rps if s else 0.0,
            requests=s.requests if s else 0,
            errors=s.errors if s else 0,
            p95_ms=s.p95_ms if s else None,
            steady_state=watcher.steady_now() if watcher else None,
            fault_active=bool(self.ctx.active()),
            leaks=len(prober.leaks),
            isolation_rounds=prober.rounds,
            events=tuple(self.ctx.events[-8:]),
        )

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> ChaosOutcome:
        opts, ctx = self.options, self.ctx
        started_at = datetime.now(UTC)
        pods = [
            p.key
            for p in self.blueprint.pods()
            if not self.exp.settings.namespaces or p.namespace in self.exp.settings.namespaces
        ]
        watcher = RecoveryWatcher(
            self.target,
            clock=ctx,
            pods=pods,
            canaries=_canaries(self.exp, timeout_s=max(0.02, opts.resolution_s * 1.5)),
            interval_s=opts.resolution_s,
        )
        ctx.watcher = watcher
        prober = IsolationProber(
            self.target,
            ctx.truth_table(),
            clock=ctx,
            timeout_s=opts.isolation_timeout_s,
        )
        window = LoadWindow(ctx)
        ctx.load_window = window
        monitor = threading.Thread(
            target=self._monitor, args=(window, prober), name="gauntlet-chaos-monitor", daemon=True
        )
        journal: dict[str, Any] = {}
        interrupted = False
        try:
            self.restarts_before = {s.key: s.restarts for s in self.target.pod_statuses()}
        except TargetError as exc:
            ctx.event("error", f"pod status unavailable: {exc}")
        load_thread = None
        watcher.start()
        prober.start()
        monitor.start()
        try:
            load_thread = self._start_load(window)
            self.live.phase = "warm-up"
            ctx.event("phase", f"warm-up ({opts.warmup_s:g} s of load before the experiment)")
            ctx.hold(opts.warmup_s)
            experiment, strategy, rollbacks = _prepare(self.exp.raw, opts.phases)
            with bound(ctx):
                journal = run_experiment(
                    experiment,
                    settings={"runtime": {"rollbacks": {"strategy": rollbacks}}},
                    strategy=strategy,
                    event_handlers=[_Phases(ctx, self.live)],
                )
            if journal.get("status") == "interrupted" and not ctx.abort.is_set():
                # Chaos Toolkit caught Ctrl-C itself (and played the rollbacks): stop here.
                interrupted = True
                ctx.event("note", "interrupted (Ctrl-C): reverting the faults")
            else:
                self._wait_recovery()
                self.live.phase = "tail"
                ctx.hold(opts.tail_s)
        except KeyboardInterrupt:
            interrupted = True
            ctx.event("note", "interrupted (Ctrl-C): reverting the faults")
            raise
        finally:
            self._cleanup(load_thread, watcher, prober, monitor)
            self.live.phase = "done"
        return ChaosOutcome(
            experiment=self.exp,
            options_phases=opts.phases,
            started_at=started_at,
            duration_s=ctx.now_s(),
            journal=journal,
            ctx=ctx,
            samples=list(watcher.samples),
            resolution_s=opts.resolution_s,
            stable_s=opts.stable_s,
            prober_rounds=prober.rounds,
            denied_observed=prober.denied_observed,
            leaks=list(prober.leaks.values()),
            load_run=self.load_run,
            load_problem=self.load_problem,
            interrupted=interrupted,
            pod_starts_ms=self._restarted_pod_latencies(),
        )

    def _wait_recovery(self) -> None:
        window = self.ctx.fault_window()
        watcher = self.ctx.watcher
        if window is None or watcher is None:
            return
        if self.ctx.recovery_waited:
            return
        if recovery(watcher.samples, since_s=window[1], stable_s=self.options.stable_s):
            return
        timeout_s = self.exp.settings.recovery_timeout_s
        if self.options.recovery_timeout_s is not None:
            timeout_s = min(timeout_s, self.options.recovery_timeout_s)
        self.live.phase = "recovering"
        progress.say(f"chaos: waiting up to {timeout_s:g} s for recovery")
        watcher.wait_steady(since_s=window[1], timeout_s=timeout_s, stable_s=self.options.stable_s)

    def _restarted_pod_latencies(self) -> list[float]:
        try:
            return [
                s.start_latency_ms
                for s in self.target.pod_statuses()
                if s.restarts > self.restarts_before.get(s.key, 0)
                and s.start_latency_ms is not None
            ]
        except TargetError:
            return []

    def _cleanup(
        self,
        load_thread: threading.Thread | None,
        watcher: RecoveryWatcher,
        prober: IsolationProber,
        monitor: threading.Thread,
    ) -> None:
        # A second Ctrl-C must not cut the cleanup short: ignore it meanwhile (main thread).
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._release(load_thread, watcher, prober, monitor)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _release(
        self,
        load_thread: threading.Thread | None,
        watcher: RecoveryWatcher,
        prober: IsolationProber,
        monitor: threading.Thread,
    ) -> None:
        # Faults first: nothing may stay broken, whatever else fails below.
        for attempt in range(3):
            try:
                self.ctx.revert(reason="cleanup")
                break
            except TargetError as exc:
                self.ctx.event("error", f"revert failed (attempt {attempt + 1}): {exc}")
                time.sleep(0.2)
        self.load_stop.set()
        if load_thread is not None:
            load_thread.join(timeout=30)
        self.done.set()
        watcher.stop()
        prober.stop()
        monitor.join(timeout=5)


def run_chaos(
    target: Target,
    experiment: Path,
    *,
    blueprint: Blueprint,
    options: ChaosOptions,
    on_snapshot: Callable[[ChaosSnapshot], None] | None = None,
) -> ChaosExperimentReport:
    """Run ``experiment`` against ``target`` (already deployed with ``blueprint``)."""
    report = run_outcome(
        target, experiment, blueprint=blueprint, options=options, on_snapshot=on_snapshot
    ).report
    assert report is not None
    return report


def run_outcome(
    target: Target,
    experiment: Path,
    *,
    blueprint: Blueprint,
    options: ChaosOptions,
    on_snapshot: Callable[[ChaosSnapshot], None] | None = None,
) -> ChaosOutcome:
    """``run_chaos`` with everything measured (load samples for the per-window SLOs)."""
    exp = load_experiment(experiment)
    # Chaos Toolkit logs every step at INFO/WARNING on the root handler; our timeline and live
    # view say the same, so only its errors go to the terminal.
    logging.getLogger("chaostoolkit").setLevel(logging.ERROR)
    runner = ChaosRunner(target, exp, blueprint=blueprint, options=options, on_snapshot=on_snapshot)
    outcome = runner.run()
    outcome.report = build_report(outcome)
    if options.report_dir is not None:
        outcome.write_journal(options.report_dir)
    return outcome
