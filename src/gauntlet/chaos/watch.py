"""What runs beside an experiment: the recovery watcher, the isolation prober, the load window.

- ``RecoveryWatcher`` samples "is the platform whole?" every ``interval_s`` (default 50 ms):
  every pod of the blueprint ready, and every canary cell (allowed traffic the experiment names)
  answering within a short timeout. Recovery is read off its samples, so its resolution is the
  sampling gap, measured, not assumed.
- ``IsolationProber`` re-probes the isolation matrix round after round: a denied cell that is
  reached in any round is a leak, kept with the time window in which it was seen (P9: isolation
  holds *during* failures, not only at rest).
- ``LoadWindow`` keeps the load's per-second progress so that probes (``error_ratio``) and the
  burn-rate safeguard can read the last seconds while the load runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gauntlet.isolation import requests_for
from gauntlet.load.runner import LiveStats
from gauntlet.oracle import TruthTable
from gauntlet.targets.base import ProbeRequest, Target, TargetError


class Clock(Protocol):
    """Seconds since the experiment started (the one time base of its report)."""

    def now_s(self) -> float: ...


@dataclass(frozen=True)
class Sample:
    t_s: float
    """When the check started, seconds since the experiment started."""
    steady: bool
    detail: str = ""


class RecoveryWatcher(threading.Thread):
    def __init__(
        self,
        target: Target,
        *,
        clock: Clock,
        pods: Sequence[str],
        canaries: Sequence[ProbeRequest] = (),
        interval_s: float = 0.05,
    ) -> None:
        super().__init__(name="gauntlet-recovery-watcher", daemon=True)
        self.target = target
        self.clock = clock
        self.pods = frozenset(pods)
        self.canaries = list(canaries)
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.stopped = threading.Event()
        self.errors = 0

    def check(self) -> tuple[bool, str]:
        statuses = {s.key: s for s in self.target.pod_statuses()}
        down = sorted(k for k in self.pods if k not in statuses or not statuses[k].ready)
        if down:
            return False, "not ready: " + ", ".join(down)
        if self.canaries:
            results = self.target.probe(self.canaries)
            failed = [r.id for r in results if r.outcome.reached is not True]
            if failed:
                return False, "canary failed: " + ", ".join(failed)
        return True, ""

    def run(self) -> None:
        while not self.stopped.is_set():
            began = time.monotonic()
            t = self.clock.now_s()
            try:
                steady, detail = self.check()
            except TargetError as exc:
                self.errors += 1
                steady, detail = False, f"watcher: {exc}"
            self.samples.append(Sample(t, steady, detail))
            rest = self.interval_s - (time.monotonic() - began)
            if rest > 0:
                self.stopped.wait(rest)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)

    def steady_now(self) -> bool | None:
        return self.samples[-1].steady if self.samples else None

    def wait_steady(self, *, since_s: float, timeout_s: float, stable_s: float) -> bool:
        """Block until the samples after ``since_s`` show recovery (see ``recovery``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if recovery(self.samples, since_s=since_s, stable_s=stable_s) is not None:
                return True
            time.sleep(self.interval_s)
        return False


@dataclass(frozen=True)
class Recovery:
    at_s: float
    """The first sample of the steady run that followed the fault."""
    resolution_s: float
    """Gap to the sample before it: the true moment lies in between."""


def recovery(samples: Sequence[Sample], *, since_s: float, stable_s: float) -> Recovery | None:
    """The platform recovered at the first steady sample at or after ``since_s`` from which
    every sample stays steady for at least ``stable_s`` (a flap is not a recovery)."""
    snapshot = list(samples)
    start: int | None = None
    for i, s in enumerate(snapshot):
        if s.t_s < since_s:
            continue
        if not s.steady:
            start = None
            continue
        if start is None:
            start = i
        if s.t_s - snapshot[start].t_s >= stable_s:
            break
    else:
        return None
    assert start is not None
    first = snapshot[start]
    before = snapshot[start - 1].t_s if start > 0 else first.t_s
    return Recovery(first.t_s, max(0.0, first.t_s - before))


@dataclass
class LeakSpan:
    src: str
    dst: str
    port: int
    protocol: str
    start_s: float
    end_s: float
    rounds: int


class IsolationProber(threading.Thread):
    def __init__(
        self, target: Target, table: TruthTable, *, clock: Clock, timeout_s: float = 0.3
    ) -> None:
        super().__init__(name="gauntlet-isolation-prober", daemon=True)
        self.target = target
        self.clock = clock
        self.timeout_s = timeout_s
        self.expectations = list(table.expectations)
        self.requests = requests_for(self.expectations, timeout_s=timeout_s)
        self.rounds = 0
        self.denied_observed = 0
        """Denied cells probed conclusively (reached, or dropped with a positive control)."""
        self.leaks: dict[str, LeakSpan] = {}
        self.errors = 0
        self.stopped = threading.Event()

    def one_round(self) -> None:
        """One round of the matrix. A reached denied cell is a leak at once (a handshake cannot
        be faked); a dropped one counts as held only when its source's datapath demonstrably
        worked in the same round (an allowed cell from or to it answered), as the isolation
        suite judges rows: during a partition or a pod kill a drop may prove nothing."""
        t = self.clock.now_s()
        results = self.target.probe(self.requests)
        working: set[str] = set()
        for exp, res in zip(self.expectations, results, strict=True):
            if exp.allowed and res.outcome.reached is True:
                working.update((exp.cell.src, exp.cell.dst))
        for exp, res in zip(self.expectations, results, strict=True):
            reached = res.outcome.reached
            if exp.allowed or reached is None:
                continue
            if reached:
                self.denied_observed += 1
                cell = exp.cell
                span = self.leaks.get(cell.id)
                if span is None:
                    self.leaks[cell.id] = LeakSpan(
                        cell.src, cell.dst, cell.port, cell.protocol, t, t, 1
                    )
                else:
                    span.end_s = t
                    span.rounds += 1
            elif exp.cell.src in working:
                self.denied_observed += 1
        self.rounds += 1

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.one_round()
            except TargetError:
                self.errors += 1
                self.stopped.wait(self.timeout_s)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


class LoadWindow:
    """The load's cumulative counts once a second (fed by ``run_load``'s progress callback)."""

    def __init__(self, clock: Clock, keep: int = 600) -> None:
        self.clock = clock
        self.points: deque[tuple[float, int, int]] = deque(maxlen=keep)
        self.last: LiveStats | None = None

    def __call__(self, stats: LiveStats) -> None:
        self.last = stats
        self.points.append((self.clock.now_s(), stats.requests, stats.errors))

    def recent(self, window_s: float) -> tuple[int, int]:
        """(requests, errors) completed over about the last ``window_s``."""
        pts = list(self.points)
        if not pts:
            return 0, 0
        t_end, req_end, err_end = pts[-1]
        base = (0.0, 0, 0)
        for p in pts:
            if p[0] <= t_end - window_s:
                base = p
        return req_end - base[1], err_end - base[2]


__all__ = [
    "Clock",
    "IsolationProber",
    "LeakSpan",
    "LoadWindow",
    "Recovery",
    "RecoveryWatcher",
    "Sample",
    "recovery",
]
