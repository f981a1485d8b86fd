"""Chaos suite (promises P8, P9): the platform survives failures under load, and tenants stay
isolated while it happens.

Each experiment of ``scenarios/chaos/`` (the smoke profile runs those marked ``smoke: true``)
runs through ``gauntlet.chaos.runner``: under the profile's load, with the isolation matrix
re-probed continuously and a 50 ms recovery watcher. One check per experiment:

- pass: steady state before and after, recovered, rollbacks fine, no leak in any round;
- fail: a leak (with its cell and time window), the steady state not back after the fault, no
  recovery, a failed rollback, or the burn-rate safeguard firing;
- inconclusive: the steady state did not hold before the fault (nothing to learn), or no load;
- skip: a fault this target cannot undergo (Kubernetes-only faults on the sandbox).

Per-window SLOs (availability and latency over the experiment's load, isolation integrity,
recovery time, start latency of restarted pods) go into the scorecard; a breach sets the exit
code through the scorecard, as in the load suite. How to write experiments: docs/chaos.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos_experiments import runs_on, selected, summary, timeline

from gauntlet import progress
from gauntlet.blueprint import Blueprint
from gauntlet.chaos.experiment import ExperimentError, load_experiment
from gauntlet.chaos.results import chaos_slos
from gauntlet.chaos.runner import ChaosOptions, run_outcome
from gauntlet.plugin import CheckRecorder
from gauntlet.report.scorecard import Verdict
from gauntlet.slo import SloSpec
from gauntlet.targets.base import Target, TargetError

pytestmark = pytest.mark.gauntlet_suite("chaos")

CONVERGENCE_TIMEOUT_S = 30.0


def _experiments(config: pytest.Config) -> list[Path]:
    return selected(config.getoption("gauntlet_profile") or "smoke")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "experiment_path" in metafunc.fixturenames:
        paths = _experiments(metafunc.config)
        metafunc.parametrize("experiment_path", paths, ids=[p.stem for p in paths])


def test_experiment(
    experiment_path: Path,
    pytestconfig: pytest.Config,
    gauntlet_target: Target,
    gauntlet_blueprint: Blueprint,
    gauntlet_slo_specs: list[SloSpec],
    gauntlet_check: CheckRecorder,
) -> None:
    try:
        exp = load_experiment(experiment_path)
    except ExperimentError as exc:
        gauntlet_check.conclude(Verdict.FAIL, f"broken experiment: {exc}")
        return
    gauntlet_check.title = exp.title
    if not runs_on(exp, gauntlet_target.name):
        pytest.skip(f"{exp.name} needs a {'/'.join(exp.settings.targets)} target")
    if not gauntlet_target.wait_policy_converged(timeout_s=CONVERGENCE_TIMEOUT_S):
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, "policies did not converge before the fault")
    options = ChaosOptions(
        profile=pytestconfig.getoption("gauntlet_profile") or "smoke",
        report_dir=Path(pytestconfig.getoption("report_dir") or "reports"),
    )
    progress.say(f"chaos: {exp.name}: {exp.title}")
    try:
        outcome = run_outcome(
            gauntlet_target, experiment_path, blueprint=gauntlet_blueprint, options=options
        )
    except TargetError as exc:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"target error: {exc}")
        return
    report = outcome.report
    assert report is not None
    gauntlet_check.publish_chaos(report)
    distribution = gauntlet_target.distribution().name
    slos = chaos_slos(outcome, gauntlet_slo_specs, distribution=distribution)
    gauntlet_check.publish_slos(slos)
    gauntlet_check.counts.update(isolation_rounds=report.isolation_rounds, leaks=len(report.leaks))
    gauntlet_check.attach("experiment", summary(report))
    gauntlet_check.attach("timeline", timeline(report))
    progress.say(summary(report).splitlines()[0])
    if report.verdict is Verdict.SKIP:
        pytest.skip(report.message)
    gauntlet_check.conclude(report.verdict, report.message)
