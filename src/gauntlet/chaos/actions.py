"""Chaos Toolkit actions that dispatch to the current target.

Use them in an experiment's ``method`` and ``rollbacks``::

    - type: action
      name: kill-one-api-pod
      provider:
        type: python
        module: gauntlet.chaos.actions
        func: kill_pods
        arguments: {namespace: team-alpha, workload: api}

A held fault (``duration_s`` > 0) is injected, held, then lifted by the action itself, so the
fault window is exactly what the experiment says; ``revert_faults`` in ``rollbacks`` lifts
whatever is still in place (and the runner lifts it anyway when the experiment ends). The
safeguard or Ctrl-C ends a hold early: the action then raises ``InterruptExecution``, Chaos
Toolkit marks the run interrupted and plays the rollbacks.
"""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed, InterruptExecution

from gauntlet.chaos.context import current
from gauntlet.targets.base import NotSupportedByTarget, TargetError

__all__ = [
    "admission_webhook_outage",
    "error_responses",
    "fail_node",
    "inject_fault",
    "kill_pods",
    "packet_loss",
    "partition_namespaces",
    "partition_nodes",
    "restart_policy_engine",
    "revert_faults",
    "slow_responses",
    "wait_for_recovery",
]

# Which catalog fault each action injects (reports list the faults an experiment uses).
FAULT_OF_ACTION = {
    "kill_pods": "pod-kill",
    "fail_node": "node-failure",
    "partition_namespaces": "network-partition",
    "partition_nodes": "network-partition",
    "packet_loss": "packet-loss",
    "slow_responses": "slow-responses",
    "error_responses": "error-responses",
    "admission_webhook_outage": "admission-webhook-outage",
    "restart_policy_engine": "policy-engine-restart",
}


def inject_fault(fault: str, params: dict[str, str] | None = None, duration_s: float = 0.0) -> str:
    """Inject a catalog fault (``gauntlet.chaos.catalog``); with ``duration_s`` > 0 hold it that
    long, then lift it. Returns the fault's handle."""
    ctx = current()
    clean = {str(k): str(v) for k, v in (params or {}).items()}
    try:
        handle = ctx.inject(fault, clean)
    except NotSupportedByTarget as exc:
        raise ActivityFailed(f"{fault}: not supported by this target: {exc}") from exc
    except TargetError as exc:
        raise ActivityFailed(f"{fault}: {exc}") from exc
    if duration_s > 0:
        if not ctx.hold(duration_s):
            raise InterruptExecution(
                f"{fault} held for less than {duration_s:g} s: {ctx.abort_reason}"
            )
        ctx.revert(handle=handle, reason=f"after {duration_s:g} s")
    return handle


def _pods_of(namespace: str, workload: str | None, pods: list[str] | None) -> list[str]:
    bp = current().blueprint
    if pods:
        keys = [p if "/" in p else f"{namespace}/{p}" for p in pods]
    else:
        keys = [p.key for p in bp.pods() if p.namespace == namespace and p.deployment == workload]
    known = {p.key for p in bp.pods()}
    unknown = [k for k in keys if k not in known]
    if unknown or not keys:
        what = f"workload {workload!r}" if workload else "the pods given"
        raise ActivityFailed(
            f"no pods to act on in {namespace} ({what}); unknown: {', '.join(unknown) or '-'}"
        )
    return keys


def kill_pods(
    namespace: str,
    workload: str | None = None,
    pods: list[str] | None = None,
    all_replicas: bool = False,
) -> str:
    """Kill one pod of ``workload`` (the first replica), every replica with ``all_replicas``,
    or the ``pods`` named; the platform's controller must bring them back."""
    keys = _pods_of(namespace, workload, pods)
    if workload and not pods and not all_replicas:
        keys = keys[:1]
    return inject_fault("pod-kill", {"pods": ",".join(keys)})


def fail_node(node: str, duration_s: float) -> str:
    """A node goes down for ``duration_s``: its pods stop and are not rescheduled."""
    return inject_fault("node-failure", {"node": node}, duration_s)


def partition_namespaces(a: list[str], b: list[str], duration_s: float) -> str:
    """Drop all traffic between namespaces ``a`` and ``b``, both ways, for ``duration_s``."""
    return inject_fault("network-partition", {"a": ",".join(a), "b": ",".join(b)}, duration_s)


def partition_nodes(a: list[str], b: list[str], duration_s: float) -> str:
    """Drop all traffic between the pods of nodes ``a`` and of nodes ``b``."""
    params = {"a_nodes": ",".join(a), "b_nodes": ",".join(b)}
    return inject_fault("network-partition", params, duration_s)


def packet_loss(
    namespace: str,
    percent: int,
    duration_s: float,
    workload: str | None = None,
    pods: list[str] | None = None,
) -> str:
    """Drop ``percent`` % of the packets to and from the pods (nftables numgen)."""
    keys = _pods_of(namespace, workload, pods)
    params = {"pods": ",".join(keys), "percent": str(percent)}
    return inject_fault("packet-loss", params, duration_s)


def slow_responses(
    namespace: str,
    latency_ms: float,
    duration_s: float,
    workload: str | None = None,
    pods: list[str] | None = None,
) -> str:
    """The pods answer ``latency_ms`` slower (application level: no netem here)."""
    keys = _pods_of(namespace, workload, pods)
    params = {"pods": ",".join(keys), "latency_ms": f"{latency_ms:g}"}
    return inject_fault("slow-responses", params, duration_s)


def error_responses(
    namespace: str,
    ratio: float,
    duration_s: float,
    workload: str | None = None,
    pods: list[str] | None = None,
) -> str:
    """The pods answer 5xx to ``ratio`` of their requests."""
    keys = _pods_of(namespace, workload, pods)
    params = {"pods": ",".join(keys), "ratio": f"{ratio:g}"}
    return inject_fault("error-responses", params, duration_s)


def admission_webhook_outage(duration_s: float) -> str:
    """The policy engine's admission webhook is unavailable for ``duration_s``."""
    return inject_fault("admission-webhook-outage", {}, duration_s)


def restart_policy_engine(duration_ms: int = 1000, node: str | None = None) -> str:
    """The CNI's policy agent restarts (away ``duration_ms``); enforcement must hold."""
    params = {"duration_ms": str(duration_ms)}
    if node:
        params["node"] = node
    return inject_fault("policy-engine-restart", params)


def revert_faults(fault: str | None = None) -> list[str]:
    """Rollback: lift every fault still in place (of kind ``fault``, or all)."""
    return current().revert(fault_id=fault, reason="rollback")


def wait_for_recovery(timeout_s: float = 30.0, stable_s: float = 1.0) -> bool:
    """Wait until the platform is whole again after the faults so far: every pod ready and the
    experiment's canaries answering, steadily for ``stable_s``. False when ``timeout_s``
    passed first (the after-hypothesis then shows what is still broken)."""
    ctx = current()
    window = ctx.fault_window()
    since = window[1] if window else 0.0
    watcher = ctx.watcher
    if watcher is None:
        raise ActivityFailed("no recovery watcher runs in this chaos run")
    if ctx.recovery_timeout_cap_s is not None:
        timeout_s = min(timeout_s, ctx.recovery_timeout_cap_s)
    ctx.recovery_waited = True
    recovered = watcher.wait_steady(since_s=since, timeout_s=timeout_s, stable_s=stable_s)
    ctx.event(
        "recovered" if recovered else "note",
        "steady state restored" if recovered else f"not recovered after {timeout_s:g} s",
    )
    return recovered
