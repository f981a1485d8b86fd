"""Chaos Toolkit probes for steady-state hypotheses, answered by the current target.

Each returns a plain value the hypothesis compares with a tolerance (``tolerance: true``, or a
range for ``error_ratio``). They observe; they never change the platform.
"""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed

from gauntlet.blueprint.samples import pod_security_context, restricted_container, workload
from gauntlet.chaos.context import current
from gauntlet.isolation import CellVerdict, probe_round
from gauntlet.targets.base import ProbeMode, ProbeRequest, TargetError

__all__ = [
    "admission_enforced",
    "all_pods_ready",
    "error_ratio",
    "isolation_holds",
    "reachable",
]


def all_pods_ready(namespaces: list[str] | None = None) -> bool:
    """Every pod of the blueprint (in ``namespaces``) runs and is ready."""
    ctx = current()
    want = {p.key for p in ctx.blueprint.pods() if not namespaces or p.namespace in namespaces}
    ready = {s.key for s in ctx.target.pod_statuses() if s.ready}
    return want <= ready


def reachable(src: str, dst: str, port: int, protocol: str = "TCP", timeout_s: float = 1.0) -> bool:
    """``src`` reaches ``dst`` on ``port`` now (a TCP handshake or a UDP reply)."""
    mode = ProbeMode.UDP if protocol.upper() == "UDP" else ProbeMode.TCP
    req = ProbeRequest(
        id="probe",
        src=src,
        dst=dst,
        port=port,
        protocol=protocol.upper(),
        mode=mode,
        timeout_s=timeout_s,
    )
    try:
        (res,) = current().target.probe([req])
    except TargetError as exc:
        raise ActivityFailed(f"cannot probe {src} -> {dst}:{port}: {exc}") from exc
    return res.outcome.reached is True


def isolation_holds(timeout_s: float = 0.5) -> bool:
    """One round of the isolation matrix now: no denied cell is reachable and allowed cells
    answer (a round where nothing answered proves nothing: that is a failure here)."""
    ctx = current()
    cells = probe_round(ctx.target, ctx.truth_table(), timeout_s=timeout_s)
    if any(c.verdict is CellVerdict.LEAK for c in cells.values()):
        return False
    return all(c.verdict is CellVerdict.OK for c in cells.values() if c.expectation.allowed)


def admission_enforced(
    namespace: str, as_user: str = "gauntlet-chaos", as_groups: list[str] | None = None
) -> bool:
    """A privileged pod is refused in ``namespace`` by the guardrails (a ``[constraint] msg``
    denial) or by an unavailable webhook that fails closed (a 5xx); admitted means the
    guardrails are open. A refusal for another reason (RBAC, quota) cannot tell: it fails the
    probe with the API server's message. ``system:masters`` by default, as cluster admins
    submit: RBAC allows it, admission webhooks still judge it."""
    container = restricted_container(
        "app",
        namespace.removeprefix("team-"),
        requests={"cpu": "50m", "memory": "32Mi"},
        limits={"cpu": "100m", "memory": "64Mi"},
    )
    # The API server rejects privileged with allowPrivilegeEscalation false as invalid.
    container["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    manifest = workload(
        "Pod",
        {"name": "gauntlet-chaos-privileged", "namespace": namespace},
        {"securityContext": pod_security_context(), "containers": [container]},
    )
    groups = tuple(as_groups) if as_groups is not None else ("system:masters",)
    try:
        result = current().target.admit(manifest, as_user=as_user, as_groups=groups)
    except TargetError as exc:
        raise ActivityFailed(f"cannot submit a manifest for admission: {exc}") from exc
    if result.allowed:
        return False
    if result.denials or result.status_code >= 500:
        return True
    raise ActivityFailed(
        f"admission refused the probe pod for another reason (HTTP {result.status_code}): "
        f"{result.message}"
    )


def error_ratio(window_s: float = 5.0) -> float:
    """Share of failed requests of the experiment's load over the last ``window_s``; 0.0 when
    no load runs would hide an outage, so no requests raises instead."""
    window = current().load_window
    if window is None:
        raise ActivityFailed("no load runs during this experiment: error_ratio cannot observe")
    requests, errors = window.recent(window_s)
    if requests == 0:
        raise ActivityFailed(f"no request completed in the last {window_s:g} s")
    return errors / requests
