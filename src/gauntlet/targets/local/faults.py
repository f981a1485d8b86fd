"""Platform faults ``gauntlet selfcheck`` plants into the sandbox, one at a time.

Each is a real misconfiguration seen on platforms, applied to what the *sandbox enforces* while
the oracle keeps predicting from the intact blueprint: a suite with teeth must notice.
"""

from __future__ import annotations

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
}

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
    elif fault.id == "enforcement-off-pod":
        sandbox.reapply(pset, CompileOptions(unenforced=frozenset({params["pod"]})))
    else:
        raise TargetError(f"unknown fault {fault.id!r}; known: {', '.join(FAULTS)}")
