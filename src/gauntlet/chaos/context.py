"""The run an experiment's activities act on: the target, the faults in place, the timeline.

Chaos Toolkit calls our activities as plain functions (``provider: {type: python, module:
gauntlet.chaos.actions, func: ...}``), so the state they share lives here, bound by the runner
for the length of one experiment. Every fault goes through ``ChaosContext.inject`` so that the
runner knows it and reverts it whatever happens: a rollback that was skipped, a safeguard that
fired, Ctrl-C, an exception.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from gauntlet.blueprint.model import Blueprint
from gauntlet.chaos.catalog import FaultParamError, check_params
from gauntlet.chaos.watch import LoadWindow, RecoveryWatcher
from gauntlet.oracle import TruthTable, compute_truth_table
from gauntlet.report.scorecard import ChaosEvent
from gauntlet.targets.base import PlantedFault, Target, TargetError


class NoChaosRun(RuntimeError):
    """An activity was called outside a Gauntlet chaos run."""


@dataclass
class FaultRecord:
    handle: str
    fault: str
    params: dict[str, str]
    injected_s: float
    """Seconds since the experiment started."""
    reverted_s: float | None = None
    instantaneous: bool = False
    """The fault is a single blow (a pod kill): it ends when it is injected."""


# Faults that are one blow: the platform starts recovering the moment they are injected.
INSTANTANEOUS = frozenset({"pod-kill", "policy-engine-restart"})


@dataclass
class ChaosContext:
    target: Target
    blueprint: Blueprint
    started_mono: float = field(default_factory=time.monotonic)
    events: list[ChaosEvent] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    # Set when the safeguard aborted the experiment (or the user interrupted it): activities
    # still to come refuse to inject, and holds end at once.
    abort: threading.Event = field(default_factory=threading.Event)
    abort_reason: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    watcher: RecoveryWatcher | None = None
    # Set once an activity waited for recovery (the runner then does not wait a second time).
    recovery_waited: bool = False
    # Caps every recovery wait (tests, and game days in a hurry); None: the experiment's.
    recovery_timeout_cap_s: float | None = None
    load_window: LoadWindow | None = None
    _table: TruthTable | None = field(default=None, repr=False)

    def truth_table(self) -> TruthTable:
        """The blueprint's expected matrix, computed once per run."""
        if self._table is None:
            self._table = compute_truth_table(self.blueprint)
        return self._table

    def now_s(self) -> float:
        return time.monotonic() - self.started_mono

    def event(self, kind: str, message: str) -> None:
        with self.lock:
            self.events.append(ChaosEvent(t_s=max(0.0, self.now_s()), kind=kind, message=message))

    def inject(self, fault_id: str, params: dict[str, str]) -> str:
        if self.abort.is_set():
            raise TargetError(f"not injecting {fault_id}: the experiment was aborted")
        try:
            check_params(fault_id, params)
        except FaultParamError as exc:
            raise TargetError(str(exc)) from None
        desc = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        at = self.now_s()
        handle = self.target.inject(
            PlantedFault(id=fault_id, description=desc, params=tuple(sorted(params.items())))
        )
        record = FaultRecord(
            handle, fault_id, dict(params), at, instantaneous=fault_id in INSTANTANEOUS
        )
        if record.instantaneous:
            record.reverted_s = at
        with self.lock:
            self.faults.append(record)
        self.event("fault-injected", f"{fault_id} ({desc or 'no parameters'}) [{handle}]")
        return handle

    def revert(
        self, *, fault_id: str | None = None, handle: str | None = None, reason: str = ""
    ) -> list[str]:
        """Revert the active faults (one handle, one kind, or all); returns the handles
        reverted."""
        with self.lock:
            todo = [
                f
                for f in self.faults
                if (fault_id is None or f.fault == fault_id)
                and (handle is None or f.handle == handle)
                and (f.reverted_s is None or f.instantaneous)
            ]
        done = []
        for record in todo:
            self.target.revert(record.handle)
            if record.instantaneous:
                continue
            record.reverted_s = self.now_s()
            done.append(record.handle)
            why = f" ({reason})" if reason else ""
            self.event("fault-reverted", f"{record.fault} [{record.handle}]{why}")
        return done

    def active(self) -> list[FaultRecord]:
        with self.lock:
            return [f for f in self.faults if f.reverted_s is None]

    def fault_window(self) -> tuple[float, float] | None:
        """First injection to last revert (seconds since the start); None if nothing ran."""
        with self.lock:
            if not self.faults:
                return None
            start = min(f.injected_s for f in self.faults)
            ends = [f.reverted_s for f in self.faults]
        end = (
            self.now_s() if any(e is None for e in ends) else max(e for e in ends if e is not None)
        )
        return start, end

    def hold(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the experiment is aborted first; False when aborted."""
        return not self.abort.wait(max(0.0, seconds))


_current: ChaosContext | None = None


@contextlib.contextmanager
def bound(ctx: ChaosContext) -> Iterator[ChaosContext]:
    global _current
    if _current is not None:
        raise RuntimeError("a chaos experiment is already running in this process")
    _current = ctx
    try:
        yield ctx
    finally:
        _current = None


_attached: ChaosContext | None = None


def current() -> ChaosContext:
    global _attached
    if _current is not None:
        return _current
    if _attached is None:
        from gauntlet.chaos.standalone import attached_context

        _attached = attached_context()
    if _attached is not None:
        return _attached
    if _current is None:
        raise NoChaosRun(
            "gauntlet.chaos activities act on the target of a Gauntlet chaos run; run the "
            "experiment with `gauntlet gameday` or the chaos suite (`gauntlet run --suite "
            "chaos`), or set GAUNTLET_SANDBOX to a sandbox started with `gauntlet up`"
        )
    return _current
