"""The chaos runner: one Chaos Toolkit experiment, under load, with isolation re-probed.

(Skeleton: the contract other modules build against; the implementation lands next.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gauntlet.blueprint.model import Blueprint
from gauntlet.chaos.live import ChaosSnapshot
from gauntlet.report.scorecard import ChaosExperimentReport
from gauntlet.targets.base import Target

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
    # Recovery watcher sampling interval (the recovery time's resolution).
    resolution_s: float = 0.05
    # Where the journal and the per-experiment files go.
    report_dir: Path | None = None


def run_chaos(
    target: Target,
    experiment: Path,
    *,
    blueprint: Blueprint,
    options: ChaosOptions,
    on_snapshot: Callable[[ChaosSnapshot], None] | None = None,
) -> ChaosExperimentReport:
    """Run ``experiment`` against ``target`` (already deployed with ``blueprint``)."""
    raise NotImplementedError("the chaos runner is being written")
