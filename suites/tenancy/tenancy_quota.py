"""The quota check's three admissions and their judgement.

1. *small*, a positive control: a compliant Pod far below every limit must be admitted, or no
   refusal below proves anything about the quota.
2. *over*: one step over the largest hard cpu/memory value, so it exceeds what is left whatever
   the namespace already uses; refused with ``exceeded quota: <name>``.
3. *remaining*: sized from the ``used:``/``limited:`` figures the API server put in the refusal
   of (2), so it fits every hard limit on its own but not what is left. A per-Pod cap that ignores
   usage (a LimitRange posing as a quota) admits it; a quota refuses it. Skipped when nothing is
   used yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tenancy_pods import (
    ContainerBounds,
    QuotaRefusal,
    hard_limits,
    over_hard_amounts,
    over_remaining_amounts,
    probe_pod,
    quantity_text,
    small_amounts,
    split,
)
from tenancy_rbac import describe_admission
from tenancy_subjects import Developer
from tenancy_table import render_table

from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import AdmissionResult, Target


@dataclass(frozen=True)
class Probe:
    name: str
    containers: list[dict[str, int]]
    expected: str
    result: AdmissionResult

    @property
    def cpu(self) -> str:
        return quantity_text("cpu", sum(c.get("cpu", 0) for c in self.containers))

    @property
    def memory(self) -> str:
        return quantity_text("memory", sum(c.get("memory", 0) for c in self.containers))

    def row(self) -> list[str]:
        return [
            self.name,
            str(len(self.containers)),
            self.cpu,
            self.memory,
            self.expected,
            describe_admission(self.result),
        ]


@dataclass
class QuotaRun:
    """Everything the quota check submitted in one namespace."""

    namespace: str
    quota_names: set[str]
    held: bool
    probes: list[Probe] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def probe(self, name: str) -> Probe | None:
        return next((p for p in self.probes if p.name == name), None)

    def table(self) -> str:
        rows = [p.row() for p in self.probes]
        header = ("pod", "containers", "cpu", "memory", "expected", "observed")
        return "\n".join([*self.notes, "", render_table(header, rows)])


def run_quota_probes(
    target: Target,
    dev: Developer,
    run: QuotaRun,
    *,
    quotas: list[dict[str, object]],
    bounds: ContainerBounds,
    labels: tuple[str, str],
) -> None:
    """Submit the probes in order, appending to ``run`` as they are answered, so a
    ``TargetError`` or ``Unsizable`` half-way still leaves the evidence gathered so far."""
    team, cost_center = labels

    def submit(name: str, containers: list[dict[str, int]], expected: str) -> QuotaRefusal | None:
        pod = probe_pod(
            f"gauntlet-quota-{name}",
            namespace=run.namespace,
            team=team,
            cost_center=cost_center,
            containers=containers,
        )
        result = target.admit(pod, as_user=dev.as_user, as_groups=dev.as_groups)
        run.probes.append(Probe(name, containers, expected, result))
        return QuotaRefusal.parse(result.message)

    run.notes.append(f"submitted as {dev.label}")
    submit("small", [small_amounts(bounds)], "admitted")
    over = split(over_hard_amounts(hard_limits(quotas), bounds), bounds)
    refusal = submit("over", over, "refused: exceeded quota")
    plan = over_remaining_amounts(refusal, bounds) if refusal else None
    if plan is None:
        run.notes.append("nothing used yet (or no usage reported): usage accounting not probed")
        return
    amounts, keys = plan
    submit("remaining", split(amounts, bounds), f"refused: exceeded quota ({', '.join(keys)})")


def refused_by_quota(result: AdmissionResult, quota_names: set[str]) -> bool:
    """kube-apiserver's ResourceQuota refusal: ``... is forbidden: exceeded quota: <name>,
    requested: ..., used: ..., limited: ...`` naming one of the tenant's quotas."""
    refusal = QuotaRefusal.parse(result.message)
    return not result.allowed and refusal is not None and refusal.quota in quota_names


def judge_quota(run: QuotaRun) -> tuple[Verdict, str]:
    """Allowances fail on their own; refusals count only with the small control admitted and
    only when the quota itself refused."""
    small, over, remaining = run.probe("small"), run.probe("over"), run.probe("remaining")
    assert small is not None and over is not None, "judge_quota needs a complete run"
    if over.result.allowed:
        where = "" if run.held else " (the platform holds no ResourceQuota there)"
        return Verdict.FAIL, (
            f"a Pod over the whole quota ({over.cpu} cpu, {over.memory} memory) was admitted in "
            f"{run.namespace}: noisy neighbours unbounded{where}"
        )
    if remaining is not None and remaining.result.allowed:
        return Verdict.FAIL, (
            f"a Pod within the hard limit but over what is left ({remaining.cpu} cpu, "
            f"{remaining.memory} memory) was admitted: the quota ignores usage"
        )
    if not small.result.allowed:
        return Verdict.INCONCLUSIVE, (
            "positive control: the small compliant Pod was not admitted "
            f"({describe_admission(small.result)}); the refusals prove nothing"
        )
    names = sorted(run.quota_names)
    for probe in (over, remaining):
        if probe is not None and not refused_by_quota(probe.result, run.quota_names):
            return Verdict.INCONCLUSIVE, (
                f"the {probe.name} Pod was refused, but not by quota {names}: "
                f"{describe_admission(probe.result)}"
            )
    usage = "; usage accounted" if remaining is not None else ""
    return Verdict.PASS, f"over-quota Pod refused by {', '.join(names)}, small Pod admitted{usage}"
