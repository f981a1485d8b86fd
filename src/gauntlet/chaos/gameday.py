"""``gauntlet gameday SCENARIO``: one chaos experiment under load, watched live, written up for
the postmortem.

Design notes:

- Everything the user can get wrong (scenario and its validity as a Chaos Toolkit experiment,
  phases, profile, burn rate, blueprint, target, host tools) is checked *before* anything is
  deployed, and answered with ``USAGE_ERROR`` and a
  message that says what to change (for a scenario: the ones that exist). A game day that fails
  five minutes in on a typo wastes the room's time.
- The target is built the way the pytest plugin's ``gauntlet_target`` builds it (a
  ``LocalSandbox`` deployed with the blueprint plus the outsider probe pod), and torn down in a
  ``finally``: after a result, an error or Ctrl-C alike. The runner reverts its own faults on
  the way out; the teardown is the second net (the sandbox also dies with this process).
- Exit codes follow ``scorecard.exit_code_for``: a leak contradicts the blueprint
  (``CONFORMANCE_FAILED``), a broken steady state or a recovery objective missed is an SLO
  breach (``SLO_BREACHED``), no proof either way (inconclusive, skipped, runner or target error)
  is ``INCONCLUSIVE``. Ctrl-C exits ``INTERRUPTED`` (130, as shells report SIGINT).
- Outputs: ``chaos.json`` (the ``ChaosExperimentReport``, the same model ``Scorecard.chaos``
  holds) and ``timeline.html`` (``gauntlet.report.timeline``), in ``--report-dir``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from gauntlet import progress
from gauntlet.blueprint import BlueprintError, load_blueprint
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.chaos import experiment as experiments
from gauntlet.chaos import runner
from gauntlet.chaos.dashboard import ChaosDashboard
from gauntlet.chaos.experiment import Experiment, ExperimentError
from gauntlet.exitcodes import ExitCode
from gauntlet.load.profiles import UnknownProfile, load_profile
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.report.scorecard import ChaosExperimentReport, Verdict, atomic_write_text
from gauntlet.report.timeline import write_timeline
from gauntlet.targets.base import Target, TargetError

INTERRUPTED = 130
"""Exit status after Ctrl-C: 128 + SIGINT, what a shell reports for an interrupted command."""
TARGETS = ("local", "kind", "kubeconfig")


class GamedayError(Exception):
    """Bad input: nothing was deployed. The message says what to change."""


def load_scenario(spec: str) -> Experiment:
    """A scenario name (``pod-kill`` → ``scenarios/chaos/pod-kill.yaml``) or a file path, loaded
    and validated the way the runner and ``chaos validate`` will (``gauntlet.chaos.experiment``)."""
    try:
        return experiments.load_experiment(experiments.resolve(spec))
    except ExperimentError as exc:
        # No object to name when the file itself is missing or unreadable.
        where = ": ".join(part for part in (exc.file, exc.obj, exc.field) if part)
        raise GamedayError(f"{where}: {exc.reason}") from None


def parse_phases(values: Sequence[str] | None) -> frozenset[str]:
    """``--phase`` values (repeatable, comma-separated) → ``ChaosOptions.phases``; none: all."""
    names = {v.strip() for value in values or () for v in value.split(",") if v.strip()}
    if not names or "all" in names:
        return frozenset(runner.PHASES)
    unknown = sorted(names - set(runner.PHASES))
    if unknown:
        raise GamedayError(
            f"unknown --phase {', '.join(unknown)}; choose from {', '.join(runner.PHASES)}, all"
        )
    return frozenset(names)


def parse_burn_rate(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise GamedayError(f"--max-burn-rate {text}: give a positive number, e.g. 14.4")
    return value


def exit_code_for(report: ChaosExperimentReport) -> ExitCode:
    """First match wins: a leak → ``CONFORMANCE_FAILED`` (the blueprint was contradicted, what
    ``gauntlet run`` says of a leak too); any other failure (steady state broken, recovery
    objective missed, safeguard abort) → ``SLO_BREACHED``; inconclusive or skipped →
    ``INCONCLUSIVE`` (nothing was proven); pass → ``OK``."""
    if report.leaks:
        return ExitCode.CONFORMANCE_FAILED
    if report.verdict is Verdict.FAIL:
        return ExitCode.SLO_BREACHED
    if report.verdict is Verdict.PASS:
        return ExitCode.OK
    return ExitCode.INCONCLUSIVE


def default_report_dir(now: datetime | None = None) -> Path:
    """``reports/gameday-<UTC, compact ISO 8601>``: sorts by time, never overwrites a game day."""
    return Path("reports") / f"gameday-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"


def make_target(kind: str, *, context: str | None, allow_contexts: Sequence[str] = ()) -> Target:
    """The target, not yet deployed, built as the pytest plugin's ``gauntlet_target`` builds it:
    a ``LocalSandbox``, or the Kubernetes driver's ``make_target`` for kind/kubeconfig (which
    refuses a context that is not allowed to be disrupted)."""
    if kind == "local":
        from gauntlet.targets.local.sandbox import LocalSandbox, check_host

        try:
            check_host()
        except TargetError as exc:
            raise GamedayError(str(exc)) from None
        return LocalSandbox(sandbox_name=f"gameday-{os.getpid()}")
    if kind not in TARGETS:
        raise GamedayError(f"--target {kind}: choose from {', '.join(TARGETS)}")
    try:
        from gauntlet.targets.kubernetes import make_target as make_kubernetes_target
    except ImportError as exc:
        raise GamedayError(
            f"--target {kind}: the Kubernetes driver cannot be loaded ({exc}); use --target local"
        ) from None
    return make_kubernetes_target(kind, context=context, allow_contexts=allow_contexts)


def write_reports(report: ChaosExperimentReport, report_dir: Path) -> tuple[Path, Path]:
    """``chaos.json`` and ``timeline.html`` in ``report_dir``."""
    chaos_json = report_dir / "chaos.json"
    atomic_write_text(chaos_json, report.model_dump_json(indent=2) + "\n")
    timeline = report_dir / "timeline.html"
    write_timeline([report], timeline, title=f"Game day: {report.title}")
    return chaos_json, timeline


def _summary(report: ChaosExperimentReport) -> str:
    parts = [f"{report.verdict.value.upper()}", f"status {report.status}"]
    if report.fault_start_s is not None:
        parts.append(
            "never recovered"
            if report.recovery_time_s is None
            else f"recovered in {report.recovery_time_s:.2f} s "
            f"(± {report.recovery_resolution_s:.2g} s)"
        )
    parts.append(f"{len(report.leaks)} leak(s) in {report.isolation_rounds} isolation rounds")
    if report.aborted_by_safeguard:
        parts.append("aborted by the burn-rate safeguard")
    message = f"\n  {report.message}" if report.message else ""
    return f"gameday '{report.title}': {', '.join(parts)}{message}"


def _err(message: str) -> None:
    print(f"gauntlet: {message}", file=sys.stderr)


def run_gameday(
    scenario: str,
    *,
    target: str = "local",
    context: str | None = None,
    allow_contexts: Sequence[str] = (),
    platform: Path | None = None,
    profile: str = "smoke",
    phases: Sequence[str] | None = None,
    max_burn_rate: str | None = None,
    report_dir: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """The whole command; returns its exit status."""
    out = out or sys.stdout
    try:
        experiment = load_scenario(scenario)
        options = runner.ChaosOptions(
            profile=load_profile(profile).name,
            phases=parse_phases(phases),
            max_burn_rate=parse_burn_rate(max_burn_rate),
            report_dir=report_dir or default_report_dir(),
        )
        blueprint = with_outsider(load_blueprint(platform or REFERENCE_PLATFORM))
        the_target = make_target(target, context=context, allow_contexts=allow_contexts)
    except (GamedayError, UnknownProfile) as exc:
        _err(str(exc))
        return ExitCode.USAGE_ERROR
    except BlueprintError as exc:
        _err(f"blueprint error: {exc}")
        return ExitCode.USAGE_ERROR
    except TargetError as exc:
        # As the plugin does: no kubeconfig, an unreachable API... nothing could be observed.
        _err(f"target error: {exc}")
        return ExitCode.INCONCLUSIVE
    assert options.report_dir is not None
    progress.enable(True)
    progress.say(
        f"game day '{experiment.title}' ({experiment.path}) on {target}: phases "
        f"{', '.join(p for p in runner.PHASES if p in options.phases)}, load {options.profile}"
    )
    try:
        report = _run(the_target, experiment.path, blueprint=blueprint, options=options)
    except KeyboardInterrupt:
        _err("interrupted: the runner reverted its faults and the target was torn down")
        return INTERRUPTED
    if isinstance(report, str):
        _err(report)
        return ExitCode.INCONCLUSIVE
    chaos_json, timeline = write_reports(report, options.report_dir)
    code = exit_code_for(report)
    print(f"gauntlet: {_summary(report)}", file=out)
    print(
        f"gauntlet: reports in {options.report_dir}/ ({chaos_json.name}, {timeline.name}); "
        f"exit {int(code)} ({code.name})",
        file=out,
    )
    return code


def _run(
    target: Target, experiment: Path, *, blueprint: Blueprint, options: runner.ChaosOptions
) -> ChaosExperimentReport | str:
    """Deploy, run the experiment with the dashboard, always tear down; an error as a sentence."""
    try:
        progress.say(f"deploying {len(blueprint.pods())} pods")
        deployed = target.deploy(blueprint)
        progress.say(f"deployed in {deployed.duration_s:.1f}s")
        with ChaosDashboard() as dashboard:
            return runner.run_chaos(
                target, experiment, blueprint=blueprint, options=options, on_snapshot=dashboard
            )
    except NotImplementedError as exc:
        return f"the chaos runner is not available in this version ({exc})"
    except TargetError as exc:
        return f"target error: {exc}"
    finally:
        progress.say("tearing down the target")
        target.teardown()


__all__ = [
    "INTERRUPTED",
    "GamedayError",
    "default_report_dir",
    "exit_code_for",
    "load_scenario",
    "make_target",
    "parse_phases",
    "run_gameday",
    "write_reports",
]
