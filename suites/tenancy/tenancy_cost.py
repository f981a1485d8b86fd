"""Cost attribution: what every tenant workload requests, summed exactly per tenant.

Requests are what a scheduler reserves and what a chargeback model bills, so they are the cost.

Decision (docs/suites/tenancy.md): every container must declare ``resources.requests.cpu`` and
``resources.requests.memory`` *explicitly*. A LimitRange ``defaultRequest`` (or the API server
copying a limit into a missing request) does give the Pod a request, and the sheet counts that
value so the totals stay right, but the cost is then decided by a platform default the team never
wrote down and that changes under it when the platform edits the LimitRange: the promise "every
workload has requests" is broken and the check fails, naming what filled the gap.

Workloads are what the target holds: Deployments, StatefulSets, ReplicaSets,
ReplicationControllers, DaemonSets, Jobs, CronJobs and bare Pods. Objects owned by a controller
(``ownerReferences`` with ``controller: true``: a Deployment's ReplicaSet, a ReplicaSet's Pods)
are skipped, so each Pod is counted once, through its top-level owner.

A Pod's request is the scheduler's effective request: the larger of the sum over its containers
and the largest init container. Replicas multiply it; a Job counts ``parallelism`` Pods, a
CronJob its job template's, and a DaemonSet one Pod per node, which Gauntlet cannot count from
manifests: it is counted once and marked ``x nodes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenancy_pods import RESOURCES, amount, quantity_text

from gauntlet.admission.quantity import Quantity

WORKLOAD_KINDS = (
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
)

Manifest = Mapping[str, Any]


@dataclass(frozen=True)
class Gap:
    """A container without an explicit request, and what (if anything) fills it."""

    workload: str
    container: str
    resource: str
    filled_by: str  # "LimitRange default", "its limit", or "" (nothing: unattributable)


@dataclass(frozen=True)
class WorkloadCost:
    kind: str
    name: str
    pods: int
    per_node: bool
    containers: int
    cpu_millicores: int
    memory_bytes: int
    # Limits as the API server stores them (explicit, else the LimitRange ``default``); a
    # container with neither is unbounded and adds nothing here (guardrail G3 forbids it).
    limit_cpu_millicores: int = 0
    limit_memory_bytes: int = 0

    def row(self) -> list[str]:
        pods = f"{self.pods} x nodes" if self.per_node else str(self.pods)
        return [
            f"{self.kind}/{self.name}",
            pods,
            str(self.containers),
            quantity_text("cpu", self.cpu_millicores),
            quantity_text("memory", self.memory_bytes),
        ]


@dataclass
class CostSheet:
    """One tenant's requested resources, workload by workload."""

    namespace: str
    workloads: list[WorkloadCost] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def cpu_millicores(self) -> int:
        return sum(w.cpu_millicores for w in self.workloads)

    @property
    def memory_bytes(self) -> int:
        return sum(w.memory_bytes for w in self.workloads)

    @property
    def pods(self) -> int:
        return sum(w.pods for w in self.workloads)

    @property
    def limit_cpu_millicores(self) -> int:
        return sum(w.limit_cpu_millicores for w in self.workloads)

    @property
    def limit_memory_bytes(self) -> int:
        return sum(w.limit_memory_bytes for w in self.workloads)

    @property
    def containers(self) -> int:
        return sum(w.containers * w.pods for w in self.workloads)


def _controlled(doc: Manifest) -> bool:
    owners = (doc.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("controller") for o in owners if isinstance(o, Mapping))


