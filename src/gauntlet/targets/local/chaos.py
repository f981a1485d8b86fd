"""Chaos faults on the local sandbox: ``inject``, ``revert`` and ``active_faults``.

Each catalog fault (``gauntlet.chaos.catalog``) the sandbox can undergo is a pair of actions
built from its checked parameters: apply and revert. ``inject`` validates everything first (a
parameter error names the fault and the parameter and leaves nothing behind), then records the
handle, and only then applies, so a fault interrupted half-way (Ctrl-C, a supervisor error) is
still listed by ``active_faults`` and ``revert`` cleans up whatever part of it got in. Reverts
are idempotent; after teardown the kernel state died with the supervisor and a revert only
forgets the handle.

Where each fault acts:
- pod-kill: SIGKILL of the agent; the supervisor's controller restarts it (ReplicaSet-like).
- node-failure: the supervisor stops every pod of a simulated node and holds them until the
  node returns (a stopped kind node's kubelet runs nothing).
- network-partition / packet-loss: an nftables table of the fault's own in the sandbox root,
  whose forward chain runs before the policy table's and drops (see ``nftables.py``).
- slow-responses / error-responses: the agents' own latency / 5xx knobs (no netem here).
- admission-webhook-outage: the control plane's Gatekeeper webhook stops answering.
- policy-engine-restart: the policy ruleset is compiled and programmed again from scratch.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gauntlet.chaos.catalog import FaultParamError, check_params
from gauntlet.targets.base import NotSupportedByTarget, PlantedFault, TargetError
from gauntlet.targets.local.faults import (
    ERROR_RESPONSES_DEFAULT_RATIO,
    SLOW_RESPONSES_DEFAULT_MS,
)
from gauntlet.targets.local.nftables import (
    chaos_table,
    delete_table_ruleset,
    flushed_policy_ruleset,
    loss_ruleset,
    partition_ruleset,
)
from gauntlet.targets.local.plan import NODES

if TYPE_CHECKING:
    from gauntlet.targets.local.sandbox import LocalSandbox

# How long a Cilium agent restart keeps the agent away by default (the pod is recreated and
# regenerates its endpoints in about a second on a small node).
ENGINE_RESTART_DEFAULT_MS = 1000.0
# How long a revert of an app-level fault retries an agent that does not answer (restarting).
_AGENT_RETRY_S = 2.0

_UNSUPPORTED: dict[str, str] = {
    "control-plane-degradation": "the sandbox's API server answers in-process; there is no "
    "control-plane node to pause",
    "registry-outage": "sandbox pods run the agent from the local filesystem; nothing pulls "
    "an image",
    "node-pressure": "the sandbox's simulated nodes have no kubelet evicting under memory pressure",
    "gitops-drift": "the sandbox holds the blueprint as loaded; there is no GitOps controller "
    "to revert drift",
}

Action = Callable[[str], None]


@dataclass(frozen=True)
class FaultActions:
    """What injecting one fault does and how it is undone (both take the handle)."""

    apply: Action
    revert: Action


@dataclass
class ActiveFault:
    handle: str
    fault_id: str
    revert: Action


@dataclass(frozen=True)
class ChaosBehaviour:
    """Planted selfcheck faults that change how the sandbox undergoes chaos (never set by a
    normal run): ``restart_fail_open`` flushes the policy rules while the engine restarts;
    ``rollback_keeps_partition`` makes a partition's revert leave the partition in place."""

    restart_fail_open: bool = False
    rollback_keeps_partition: bool = False


