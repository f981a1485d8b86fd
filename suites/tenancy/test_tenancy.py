"""Tenancy suite (promises P1, P5, P6, P10): what every tenant gets, and what it cannot do.

One check per (promise, tenant), tenants being the blueprint's ``tenants/<team>/`` namespaces:

* ``baseline-<ns>``: the platform holds the tenant's quota, limit range, default-deny policy
  (both directions) and monitoring placeholder, and every object the blueprint labels baseline.
* ``rbac-<ns>``: the tenant's developers manage workloads at home and nothing else: no other
  tenant's secrets, no cluster-scoped writes, no touching their baseline, no binding
  cluster-admin or escalating through a wildcard Role, no ClusterRoleBinding at all.
* ``quota-<ns>``: a compliant Pod over the quota is refused by the quota (and one over only what
  is *left* of it, proving usage is accounted), while a small one is admitted.
* ``cost-<ns>``: every workload declares its cpu/memory requests; ``cost-report`` lists the
  requested resources per tenant against the quotas.

How subjects are derived, when a check is inconclusive and why explicit requests are required
is in docs/suites/tenancy.md.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from tenancy_baseline import observe_baseline
from tenancy_cost_report import TenantCost, observe_costs, report_table, tenant_table
from tenancy_observe import list_objects, names
from tenancy_pods import (
    ContainerBounds,
    Unsizable,
    hard_limits,
    probe_pod,
    quantity_text,
    small_amounts,
)
from tenancy_quota import QuotaRun, judge_quota, run_quota_probes
from tenancy_rbac import (
    CONTROL_FAILED,
    NO_ANSWER,
    UNPROVEN,
    VIOLATION,
    RbacLedger,
    check_cluster_role_bindings,
    interrogate,
    judge_rbac,
)
from tenancy_subjects import Developer, baseline_objects, developers

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.model import Blueprint
from gauntlet.plugin import REFERENCE_PLATFORM, CheckRecorder
from gauntlet.report.scorecard import TenantResources, Verdict
from gauntlet.targets.base import Target, TargetError

pytestmark = pytest.mark.gauntlet_suite("tenancy")


@functools.cache
def _tenants(platform: str | None) -> list[str]:
    return load_blueprint(Path(platform) if platform else REFERENCE_PLATFORM).tenants()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per (promise, tenant); the id names both (``quota-team-alpha``) because the
    plugin builds check ids from the parameter id alone."""
    if "tenant" in metafunc.fixturenames:
        tenants = _tenants(metafunc.config.getoption("platform"))
        promise = metafunc.function.__name__.removeprefix("test_")
        metafunc.parametrize("tenant", tenants, ids=[f"{promise}-{t}" for t in tenants])


def _tenant_labels(bp: Blueprint, tenant: str) -> tuple[str, str]:
    """(team, cost-center) from the namespace labels: the probe Pods carry them (guardrail G6)."""
    labels = bp.namespace_labels(tenant)
    return labels.get("team", tenant), labels.get("cost-center", "unknown")


def _limit_bounds(target: Target, tenant: str) -> ContainerBounds:
    limit_ranges, _ = list_objects(target, "LimitRange", tenant)
    return ContainerBounds.from_limit_ranges(limit_ranges)


def test_baseline(
    tenant: str,
    gauntlet_blueprint: Blueprint,
    gauntlet_target: Target,
    gauntlet_check: CheckRecorder,
) -> None:
    """The platform holds what every tenant is promised (P1): a ResourceQuota, a LimitRange,
    default-deny for ingress and egress, a monitoring placeholder, and every object the
    blueprint labels ``gauntlet.io/baseline``. Judged on what the target holds, by semantics."""
    expected = baseline_objects(gauntlet_blueprint, tenant)
    report = observe_baseline(gauntlet_target, tenant, expected)
    gauntlet_check.attach(f"baseline of {tenant}", report.table())
    if report.errors:
        lines = [f"{k}: {e}" for k, e in report.errors.items()]
        gauntlet_check.attach("kinds the target could not list", "\n".join(lines))
    gauntlet_check.counts.update(
        elements=len(report.elements), baseline_objects=len(expected), missing=len(report.missing)
    )
    if report.missing:
        gauntlet_check.conclude(
            Verdict.FAIL, f"{tenant} lacks its baseline: {', '.join(report.missing)}"
        )
    elif report.unobserved:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"the target could not list: {', '.join(report.unobserved)}"
        )
    else:
        gauntlet_check.conclude(
            Verdict.PASS,
            f"quota, limit range, default-deny both ways, monitoring and {len(expected)} "
            "labelled baseline objects present",
        )


