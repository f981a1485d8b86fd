"""Platform faults ``gauntlet selfcheck`` plants into the sandbox, one at a time.

Each is a real misconfiguration seen on platforms, applied to what the *sandbox enforces* while
the oracle keeps predicting from the intact blueprint: a suite with teeth must notice.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from gauntlet.policy import Direction, PeerSet, PolicySet, Rule, SelectedPolicy
from gauntlet.targets.base import PlantedFault, TargetError
from gauntlet.targets.local.control_plane import ADMISSION_FAULTS
from gauntlet.targets.local.l7 import L7Options
from gauntlet.targets.local.nftables import CompileOptions

if TYPE_CHECKING:
    from gauntlet.targets.local.sandbox import LocalSandbox

FAULTS: dict[str, str] = {
    "default-deny-removed": "a tenant's default-deny policy is missing (GitOps sync skipped it)",
    "cross-tenant-allow-all": "a clusterwide allow-all between tenant pods was added",
    "enforcement-off-pod": "policy enforcement is switched off for one pod (endpoint not "
    "programmed by the agent)",
    **ADMISSION_FAULTS,
    "l7-proxy-bypassed": "L7 rules are not enforced: traffic to HTTP-governed ports bypasses "
    "the proxy (redirect missing)",
    "l7-path-unanchored": "the L7 proxy matches path regexes unanchored (a search, not a "
    "whole-path match)",
    "l7-method-dropped": "the L7 proxy ignores the method of HTTP rules",
    "slow-responses": "one workload answers slowly (a saturated dependency, a bad release)",
    "error-responses": "one workload answers 5xx for a fraction of its requests",
    # Chaos faults: they change how the sandbox undergoes chaos for the rest of the run.
    "controller-no-restart": "the controller never restarts killed pods (a broken ReplicaSet "
    "controller / crash-looping kubelet)",
    "engine-restart-fail-open": "while the policy engine restarts, enforcement is off: the "
    "rules are flushed until it is back (a CNI that fails open)",
    "rollback-keeps-partition": "reverting a network partition leaves it in place (a rollback "
    "that reports success and does nothing)",
}

SLOW_RESPONSES_DEFAULT_MS = 500.0
ERROR_RESPONSES_DEFAULT_RATIO = 0.1

_L7_FAULTS = {
    "l7-proxy-bypassed": L7Options(bypass=True),
    "l7-path-unanchored": L7Options(unanchored=True),
    "l7-method-dropped": L7Options(ignore_method=True),
}


def plant_fault(sandbox: LocalSandbox, fault: PlantedFault) -> None:
    if sandbox.policies is None or sandbox.plan is None or sandbox.control is None:
        raise TargetError("deploy the blueprint before planting a fault")
    params = dict(fault.params)
    if fault.id in ADMISSION_FAULTS:
        sandbox.control.plant(fault.id, params)
        return
    pset = sandbox.policies
    if fault.id == "default-deny-removed":
        ns = params["namespace"]
        ref = f"CiliumNetworkPolicy {ns}/{params.get('policy', 'default-deny')}"
        if ref not in {p.ref for p in pset.policies}:
            raise TargetError(f"cannot plant {fault.id}: no {ref} in the blueprint")
        sandbox.reapply(pset.without({ref}), CompileOptions())
    elif fault.id == "cross-tenant-allow-all":
        tenants = set(params["namespaces"].split(","))
        members = frozenset(ep.index for ep in sandbox.plan.endpoints if ep.namespace in tenants)
        every = PeerSet(any_peer=False, endpoints=frozenset(range(len(sandbox.plan.pods))))
        planted = SelectedPolicy(
            ref="CiliumClusterwideNetworkPolicy planted-allow-all",
            subjects=members,
            default_deny_ingress=False,
            default_deny_egress=False,
            rules=(
                Rule(Direction.INGRESS, False, every, None, "planted allow-all ingress"),
                Rule(Direction.EGRESS, False, every, None, "planted allow-all egress"),
            ),
        )
        sandbox.reapply(PolicySet((*pset.policies, planted)), CompileOptions())
    elif fault.id in _L7_FAULTS:
        sandbox.reapply(pset, CompileOptions(l7=_L7_FAULTS[fault.id]))
    elif fault.id in ("slow-responses", "error-responses"):
        _plant_app_fault(sandbox, fault.id, params)
    elif fault.id == "enforcement-off-pod":
        sandbox.reapply(pset, CompileOptions(unenforced=frozenset({params["pod"]})))
    elif fault.id == "controller-no-restart":
        sandbox.call({"op": "controller", "restart": False})
    elif fault.id == "engine-restart-fail-open":
        behaviour = dataclasses.replace(sandbox.chaos.behaviour, restart_fail_open=True)
        sandbox.chaos.behaviour = behaviour
    elif fault.id == "rollback-keeps-partition":
        behaviour = dataclasses.replace(sandbox.chaos.behaviour, rollback_keeps_partition=True)
        sandbox.chaos.behaviour = behaviour
    else:
        raise TargetError(f"unknown fault {fault.id!r}; known: {', '.join(FAULTS)}")


def _plant_app_fault(sandbox: LocalSandbox, fault_id: str, params: dict[str, str]) -> None:
    """Application-level faults live in the agents of the workload's pods (``pods=a,b``; no
    netem on these kernels); they last until a pod restarts, like a process that went bad."""
    pods = [p for p in params.get("pods", "").split(",") if p]
    unknown = [p for p in pods if p not in sandbox.sockets]
    if not pods or unknown:
        which = f" (unknown: {', '.join(unknown)})" if unknown else ""
        raise TargetError(
            f"cannot plant {fault_id}: pods= must name pods of the sandbox, ns/pod "
            f"comma-separated{which}"
        )
    try:
        if fault_id == "slow-responses":
            value = float(params.get("latency_ms", SLOW_RESPONSES_DEFAULT_MS))
            request: dict[str, object] = {"op": "set_latency", "latency_ms": value}
        else:
            value = float(params.get("ratio", ERROR_RESPONSES_DEFAULT_RATIO))
            request = {"op": "set_error_ratio", "error_ratio": value}
    except ValueError as exc:
        raise TargetError(f"cannot plant {fault_id}: {exc}") from None
    for pod in pods:
        sandbox.agent_control(pod, request)
