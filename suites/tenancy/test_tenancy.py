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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tenancy_baseline import evaluate_elements
from tenancy_cost import WORKLOAD_KINDS, CostSheet, cost_sheet, quota_hard_text
from tenancy_pods import (
    ContainerBounds,
    QuotaRefusal,
    Unsizable,
    hard_limits,
    over_hard_amounts,
    over_remaining_amounts,
    probe_pod,
    quantity_text,
    small_amounts,
    split,
)
from tenancy_rbac import (
    CONTROL_FAILED,
    NO_ANSWER,
    OK,
    UNPROVEN,
    VIOLATION,
    RbacLedger,
    cluster_role_binding_rows,
    describe_admission,
    interrogate,
)
from tenancy_subjects import Developer, baseline_objects, developers, tenant_identities
from tenancy_table import render_table

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.model import Blueprint
from gauntlet.plugin import REFERENCE_PLATFORM, CheckRecorder
from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import AdmissionResult, Target, TargetError

pytestmark = pytest.mark.gauntlet_suite("tenancy")

BASELINE_KINDS = (
    "ResourceQuota",
    "LimitRange",
    "CiliumNetworkPolicy",
    "NetworkPolicy",
    "PrometheusRule",
    "ConfigMap",
)


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


def _list(target: Target, kind: str, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
    try:
        return target.objects(kind, namespace), ""
    except TargetError as exc:
        return [], str(exc)


def _names(docs: Sequence[dict[str, Any]]) -> set[str]:
    return {str((d.get("metadata") or {}).get("name")) for d in docs}


# -- baseline ------------------------------------------------------------------------------------


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
    kinds = dict.fromkeys([*BASELINE_KINDS, *(o.kind for o in expected)])
    observed: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for kind in kinds:
        observed[kind], error = _list(gauntlet_target, kind, tenant)
        if error:
            errors[kind] = error
    ccnp = "CiliumClusterwideNetworkPolicy"
    observed[ccnp], error = _list(gauntlet_target, ccnp, None)
    if error:
        errors[ccnp] = error

    elements = evaluate_elements(tenant, observed, errors)
    rows = [[e.name, e.status, ", ".join(e.found) or "-"] for e in elements]
    missing = [e.name for e in elements if e.status == "MISSING"]
    unobserved = [e.name for e in elements if e.status == "not observed"]
    for obj in expected:
        if obj.kind in errors:
            status = "not observed"
            unobserved.append(f"{obj.kind} {obj.name}")
        elif obj.name in _names(observed[obj.kind]):
            status = "present"
        else:
            status = "MISSING"
            missing.append(f"{obj.kind} {obj.name}")
        rows.append([f"labelled baseline: {obj.kind} {obj.name}", status, ""])
    gauntlet_check.attach(
        "baseline of " + tenant, render_table(("element", "status", "found"), rows)
    )
    if errors:
        gauntlet_check.attach(
            "kinds the target could not list", "\n".join(f"{k}: {e}" for k, e in errors.items())
        )
    gauntlet_check.counts.update(
        elements=len(elements), baseline_objects=len(expected), missing=len(missing)
    )
    if missing:
        gauntlet_check.conclude(Verdict.FAIL, f"{tenant} lacks its baseline: {', '.join(missing)}")
    elif unobserved:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"the target could not list: {', '.join(unobserved)}"
        )
    else:
        gauntlet_check.conclude(
            Verdict.PASS,
            f"quota, limit range, default-deny both ways, monitoring and {len(expected)} "
            "labelled baseline objects present",
        )