def test_rbac(
    tenant: str,
    gauntlet_blueprint: Blueprint,
    gauntlet_target: Target,
    gauntlet_check: CheckRecorder,
) -> None:
    """A tenant developer manages workloads in its namespace and nothing else (P5): cannot read
    another tenant's secrets, write cluster-scoped kinds, delete or change its baseline, bind
    cluster-admin or create a wildcard Role; and no ClusterRoleBinding names a tenant subject."""
    bp = gauntlet_blueprint
    devs = developers(bp, tenant)
    if not devs:
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"no RoleBinding in {tenant} grants create on deployments.apps: the tenant has no "
            "developer who can deploy",
        )
        return
    team, cost_center = _tenant_labels(bp, tenant)
    control_pod = probe_pod(
        "gauntlet-rbac-control",
        namespace=tenant,
        team=team,
        cost_center=cost_center,
        containers=[small_amounts(_limit_bounds(gauntlet_target, tenant))],
    )
    ledger = RbacLedger()
    for dev in devs:
        interrogate(
            gauntlet_target,
            dev,
            namespace=tenant,
            other_tenants=[t for t in bp.tenants() if t != tenant],
            baseline=baseline_objects(bp, tenant),
            control_pod=control_pod,
            ledger=ledger,
        )
    check_cluster_role_bindings(gauntlet_target, bp, tenant, ledger)
    gauntlet_check.attach(
        f"RBAC answers for {tenant} (developers: {', '.join(d.label for d in devs)})",
        ledger.table(),
    )
    verdict, message = judge_rbac(ledger, developers=len(devs))
    gauntlet_check.counts.update(
        developers=len(devs),
        questions=len(ledger.rows),
        violations=len(ledger.outcomes(VIOLATION)),
        unproven=sum(len(ledger.outcomes(o)) for o in (UNPROVEN, CONTROL_FAILED, NO_ANSWER)),
    )
    gauntlet_check.conclude(verdict, message)


def _pod_creator(target: Target, devs: list[Developer], tenant: str) -> Developer | None:
    for dev in devs:
        try:
            if target.can_i(dev.subject, "create", "pods", namespace=tenant):
                return dev
        except TargetError:
            continue
    return None


def test_quota(
    tenant: str,
    gauntlet_blueprint: Blueprint,
    gauntlet_target: Target,
    gauntlet_check: CheckRecorder,
) -> None:
    """A compliant Pod asking for more than the tenant's quota is refused *by the quota*, so one
    team cannot starve the others (P6); a Pod that fits the hard limit but not what is left of it
    is refused too (usage is accounted); a small compliant Pod is admitted (positive control)."""
    bp = gauntlet_blueprint
    held, error = list_objects(gauntlet_target, "ResourceQuota", tenant)
    limit_ranges, lr_error = list_objects(gauntlet_target, "LimitRange", tenant)
    if error or lr_error:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"cannot list quota/limits: {error or lr_error}"
        )
        return
    declared = bp.objects("ResourceQuota", tenant)
    if not held and not declared:
        gauntlet_check.conclude(Verdict.FAIL, f"no quota in {tenant}: noisy neighbours unbounded")
        return
    # Size against what the platform holds; if it holds nothing, against what it promised, and
    # let the admission answer show whether anything stops the Pod.
    quotas: list[dict[str, Any]] = held or declared
    if not hard_limits(quotas):
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"{', '.join(sorted(names(quotas)))} set no cpu/memory limit: noisy neighbours "
            "unbounded in compute",
        )
        return
    dev = _pod_creator(gauntlet_target, developers(bp, tenant), tenant)
    if dev is None:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"no developer of {tenant} may create pods: nothing to submit as"
        )
        return
    run = QuotaRun(tenant, names(quotas), held=bool(held))
    if not held:
        run.notes.append(
            f"the platform holds no ResourceQuota in {tenant}; sized against the declared "
            f"{', '.join(sorted(run.quota_names))}"
        )
    try:
        run_quota_probes(
            gauntlet_target,
            dev,
            run,
            quotas=quotas,
            bounds=ContainerBounds.from_limit_ranges(limit_ranges),
            labels=_tenant_labels(bp, tenant),
        )
    except (Unsizable, TargetError) as exc:
        gauntlet_check.attach("quota probes", run.table())
        why = "no single Pod can exceed the quota" if isinstance(exc, Unsizable) else "no answer"
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"{why}: {exc}")
        return
    gauntlet_check.attach("quota probes", run.table())
    gauntlet_check.counts.update(
        probes=len(run.probes), refused=sum(not p.result.allowed for p in run.probes)
    )
    gauntlet_check.conclude(*judge_quota(run))