def _pod_spec_and_count(doc: Manifest) -> tuple[Mapping[str, Any], int, bool]:
    """(pod spec, pods, per node) of a workload manifest."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec, 1, False
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return (job.get("template") or {}).get("spec") or {}, int(job.get("parallelism", 1)), False
    template = (spec.get("template") or {}).get("spec") or {}
    if kind == "Job":
        return template, int(spec.get("parallelism", 1)), False
    if kind == "DaemonSet":
        return template, 1, True
    return template, int(spec.get("replicas", 1)), False


def _defaults(limit_ranges: Sequence[Manifest]) -> dict[str, Quantity]:
    """The request LimitRanger would fill in per resource (``defaultRequest``, else ``default``,
    else ``max``: the API server stores a Container item defaulted that way)."""
    out: dict[str, Quantity] = {}
    for lr in limit_ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for source in ("max", "default", "defaultRequest"):
                for r, v in (item.get(source) or {}).items():
                    if r in RESOURCES:
                        out[r] = Quantity.parse(v)
    return out


def _limit_defaults(limit_ranges: Sequence[Manifest]) -> dict[str, Quantity]:
    """The limit LimitRanger fills in per resource: a Container item's ``default``."""
    out: dict[str, Quantity] = {}
    for lr in limit_ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") == "Container":
                for r, v in (item.get("default") or {}).items():
                    if r in RESOURCES:
                        out[r] = Quantity.parse(v)
    return out


def _container_limit(container: Mapping[str, Any], r: str, defaults: Mapping[str, Quantity]) -> int:
    limits = (container.get("resources") or {}).get("limits") or {}
    if r in limits:
        return amount(r, Quantity.parse(limits[r]))
    return amount(r, defaults[r]) if r in defaults else 0


def _container_request(
    container: Mapping[str, Any],
    r: str,
    defaults: Mapping[str, Quantity],
    workload: str,
    gaps: list[Gap],
) -> int:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    name = str(container.get("name", "?"))
    if r in requests:
        return amount(r, Quantity.parse(requests[r]))
    # The API server copies an explicit limit into a missing request before LimitRanger runs.
    if r in limits:
        gaps.append(Gap(workload, name, r, "its limit"))
        return amount(r, Quantity.parse(limits[r]))
    if r in defaults:
        gaps.append(Gap(workload, name, r, "LimitRange default"))
        return amount(r, defaults[r])
    gaps.append(Gap(workload, name, r, ""))
    return 0


def cost_sheet(
    namespace: str,
    workloads: Sequence[Manifest],
    limit_ranges: Sequence[Manifest],
) -> CostSheet:
    """Requested cpu/memory of ``workloads`` (controller-owned objects skipped)."""
    sheet = CostSheet(namespace)
    defaults = _defaults(limit_ranges)
    limit_defaults = _limit_defaults(limit_ranges)
    for doc in workloads:
        if _controlled(doc):
            continue
        kind = str(doc.get("kind"))
        name = str((doc.get("metadata") or {}).get("name"))
        label = f"{kind}/{name}"
        spec, pods, per_node = _pod_spec_and_count(doc)
        containers = list(spec.get("containers") or [])
        inits = list(spec.get("initContainers") or [])
        per_pod: dict[str, int] = {}
        for r in RESOURCES:
            main = sum(_container_request(c, r, defaults, label, sheet.gaps) for c in containers)
            init = max(
                (_container_request(c, r, defaults, label, sheet.gaps) for c in inits), default=0
            )
            per_pod[r] = max(main, init)
            main_limit = sum(_container_limit(c, r, limit_defaults) for c in containers)
            init_limit = max((_container_limit(c, r, limit_defaults) for c in inits), default=0)
            per_pod[f"limit-{r}"] = max(main_limit, init_limit)
        sheet.workloads.append(
            WorkloadCost(
                kind=kind,
                name=name,
                pods=pods,
                per_node=per_node,
                containers=len(containers) + len(inits),
                cpu_millicores=per_pod["cpu"] * pods,
                memory_bytes=per_pod["memory"] * pods,
                limit_cpu_millicores=per_pod["limit-cpu"] * pods,
                limit_memory_bytes=per_pod["limit-memory"] * pods,
            )
        )
    return sheet


def quota_hard_text(quotas: Sequence[Manifest], key: str) -> str:
    """The hard limit of ``key`` over the tenant's quotas (the tightest), or ``none``."""
    r = key.rpartition(".")[2]
    values = [
        amount(r, Quantity.parse(v))
        for q in quotas
        for k, v in ((q.get("spec") or {}).get("hard") or {}).items()
        if k == key or (key == f"requests.{r}" and k == r)
    ]
    return quantity_text(r, min(values)) if values else "none"