# -- RBAC ----------------------------------------------------------------------------------------


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
    target = gauntlet_target
    ledger = RbacLedger()
    others = [t for t in bp.tenants() if t != tenant]
    protected = baseline_objects(bp, tenant)
    limit_ranges, _ = _list(target, "LimitRange", tenant)
    bounds = ContainerBounds.from_limit_ranges(limit_ranges)
    control_pod = _small_pod(bp, tenant, bounds=bounds)
    for dev in devs:
        interrogate(
            target,
            dev,
            namespace=tenant,
            other_tenants=others,
            baseline=protected,
            control_pod=control_pod,
            ledger=ledger,
        )

    crbs, error = _list(target, "ClusterRoleBinding", None)
    crb_question = "bound by any ClusterRoleBinding"
    if error:
        ledger.add("tenant subjects", crb_question, "none", f"error: {error}", NO_ANSWER)
    else:
        groups, users, accounts = tenant_identities(bp, tenant)
        hits = cluster_role_binding_rows(crbs, groups=groups, users=users, accounts=accounts)
        for hit in hits:
            ledger.add("tenant subjects", crb_question, "none", hit, VIOLATION)
        if not hits:
            ledger.add("tenant subjects", crb_question, "none", f"none of {len(crbs)}", OK)

    gauntlet_check.attach(
        f"RBAC answers for {tenant} (developers: {', '.join(d.label for d in devs)})",
        ledger.table(),
    )
    violations = ledger.outcomes(VIOLATION)
    open_rows = [
        *ledger.outcomes(CONTROL_FAILED),
        *ledger.outcomes(NO_ANSWER),
        *ledger.outcomes(UNPROVEN),
    ]
    gauntlet_check.counts.update(
        developers=len(devs),
        questions=len(ledger.rows),
        violations=len(violations),
        unproven=len(open_rows),
    )
    if violations:
        shown = "; ".join(f"{r.subject}: {r.question} -> {r.observed}" for r in violations[:4])
        more = f" (+{len(violations) - 4} more)" if len(violations) > 4 else ""
        gauntlet_check.conclude(Verdict.FAIL, f"{len(violations)} violations: {shown}{more}")
    elif open_rows:
        controls = [r for r in open_rows if r.outcome != UNPROVEN]
        first = controls[0] if controls else open_rows[0]
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE,
            f"{len(open_rows)} answers prove nothing; first cause: {first.subject}: "
            f"{first.question} -> {first.observed}",
        )
    else:
        gauntlet_check.conclude(
            Verdict.PASS,
            f"{len(devs)} developers: controls allowed, all {len(ledger.rows)} questions "
            "answered as least privilege requires",
        )


# -- quota ---------------------------------------------------------------------------------------


def _tenant_labels(bp: Blueprint, tenant: str) -> tuple[str, str]:
    labels = bp.namespace_labels(tenant)
    return labels.get("team", tenant), labels.get("cost-center", "unknown")


def _small_pod(bp: Blueprint, tenant: str, *, bounds: ContainerBounds) -> dict[str, Any]:
    team, cost_center = _tenant_labels(bp, tenant)
    return probe_pod(
        "gauntlet-quota-small",
        namespace=tenant,
        team=team,
        cost_center=cost_center,
        containers=[small_amounts(bounds)],
    )


@dataclass(frozen=True)
class Probe:
    name: str
    containers: list[dict[str, int]]
    expected: str
    result: AdmissionResult

    def row(self) -> list[str]:
        cpu = sum(c.get("cpu", 0) for c in self.containers)
        memory = sum(c.get("memory", 0) for c in self.containers)
        return [
            self.name,
            str(len(self.containers)),
            quantity_text("cpu", cpu),
            quantity_text("memory", memory),
            self.expected,
            describe_admission(self.result),
        ]