class SandboxChaos:
    """The sandbox's chaos driver; ``LocalSandbox`` delegates its fault verbs here."""

    def __init__(self, sandbox: LocalSandbox) -> None:
        self.sandbox = sandbox
        self.behaviour = ChaosBehaviour()
        self._active: dict[str, ActiveFault] = {}
        self._lock = threading.Lock()
        self._count = 0
        # The last measurement of each kind (nft apply/remove ms, engine away ms), for reports.
        self.timings_ms: dict[str, float] = {}

    # -- verbs --------------------------------------------------------------------------------

    def inject(self, fault: PlantedFault) -> str:
        params = dict(fault.params)
        try:
            spec = check_params(fault.id, params)
        except FaultParamError as exc:
            raise TargetError(str(exc)) from None
        if "local" not in spec.targets:
            reason = _UNSUPPORTED.get(fault.id, "a Kubernetes-only fault")
            raise NotSupportedByTarget(f"{fault.id}: not on the local sandbox: {reason}")
        running = self.sandbox.proc is not None or self.sandbox.attached
        if self.sandbox.plan is None or not running:
            raise TargetError(f"{fault.id}: deploy the blueprint before injecting faults")
        with self._lock:
            self._count += 1
            n = self._count
        actions = self._actions(fault.id, params, n)
        handle = f"{fault.id}#{n}"
        with self._lock:
            self._active[handle] = ActiveFault(handle, fault.id, actions.revert)
        try:
            actions.apply(handle)
        except TargetError:
            # Undo what got in; if that fails too, the handle stays for a later revert.
            with contextlib.suppress(TargetError):
                self.revert(handle)
            raise
        return handle

    def revert(self, handle: str) -> None:
        with self._lock:
            active = self._active.get(handle)
        if active is None:
            return
        if self.sandbox.proc is not None or self.sandbox.attached:
            active.revert(handle)
        with self._lock:
            self._active.pop(handle, None)

    def active_faults(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def forget_all(self) -> None:
        """Teardown: the supervisor took every fault's kernel state with it."""
        with self._lock:
            self._active.clear()

    # -- per fault ----------------------------------------------------------------------------

    def _actions(self, fault_id: str, params: dict[str, str], n: int) -> FaultActions:
        if fault_id == "pod-kill":
            return self._pod_kill(_pods(self.sandbox, fault_id, params, "pods"))
        if fault_id == "node-failure":
            return self._node_failure(_nodes(fault_id, params, "node")[0])
        if fault_id == "network-partition":
            return self._partition(fault_id, params, n)
        if fault_id == "packet-loss":
            pods = _pods(self.sandbox, fault_id, params, "pods")
            percent = _number(fault_id, params, "percent", low=0, high=100)
            ips = [self.sandbox.plan_or_raise().pod(p).ip for p in pods]
            return self._table(
                "packet-loss", chaos_table(n), loss_ruleset(chaos_table(n), ips, percent)
            )
        if fault_id in ("slow-responses", "error-responses"):
            return self._app_fault(fault_id, params)
        if fault_id == "admission-webhook-outage":
            control = self.sandbox.control_or_raise()
            return FaultActions(apply=control.webhook_outage, revert=control.webhook_restored)
        if fault_id == "policy-engine-restart":
            if "node" in params:
                _nodes(fault_id, params, "node")
            away_ms = _number(
                fault_id,
                params,
                "duration_ms",
                low=0,
                high=600_000,
                default=ENGINE_RESTART_DEFAULT_MS,
            )
            return FaultActions(apply=lambda _h: self._engine_restart(away_ms), revert=_nothing)
        raise NotSupportedByTarget(f"{fault_id}: the local sandbox does not implement it")

    def _pod_kill(self, pods: list[str]) -> FaultActions:
        def apply(_handle: str) -> None:
            for key in pods:
                self.sandbox.kill_pod(key)

        # The controller brings the pods back by itself; reverting only forgets the handle.
        return FaultActions(apply=apply, revert=_nothing)

    def _node_failure(self, node: str) -> FaultActions:
        def call(handle: str, *, down: bool) -> None:
            self.sandbox.call({"op": "node", "node": node, "handle": handle, "down": down})

        return FaultActions(
            apply=lambda h: call(h, down=True), revert=lambda h: call(h, down=False)
        )

    def _partition(self, fault_id: str, params: dict[str, str], n: int) -> FaultActions:
        plan = self.sandbox.plan_or_raise()
        sides = []
        for ns_param, node_param in (("a", "a_nodes"), ("b", "b_nodes")):
            if ns_param not in params and node_param not in params:
                raise TargetError(
                    f"fault {fault_id}: parameter {ns_param}: give side {ns_param.upper()} as "
                    f"namespaces ({ns_param}=ns1,ns2) or nodes ({node_param}=n1)"
                )
            namespaces = set(_namespaces(self.sandbox, fault_id, params, ns_param))
            nodes = set(_nodes(fault_id, params, node_param)) if node_param in params else set()
            keys = {p.key for p in plan.pods if p.namespace in namespaces or p.node in nodes}
            if not keys:
                raise TargetError(
                    f"fault {fault_id}: parameter {ns_param if namespaces else node_param}: "
                    "selects no pod"
                )
            sides.append(keys)
        both = sorted(sides[0] & sides[1])
        if both:
            raise TargetError(
                f"fault {fault_id}: parameters a/b: pods on both sides: {', '.join(both)}"
            )
        ip = plan.ip_of()
        table = chaos_table(n)
        ruleset = partition_ruleset(table, [ip[k] for k in sides[0]], [ip[k] for k in sides[1]])
        actions = self._table("network-partition", table, ruleset)
        if self.behaviour.rollback_keeps_partition:
            # Planted: the rollback reports success and leaves the drop rules in the kernel.
            return FaultActions(apply=actions.apply, revert=_nothing)
        return actions

    def _table(self, what: str, table: str, ruleset: str) -> FaultActions:
        def apply(handle: str) -> None:
            resp = self.sandbox.call({"op": "chaos_nft", "handle": handle, "ruleset": ruleset})
            self.timings_ms[f"{what} applied"] = float(resp["ms"])

        def revert(handle: str) -> None:
            request = {
                "op": "chaos_nft",
                "handle": handle,
                "ruleset": delete_table_ruleset(table),
                "revert": True,
            }
            resp = self.sandbox.call(request)
            self.timings_ms[f"{what} removed"] = float(resp["ms"])

        return FaultActions(apply=apply, revert=revert)

    def _app_fault(self, fault_id: str, params: dict[str, str]) -> FaultActions:
        pods = _pods(self.sandbox, fault_id, params, "pods")
        if fault_id == "slow-responses":
            latency_ms = _number(
                fault_id,
                params,
                "latency_ms",
                low=0,
                high=3_600_000,
                default=SLOW_RESPONSES_DEFAULT_MS,
            )
            on: dict[str, object] = {"op": "set_latency", "latency_ms": latency_ms}
            off: dict[str, object] = {"op": "set_latency", "latency_ms": 0}
        else:
            ratio = _number(
                fault_id, params, "ratio", low=0, high=1, default=ERROR_RESPONSES_DEFAULT_RATIO
            )
            on = {"op": "set_error_ratio", "error_ratio": ratio}
            off = {"op": "set_error_ratio", "error_ratio": 0}

        def apply(_handle: str) -> None:
            for key in pods:
                self.sandbox.agent_control(key, on)

        def revert(_handle: str) -> None:
            for key in pods:
                self._agent_reset(key, off)

        return FaultActions(apply=apply, revert=revert)

    def _agent_reset(self, key: str, request: dict[str, object]) -> None:
        """Switch an agent's fault off. An agent that does not answer is restarting or held
        on a down node; its next incarnation starts clean, so the fault is gone either way."""
        deadline = time.monotonic() + _AGENT_RETRY_S
        while True:
            try:
                self.sandbox.agent_control(key, request)
                return
            except TargetError:
                ready = any(p.ready for p in self.sandbox.pod_statuses() if p.key == key)
                if not ready:
                    return
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _engine_restart(self, away_ms: float) -> None:
        ruleset, revision = self.sandbox.policy_ruleset()
        fail_open = self.behaviour.restart_fail_open
        resp = self.sandbox.call(
            {
                "op": "engine_restart",
                "ruleset": ruleset,
                "revision": revision,
                "duration_ms": away_ms,
                "fail_open": fail_open,
                "flush_ruleset": flushed_policy_ruleset(),
            },
            timeout_s=away_ms / 1000 + 120,
        )
        self.timings_ms["policy-engine-restart away"] = float(resp["away_ms"])
        self.timings_ms["policy-engine-restart programmed"] = float(resp["program_ms"])


def _nothing(_handle: str) -> None:
    return None


# -- parameters -------------------------------------------------------------------------------


def _bad(fault_id: str, param: str, reason: str) -> TargetError:
    return TargetError(f"fault {fault_id}: parameter {param}: {reason}")


def _items(params: dict[str, str], param: str) -> list[str]:
    return [item.strip() for item in params.get(param, "").split(",") if item.strip()]


def _pods(sb: LocalSandbox, fault_id: str, params: dict[str, str], param: str) -> list[str]:
    pods = _items(params, param)
    known = {p.key for p in sb.plan_or_raise().pods}
    unknown = [p for p in pods if p not in known]
    if not pods or unknown:
        which = f"unknown pod(s) {', '.join(unknown)}; " if unknown else ""
        raise _bad(fault_id, param, f"{which}name pods of the sandbox as ns/pod, comma-separated")
    return pods


def _nodes(fault_id: str, params: dict[str, str], param: str) -> list[str]:
    nodes = _items(params, param)
    unknown = [n for n in nodes if n not in NODES]
    if not nodes or unknown:
        which = f"unknown node(s) {', '.join(unknown)}; " if unknown else ""
        raise _bad(fault_id, param, f"{which}the sandbox's nodes are {', '.join(NODES)}")
    return nodes


def _namespaces(sb: LocalSandbox, fault_id: str, params: dict[str, str], param: str) -> list[str]:
    if param not in params:
        return []
    names = _items(params, param)
    known = sorted({p.namespace for p in sb.plan_or_raise().pods})
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        which = f"unknown namespace(s) {', '.join(unknown)}; " if unknown else ""
        raise _bad(fault_id, param, f"{which}namespaces with pods: {', '.join(known)}")
    return names


def _number(
    fault_id: str,
    params: dict[str, str],
    param: str,
    *,
    low: float,
    high: float,
    default: float | None = None,
) -> float:
    raw = params.get(param)
    if raw is None:
        if default is None:
            raise _bad(fault_id, param, "required")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad(fault_id, param, f"{raw!r} is not a number") from None
    if not low <= value <= high:
        raise _bad(fault_id, param, f"{raw} is outside {low:g}..{high:g}")
    return value