@pytest.fixture(scope="session")
def tenant_costs(gauntlet_blueprint: Blueprint, gauntlet_target: Target) -> dict[str, TenantCost]:
    """Every tenant's cost sheet, listed once for the per-tenant checks and the report."""
    return observe_costs(gauntlet_blueprint, gauntlet_target)


def test_cost(
    tenant: str, tenant_costs: dict[str, TenantCost], gauntlet_check: CheckRecorder
) -> None:
    """Every workload of the tenant declares cpu and memory requests on every container, so its
    cost is attributable and stable (P10); the sheet lists what each workload requests."""
    cost = tenant_costs[tenant]
    sheet = cost.sheet
    if sheet is None:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"cannot list workloads: {cost.error}")
        return
    gauntlet_check.attach(
        f"requested resources in {tenant} ({cost.cost_center})", tenant_table(cost, sheet)
    )
    gauntlet_check.counts.update(
        workloads=len(sheet.workloads),
        pods=sheet.pods,
        requested_cpu_millicores=sheet.cpu_millicores,
        requested_memory_bytes=sheet.memory_bytes,
        containers_without_requests=len({(g.workload, g.container) for g in sheet.gaps}),
    )
    if not sheet.workloads and cost.declared_workloads:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE,
            f"the target lists no workloads in {tenant} though the blueprint declares "
            f"{cost.declared_workloads}",
        )
    elif sheet.gaps:
        gaps = [
            f"{g.workload} container {g.container} {g.resource}"
            + (f" (only {g.filled_by})" if g.filled_by else " (nothing: unattributable)")
            for g in sheet.gaps
        ]
        gauntlet_check.conclude(
            Verdict.FAIL, f"{len(gaps)} requests not declared: {'; '.join(gaps[:6])}"
        )
    else:
        gauntlet_check.conclude(
            Verdict.PASS,
            f"{len(sheet.workloads)} workloads, {sheet.pods} pods request "
            f"{quantity_text('cpu', sheet.cpu_millicores)} cpu, "
            f"{quantity_text('memory', sheet.memory_bytes)} memory",
        )


@pytest.mark.parametrize("scope", ["all"], ids=["cost-report"])
def test_cost_report(
    scope: str, tenant_costs: dict[str, TenantCost], gauntlet_check: CheckRecorder
) -> None:
    """The cost report (P10): requested cpu/memory per tenant and cost center, next to each
    tenant's quota. Inconclusive only if some tenant's workloads could not be listed."""
    table, cpu, memory, unlisted = report_table(tenant_costs)
    gauntlet_check.attach("requested resources per tenant", table)
    gauntlet_check.publish_tenants(
        [
            TenantResources(
                namespace=cost.namespace,
                pods=cost.sheet.pods,
                requests_cpu_m=cost.sheet.cpu_millicores,
                requests_memory_mib=cost.sheet.memory_bytes / 2**20,
                limits_cpu_m=cost.sheet.limit_cpu_millicores,
                limits_memory_mib=cost.sheet.limit_memory_bytes / 2**20,
            )
            for cost in tenant_costs.values()
            if cost.sheet is not None
        ]
    )
    gauntlet_check.counts.update(
        tenants=len(tenant_costs), requested_cpu_millicores=cpu, requested_memory_bytes=memory
    )
    if unlisted:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"workloads of {', '.join(unlisted)} could not be listed"
        )
    else:
        gauntlet_check.conclude(
            Verdict.PASS,
            f"{len(tenant_costs)} tenants request {quantity_text('cpu', cpu)} cpu, "
            f"{quantity_text('memory', memory)} memory",
        )