def _refused_by_quota(result: AdmissionResult, quota_names: set[str]) -> bool:
    """kube-apiserver's ResourceQuota refusal: 403 ``... is forbidden: exceeded quota: <name>,
    requested: ..., used: ..., limited: ...``."""
    refusal = QuotaRefusal.parse(result.message)
    return (
        not result.allowed
        and "exceeded quota" in result.message
        and refusal is not None
        and refusal.quota in quota_names
    )


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
    target = gauntlet_target
    held, error = _list(target, "ResourceQuota", tenant)
    limit_ranges, lr_error = _list(target, "LimitRange", tenant)
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
    quotas = held or declared
    quota_names = _names(quotas)
    hard = hard_limits(quotas)
    if not hard:
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"{', '.join(sorted(quota_names))} set no cpu/memory limit: noisy neighbours "
            "unbounded in compute",
        )
        return
    bounds = ContainerBounds.from_limit_ranges(limit_ranges)
    dev = next(
        (d for d in developers(bp, tenant) if _can(target, d, "create", "pods", tenant)),
        None,
    )
    if dev is None:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"no developer of {tenant} may create pods: nothing to submit as"
        )
        return
    team, cost_center = _tenant_labels(bp, tenant)

    def submit(name: str, containers: list[dict[str, int]], expected: str) -> Probe:
        pod = probe_pod(
            name, namespace=tenant, team=team, cost_center=cost_center, containers=containers
        )
        result = target.admit(pod, as_user=dev.as_user, as_groups=dev.as_groups)
        return Probe(name, containers, expected, result)

    probes: list[Probe] = []
    notes: list[str] = [f"submitted as {dev.label}"]
    if not held:
        notes.append(
            f"the platform holds no ResourceQuota in {tenant}; sized against the declared "
            f"{', '.join(sorted(quota_names))}"
        )
    try:
        small = submit("gauntlet-quota-small", [small_amounts(bounds)], "admitted")
        probes.append(small)
        over_containers = split(over_hard_amounts(hard, bounds), bounds)
        over = submit("gauntlet-quota-over", over_containers, "refused: exceeded quota")
        probes.append(over)
        remaining: Probe | None = None
        refusal = QuotaRefusal.parse(over.result.message)
        plan = over_remaining_amounts(refusal, bounds) if refusal else None
        if plan is None:
            notes.append("nothing used yet (or no usage reported): usage accounting not probed")
        else:
            amounts, keys = plan
            remaining = submit(
                "gauntlet-quota-remaining",
                split(amounts, bounds),
                f"refused: exceeded quota ({', '.join(keys)} left)",
            )
            probes.append(remaining)
    except Unsizable as exc:
        _attach_probes(gauntlet_check, probes, notes)
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"no single Pod can exceed the quota: {exc}")
        return
    except TargetError as exc:
        _attach_probes(gauntlet_check, probes, notes)
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"admission did not answer: {exc}")
        return

    _attach_probes(gauntlet_check, probes, notes)
    gauntlet_check.counts.update(
        probes=len(probes), refused=sum(not p.result.allowed for p in probes)
    )
    if over.result.allowed:
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"a Pod over the whole quota ({over.row()[2]} cpu, {over.row()[3]} memory) was "
            f"admitted in {tenant}: noisy neighbours unbounded"
            + ("" if held else " (the platform holds no ResourceQuota there)"),
        )
    elif remaining is not None and remaining.result.allowed:
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"a Pod within the hard limit but over what is left ({remaining.row()[2]} cpu, "
            f"{remaining.row()[3]} memory) was admitted: the quota ignores usage",
        )
    elif not small.result.allowed:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE,
            f"positive control: the small compliant Pod was not admitted "
            f"({describe_admission(small.result)}); the refusal proves nothing",
        )
    elif not _refused_by_quota(over.result, quota_names):
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE,
            f"the over-quota Pod was refused, but not by quota {sorted(quota_names)}: "
            f"{describe_admission(over.result)}",
        )
    elif remaining is not None and not _refused_by_quota(remaining.result, quota_names):
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE,
            "the Pod over the remaining quota was refused, but not by the quota: "
            f"{describe_admission(remaining.result)}",
        )
    else:
        usage = "; usage accounted" if remaining is not None else ""
        gauntlet_check.conclude(
            Verdict.PASS,
            f"over-quota Pod refused by {refusal.quota if refusal else '?'}, small Pod "
            f"admitted{usage}",
        )


def _can(target: Target, dev: Developer, verb: str, resource: str, namespace: str) -> bool:
    try:
        return target.can_i(dev.subject, verb, resource, namespace=namespace)
    except TargetError:
        return False


