"""The cost sheets as the target holds them, and the tables the cost checks attach.

Every tenant is listed once per session (a fixture) and read by both the per-tenant check and the
cross-tenant report, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenancy_cost import WORKLOAD_KINDS, CostSheet, cost_sheet, quota_hard_text
from tenancy_observe import list_objects
from tenancy_pods import quantity_text
from tenancy_table import render_table

from gauntlet.blueprint.model import Blueprint
from gauntlet.targets.base import Target

REPORT_HEADER = (
    "tenant",
    "cost-center",
    "workloads",
    "pods",
    "cpu requested",
    "memory requested",
    "quota cpu",
    "quota memory",
    "explicit",
)


@dataclass(frozen=True)
class TenantCost:
    """One tenant's cost sheet and quotas, or why the target could not show them."""

    namespace: str
    cost_center: str
    sheet: CostSheet | None
    quotas: list[dict[str, Any]]
    declared_workloads: int
    error: str = ""


def observe_costs(bp: Blueprint, target: Target) -> dict[str, TenantCost]:
    """A cost sheet per tenant from the workloads, LimitRanges and quotas the target holds."""
    out = {}
    for ns in bp.tenants():
        cost_center = bp.namespace_labels(ns).get("cost-center", "-")
        declared = sum(len(bp.objects(k, ns)) for k in WORKLOAD_KINDS)
        workloads: list[dict[str, Any]] = []
        errors = []
        for kind in WORKLOAD_KINDS:
            docs, error = list_objects(target, kind, ns)
            workloads += docs
            if error:
                errors.append(f"{kind}: {error}")
        limit_ranges, lr_error = list_objects(target, "LimitRange", ns)
        quotas, q_error = list_objects(target, "ResourceQuota", ns)
        errors += [e for e in (lr_error, q_error) if e]
        if errors:
            out[ns] = TenantCost(ns, cost_center, None, [], declared, "; ".join(errors))
            continue
        try:
            sheet = cost_sheet(ns, workloads, limit_ranges)
        except ValueError as exc:  # a quantity the API server would not have stored
            out[ns] = TenantCost(ns, cost_center, None, quotas, declared, f"bad quantity: {exc}")
            continue
        out[ns] = TenantCost(ns, cost_center, sheet, quotas, declared)
    return out


def tenant_table(cost: TenantCost, sheet: CostSheet) -> str:
    """Workload by workload, then the total and the quota's hard requests."""
    rows = [w.row() for w in sheet.workloads]
    cpu, memory = sheet.cpu_millicores, sheet.memory_bytes
    rows.append(
        [
            "TOTAL",
            str(sheet.pods),
            str(sheet.containers),
            quantity_text("cpu", cpu),
            quantity_text("memory", memory),
        ]
    )
    hard_cpu = quota_hard_text(cost.quotas, "requests.cpu")
    hard_memory = quota_hard_text(cost.quotas, "requests.memory")
    rows.append(["quota hard (requests)", "", "", hard_cpu, hard_memory])
    return render_table(("workload", "pods", "containers", "cpu", "memory"), rows)


def report_table(costs: dict[str, TenantCost]) -> tuple[str, int, int, list[str]]:
    """(table, total cpu millicores, total memory bytes, tenants that could not be listed)."""
    rows = []
    cpu_total = memory_total = 0
    unlisted = []
    for ns, cost in sorted(costs.items()):
        if cost.sheet is None:
            unlisted.append(ns)
            rows.append([ns, cost.cost_center, "?", "?", "?", "?", "-", "-", "not listed"])
            continue
        sheet = cost.sheet
        cpu_total += sheet.cpu_millicores
        memory_total += sheet.memory_bytes
        rows.append(
            [
                ns,
                cost.cost_center,
                str(len(sheet.workloads)),
                str(sheet.pods),
                quantity_text("cpu", sheet.cpu_millicores),
                quantity_text("memory", sheet.memory_bytes),
                quota_hard_text(cost.quotas, "requests.cpu"),
                quota_hard_text(cost.quotas, "requests.memory"),
                "yes" if not sheet.gaps else "no",
            ]
        )
    total = ["TOTAL", "", "", "", quantity_text("cpu", cpu_total)]
    rows.append([*total, quantity_text("memory", memory_total), "", "", ""])
    return render_table(REPORT_HEADER, rows), cpu_total, memory_total, unlisted
