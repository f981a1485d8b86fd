"""What the cluster holds: ``objects`` by kind, and Gatekeeper's audit from constraint status.

``objects(kind, namespace)`` takes the bare kind names the sandbox takes (``ResourceQuota``,
``CiliumNetworkPolicy``, ``PrometheusRule``...). The apiVersion comes from Gauntlet's resource
table when it knows the kind and from discovery otherwise; a kind the cluster does not serve (its
CRD is not installed) is a ``TargetError``, which suites keep apart from "holds none". As in
the sandbox, a cluster-scoped kind asked for in a namespace has no objects there.
``metadata.managedFields`` is dropped (kubectl hides it too): it is bookkeeping, not state.

Gatekeeper's audit (``pkg/audit``) writes what it found on each constraint:
``status.auditTimestamp``, ``status.totalViolations`` and ``status.violations[]`` (``kind``,
``namespace``, ``name``, ``message``, ``enforcementAction``), capped by
``--constraint-violations-limit`` (default 20). A constraint never audited, or whose list was
capped below its total, cannot answer "exactly these violations": that is a ``TargetError``
(the suite's check becomes inconclusive), never a silently short list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gauntlet.rbac import KNOWN_RESOURCES
from gauntlet.targets.base import AuditFinding, TargetError
from gauntlet.targets.kubernetes.client import KubeClient

__all__ = [
    "CONSTRAINTS_GROUP",
    "api_version_for",
    "audit",
    "audit_timestamps",
    "constraints",
    "findings",
    "objects",
]

CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"
_TABLE = {info.kind: info.api_version for info in KNOWN_RESOURCES}


def api_version_for(client: KubeClient, kind: str) -> str:
    """The apiVersion to list ``kind`` with: the table's, else discovery's (preferred version;
    the core group wins a tie, as kubectl's RESTMapper prefers it)."""
    if kind in _TABLE:
        return _TABLE[kind]
    served = sorted(client.served_resources(), key=lambda r: r.group != "")
    for res in served:
        if res.kind == kind:
            return res.api_version
    raise TargetError(f"the cluster serves no kind {kind!r} (is its CRD installed?)")


def objects(client: KubeClient, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    api_version = api_version_for(client, kind)
    _, namespaced = client.resource(api_version, kind)
    if namespace and not namespaced:
        return []
    items = client.list(api_version, kind, namespace=namespace)
    for item in items:
        (item.get("metadata") or {}).pop("managedFields", None)
    return items


def constraints(client: KubeClient) -> list[dict[str, Any]]:
    """Every constraint of every template (one kind per ConstraintTemplate)."""
    groups = client.api_groups()
    if CONSTRAINTS_GROUP not in groups:
        raise TargetError(
            f"the cluster serves no {CONSTRAINTS_GROUP} API: Gatekeeper is not installed, or no "
            "ConstraintTemplate exists"
        )
    api_version = groups[CONSTRAINTS_GROUP]
    kinds = sorted(r.kind for r in client.served_resources() if r.api_version == api_version)
    found: list[dict[str, Any]] = []
    for kind in kinds:
        found.extend(client.list(api_version, kind))
    return found


def audit_timestamps(items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``kind/name`` -> ``status.auditTimestamp`` ("" when never audited)."""
    return {
        f"{c.get('kind')}/{(c.get('metadata') or {}).get('name')}": str(
            (c.get("status") or {}).get("auditTimestamp") or ""
        )
        for c in items
    }


def findings(items: Sequence[Mapping[str, Any]]) -> list[AuditFinding]:
    """The audit findings recorded on constraints; TargetError if some cannot be trusted."""
    out: list[AuditFinding] = []
    unaudited: list[str] = []
    capped: list[str] = []
    for c in items:
        name = str((c.get("metadata") or {}).get("name") or "")
        kind = str(c.get("kind") or "")
        status = c.get("status") or {}
        if not status.get("auditTimestamp"):
            unaudited.append(f"{kind}/{name}")
            continue
        violations = status.get("violations") or []
        total = status.get("totalViolations")
        if isinstance(total, int) and total > len(violations):
            capped.append(f"{kind}/{name} ({len(violations)} of {total})")
        default_action = str((c.get("spec") or {}).get("enforcementAction") or "deny")
        for v in violations:
            out.append(
                AuditFinding(
                    constraint=name,
                    constraint_kind=kind,
                    action=str(v.get("enforcementAction") or default_action),
                    kind=str(v.get("kind") or ""),
                    namespace=str(v.get("namespace") or ""),
                    name=str(v.get("name") or ""),
                    message=str(v.get("message") or ""),
                )
            )
    if unaudited:
        raise TargetError(f"Gatekeeper has not audited {', '.join(unaudited)} yet")
    if capped:
        raise TargetError(
            "Gatekeeper's audit lists only part of the violations of "
            f"{', '.join(capped)}: raise its --constraint-violations-limit"
        )
    return out


def audit(client: KubeClient) -> list[AuditFinding]:
    return findings(constraints(client))
