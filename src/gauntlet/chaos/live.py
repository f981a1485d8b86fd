"""What a running chaos experiment reports to its live view, about once a second."""

from __future__ import annotations

from dataclasses import dataclass

from gauntlet.report.scorecard import ChaosEvent


@dataclass(frozen=True)
class ChaosSnapshot:
    experiment: str
    # hypothesis-before | method | rollback | hypothesis-after | done
    phase: str
    elapsed_s: float
    # None when the end is not known (the experiment's method has no fixed length).
    time_left_s: float | None
    rps: float
    requests: int
    errors: int
    p95_ms: float | None
    # The recovery watcher's last sample: does the steady state hold right now?
    steady_state: bool | None
    fault_active: bool
    leaks: int
    isolation_rounds: int
    # The most recent timeline events, oldest first.
    events: tuple[ChaosEvent, ...] = ()
