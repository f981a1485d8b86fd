"""The chaos faults Gauntlet knows, with the parameters every driver reads.

A fault is a ``PlantedFault(id, description, params)`` handed to ``Target.inject``; ``params``
are strings (they come from Chaos Toolkit experiment arguments and from the command line).
Drivers raise ``NotSupportedByTarget`` (with the reason) for faults their platform cannot
undergo; the chaos runner reports those experiments as skipped, never as passed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultSpec:
    id: str
    description: str
    # name -> meaning; every parameter not listed as optional is required.
    params: dict[str, str]
    optional: frozenset[str] = frozenset()
    # Which targets can undergo it ("local", "kubernetes").
    targets: frozenset[str] = frozenset({"local", "kubernetes"})


_BOTH = frozenset({"local", "kubernetes"})
_KUBE = frozenset({"kubernetes"})

CATALOG: dict[str, FaultSpec] = {
    s.id: s
    for s in (
        FaultSpec(
            "pod-kill",
            "kill pods: one pod, or every replica of a workload (SIGKILL / pod delete); the "
            "controller is expected to bring them back",
            {
                "pods": "comma-separated ns/pod keys to kill",
            },
        ),
        FaultSpec(
            "node-failure",
            "a node goes down: every pod on it stops and is not rescheduled until the node "
            "returns (sandbox: simulated node; kind: `docker stop` of the node container)",
            {"node": "node name"},
        ),
        FaultSpec(
            "network-partition",
            "traffic between two groups is dropped both ways: namespaces (`a=ns1,ns2` "
            "`b=ns3`) or nodes (`a_nodes=n1` `b_nodes=n2`)",
            {
                "a": "comma-separated namespaces of side A",
                "b": "comma-separated namespaces of side B",
                "a_nodes": "comma-separated nodes of side A",
                "b_nodes": "comma-separated nodes of side B",
            },
            optional=frozenset({"a", "b", "a_nodes", "b_nodes"}),
        ),
        FaultSpec(
            "packet-loss",
            "a share of the packets to and from some pods is dropped (nftables numgen; no "
            "netem on these kernels)",
            {"pods": "comma-separated ns/pod keys", "percent": "0-100"},
        ),
        FaultSpec(
            "slow-responses",
            "the workload answers slowly (application-level latency)",
            {"pods": "comma-separated ns/pod keys", "latency_ms": "added latency"},
            optional=frozenset({"latency_ms"}),
        ),
        FaultSpec(
            "error-responses",
            "the workload answers 5xx for a share of its requests",
            {"pods": "comma-separated ns/pod keys", "ratio": "0-1"},
            optional=frozenset({"ratio"}),
        ),
        FaultSpec(
            "admission-webhook-outage",
            "the policy engine's admission webhook is unavailable (Gatekeeper scaled to zero); "
            "what gets in then depends on the webhook's failurePolicy",
            {},
        ),
        FaultSpec(
            "policy-engine-restart",
            "the CNI's policy agent restarts (Cilium agent pod deleted / the sandbox's "
            "enforcement reprogrammed); enforcement must hold throughout",
            {"duration_ms": "how long the agent is away", "node": "which node's agent"},
            optional=frozenset({"duration_ms", "node"}),
        ),
        FaultSpec(
            "control-plane-degradation",
            "the API server is slow or unavailable for a while (kind: control-plane node "
            "container paused)",
            {"duration_s": "how long"},
            optional=frozenset({"duration_s"}),
            targets=_KUBE,
        ),
        FaultSpec(
            "registry-outage",
            "image pulls fail (the workload's image points at an unreachable registry mirror)",
            {"namespace": "namespace", "deployment": "deployment name"},
            targets=_KUBE,
        ),
        FaultSpec(
            "node-pressure",
            "a node runs short of memory (a hog pod pinned to it) and the kubelet evicts",
            {"node": "node name", "memory": "quantity to allocate, e.g. 1Gi"},
            optional=frozenset({"memory"}),
            targets=_KUBE,
        ),
        FaultSpec(
            "gitops-drift",
            "an object of the blueprint is changed out of band; the GitOps controller must "
            "revert it",
            {"kind": "kind", "namespace": "namespace", "name": "name"},
            targets=_KUBE,
        ),
    )
}


class FaultParamError(ValueError):
    pass


def check_params(fault_id: str, params: dict[str, str]) -> FaultSpec:
    """The fault's spec, after checking its parameters name only what it reads."""
    spec = CATALOG.get(fault_id)
    if spec is None:
        raise FaultParamError(f"unknown chaos fault {fault_id!r}; known: {', '.join(CATALOG)}")
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise FaultParamError(
            f"fault {fault_id}: unknown parameter(s) {', '.join(unknown)}; "
            f"it takes {', '.join(spec.params) or 'none'}"
        )
    missing = sorted(set(spec.params) - spec.optional - set(params))
    if missing:
        raise FaultParamError(f"fault {fault_id}: missing parameter(s) {', '.join(missing)}")
    return spec
