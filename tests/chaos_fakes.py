"""An in-memory target for unit tests of the chaos runner's own code paths (not evidence that
any platform behaves: the e2e tests run the real sandbox)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gauntlet.blueprint.model import Blueprint
from gauntlet.oracle import compute_truth_table
from gauntlet.targets.base import (
    NotSupportedByTarget,
    Outcome,
    PlantedFault,
    PodStatus,
    ProbeRequest,
    ProbeResult,
)


@dataclass
class FakeTarget:
    blueprint: Blueprint
    name: str = "local"
    restart_after_s: float | None = 0.5
    """A killed pod is ready again this long after the kill; None: never."""
    leak_while_faulted: bool = False
    """Denied cells connect while any fault is in place."""
    revert_works: bool = True
    unsupported: frozenset[str] = frozenset()
    killed_at: dict[str, float] = field(default_factory=dict)
    active: dict[str, PlantedFault] = field(default_factory=dict)
    injected: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.allowed = {
            e.cell.id: e.allowed for e in compute_truth_table(self.blueprint).expectations
        }

    def _down(self, key: str) -> bool:
        at = self.killed_at.get(key)
        if at is None:
            return False
        if self.restart_after_s is None:
            return True
        return time.monotonic() - at < self.restart_after_s

    def pod_statuses(self) -> list[PodStatus]:
        return [
            PodStatus(
                key=p.key,
                ip="10.0.0.1",
                ready=not self._down(p.key),
                restarts=int(p.key in self.killed_at),
                start_latency_ms=100.0,
            )
            for p in self.blueprint.pods()
        ]

    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        out = []
        for r in requests:
            cell = f"{r.src}->{r.dst}:{r.port}/{r.protocol}"
            ok = self.allowed.get(cell, True) or (self.leak_while_faulted and bool(self.active))
            ok = ok and not self._down(r.dst) and not self._down(r.src)
            out.append(ProbeResult(r.id, Outcome.CONNECTED if ok else Outcome.TIMEOUT, 1.0))
        return out

    def inject(self, fault: PlantedFault) -> str:
        if fault.id in self.unsupported:
            raise NotSupportedByTarget(f"{fault.id} cannot happen here")
        with self.lock:
            handle = f"{fault.id}#{len(self.injected) + 1}"
            self.injected.append(handle)
            self.active[handle] = fault
        if fault.id == "pod-kill":
            for key in dict(fault.params)["pods"].split(","):
                self.killed_at[key] = time.monotonic()
        return handle

    def revert(self, handle: str) -> None:
        with self.lock:
            self.reverted.append(handle)
            if self.revert_works or not handle.startswith("network-partition"):
                self.active.pop(handle, None)

    def active_faults(self) -> list[str]:
        return list(self.active)

    def wait_policy_converged(self, *, timeout_s: float) -> bool:
        return True

    def distribution(self) -> object:
        raise NotImplementedError