def _attach_probes(check: CheckRecorder, probes: list[Probe], notes: list[str]) -> None:
    table = render_table(
        ("pod", "containers", "cpu", "memory", "expected", "observed"), [p.row() for p in probes]
    )
    check.attach("quota probes", "\n".join([*notes, "", table]))


# -- cost attribution ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantCost:
    """What the target holds for one tenant's cost: the sheet, its quotas, or why not."""

    namespace: str
    cost_center: str
    sheet: CostSheet | None
    quotas: list[dict[str, Any]]
    declared_workloads: int
    error: str = ""


@pytest.fixture(scope="session")
def tenant_costs(gauntlet_blueprint: Blueprint, gauntlet_target: Target) -> dict[str, TenantCost]:
    """Every tenant's cost sheet, listed once for the per-tenant checks and the report."""
    bp = gauntlet_blueprint
    out = {}
    for ns in bp.tenants():
        cost_center = bp.namespace_labels(ns).get("cost-center", "-")
        declared = sum(len(bp.objects(k, ns)) for k in WORKLOAD_KINDS)
        workloads: list[dict[str, Any]] = []
        errors = []
        for kind in WORKLOAD_KINDS:
            docs, error = _list(gauntlet_target, kind, ns)
            workloads += docs
            if error:
                errors.append(f"{kind}: {error}")
        limit_ranges, lr_error = _list(gauntlet_target, "LimitRange", ns)
        quotas, q_error = _list(gauntlet_target, "ResourceQuota", ns)
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


def test_cost(
    tenant: str, tenant_costs: dict[str, TenantCost], gauntlet_check: CheckRecorder
) -> None:
    """Every workload of the tenant declares cpu and memory requests on every container, so its
    cost is attributable and stable (P10); the sheet lists what each workload requests."""
    cost = tenant_costs[tenant]
    if cost.sheet is None:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"cannot list workloads: {cost.error}")
        return
    sheet = cost.sheet
    rows = [w.row() for w in sheet.workloads]
    rows.append(
        [
            "TOTAL",
            str(sheet.pods),
            str(sheet.containers),
            quantity_text("cpu", sheet.cpu_millicores),
            quantity_text("memory", sheet.memory_bytes),
        ]
    )
    rows.append(
        [
            "quota hard (requests)",
            "",
            "",
            quota_hard_text(cost.quotas, "requests.cpu"),
            quota_hard_text(cost.quotas, "requests.memory"),
        ]
    )
    gauntlet_check.attach(
        f"requested resources in {tenant} ({cost.cost_center})",
        render_table(("workload", "pods", "containers", "cpu", "memory"), rows),
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


@pytest.mark.parametrize("scope", ["all"], ids=["cost-report"])
def test_cost_report(
    scope: str, tenant_costs: dict[str, TenantCost], gauntlet_check: CheckRecorder
) -> None:
    """The cost report (P10): requested cpu/memory per tenant and cost center, next to each
    tenant's quota. Inconclusive only if some tenant's workloads could not be listed."""
    rows = []
    cpu_total = memory_total = 0
    unlisted = []
    for ns, cost in sorted(tenant_costs.items()):
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
                "yes" if not sheet.gaps else "no (defaults)",
            ]
        )
    total = ["TOTAL", "", "", "", quantity_text("cpu", cpu_total)]
    rows.append([*total, quantity_text("memory", memory_total), "", "", ""])
    gauntlet_check.attach("requested resources per tenant", render_table(REPORT_HEADER, rows))
    gauntlet_check.counts.update(
        tenants=len(tenant_costs),
        requested_cpu_millicores=cpu_total,
        requested_memory_bytes=memory_total,
    )
    if unlisted:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE, f"workloads of {', '.join(unlisted)} could not be listed"
        )
    else:
        gauntlet_check.conclude(
            Verdict.PASS,
            f"{len(tenant_costs)} tenants request {quantity_text('cpu', cpu_total)} cpu, "
            f"{quantity_text('memory', memory_total)} memory",
        )
