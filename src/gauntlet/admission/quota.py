"""ResourceQuota admission as kube-apiserver runs it (always the last admission plugin), with the
usage a namespace already has computed from what the blueprint runs.

Mirrors ``plugin/pkg/admission/resourcequota/controller.go`` (``CheckRequest``) and the
evaluators of ``pkg/quota/v1/evaluator/core`` and ``k8s.io/apiserver/pkg/quota/v1/generic``:

- A quota applies to an object when its evaluator tracks one of the quota's ``spec.hard``
  resources and every scope of the quota matches (scopes only ever match Pods).
- For Pods, a quota tracking ``cpu``/``memory``/``requests.*``/``limits.*`` of cpu or memory
  requires every container and init container to state that value, else ``failed quota: <name>:
  must specify limits.cpu for: app,web; requests.memory for: app`` (an upstream "mistake" kept for
  compatibility; skipped when the Pod sets pod-level resources).
- A Pod is charged ``pods``, ``count/pods``, ``cpu``/``requests.cpu``, ``limits.cpu``, the same
  for memory and ephemeral-storage, hugepages and extended resources, from its effective
  requests and limits (init containers and sidecars included, overhead added). A Pod in phase
  Succeeded or Failed is charged ``count/pods`` only.
- Services are charged ``services``, ``count/services``, ``services.nodeports`` (one per port of
  a NodePort or LoadBalancer service) and ``services.loadbalancers``; PVCs
  ``persistentvolumeclaims``, ``requests.storage`` and their
  ``<class>.storageclass.storage.k8s.io/...`` forms; every other kind
  ``count/<resource>[.<group>]`` (plus the legacy ``configmaps``, ``secrets``, ``resourcequotas``,
  ``replicationcontrollers`` names). Only CREATE is charged, except Services and PVCs on UPDATE
  (by the non-negative difference). Events are never quota'd.
- Refusals read ``exceeded quota: <name>, requested: k=v,..., used: k=v,..., limited: k=v,...``
  with the exceeded resources sorted; the caller wraps them as ``<resource> "<name>" is forbidden:
  ...`` with HTTP 403.

Gauntlet admission is a dry run: ``QuotaLedger.check`` never changes usage; ``record`` does, so
a sequence of admissions accumulates only when the caller says so.

Usage is what a cluster would hold after applying the blueprint: each namespace's implicit
``default`` ServiceAccount and ``kube-root-ca.crt`` ConfigMap, every namespaced manifest, one
ReplicaSet per Deployment, and the Pods of Deployments, ReplicaSets and StatefulSets (``replicas``
copies of the template, LimitRange-defaulted). Objects are replayed in load order through the same
admission, so a Pod the quota or a LimitRange would refuse is not charged but listed in
``QuotaLedger.rejected``, as its controller would report it. DaemonSet and Job pods are not
modelled. Where upstream's order is a Go map's or an informer's (quotas of a namespace, the
objects summed into ``status.used``), quotas are taken by name and objects in record order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gauntlet.admission.limitrange import (
    StoredLimitRange,
    apply_limit_ranges,
    pod_limits,
    pod_requests,
    read_pod_resources,
)
from gauntlet.admission.quantity import Quantity, resource_list
from gauntlet.blueprint.kube import LimitRange, ResourceQuota
from gauntlet.blueprint.model import Blueprint

__all__ = [
    "QuotaDecision",
    "QuotaLedger",
    "QuotaStatus",
    "Rejection",
    "ScopeRequirement",
    "StoredQuota",
    "forbidden_message",
    "resource_of",
]

_ONE = Quantity.of(1)
_ZERO = Quantity(0)
# Resources the quota admission plugin ignores by default (pkg/quota/v1/install).
_IGNORED = frozenset({("", "events")})
# validationSet in pods.go: quota'd cpu/memory must be stated by every container.
_MUST_SPECIFY = frozenset(
    {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
)
_POD_RESOURCES = frozenset(
    {
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
    }
)
_SERVICE_RESOURCES = frozenset(
    {"count/services", "services", "services.nodeports", "services.loadbalancers"}
)
_STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
_PVC_RESOURCES = ("persistentvolumeclaims", "requests.storage")
_LEGACY_COUNT_ALIASES = {
    "configmaps": "configmaps",
    "resourcequotas": "resourcequotas",
    "replicationcontrollers": "replicationcontrollers",
    "secrets": "secrets",
}
# Kinds whose resource name is not the lower-cased kind plus "s" (RESTMapper's guess).
_IRREGULAR_RESOURCES = {"Endpoints": "endpoints"}
# Workloads whose controller creates `replicas` pods from `spec.template`.
_REPLICATED = {"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps"}


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaDecision:
    """ResourceQuota admission's answer for one object."""

    allowed: bool
    message: str = ""
    """The refusal as the API server words it, without the ``<resource> "<name>" is forbidden: ``
    prefix (see ``forbidden_message``)."""
    quota: str | None = None
    """The ResourceQuota that refused."""
    usage: Mapping[str, Quantity] = field(default_factory=dict)
    """What the object charges (the delta ``record`` would add)."""


@dataclass(frozen=True)
class QuotaStatus:
    """One quota's ``status``: what ``kubectl describe quota`` shows."""

    name: str
    hard: Mapping[str, Quantity]
    used: Mapping[str, Quantity]


@dataclass(frozen=True)
class Rejection:
    """A blueprint object (or a Pod its controller would create) admission would refuse."""

    namespace: str
    kind: str
    name: str
    message: str
    """The full API server message, e.g. ``pods "api-2" is forbidden: exceeded quota: ...``."""


@dataclass(frozen=True)
class ScopeRequirement:
    """A quota scope (``spec.scopes`` entries are ``Exists`` requirements)."""

    scope: str
    operator: str = "Exists"
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredQuota:
    """A ResourceQuota as the admission plugin reads it (``status.hard`` is ``spec.hard``,
    rounded up to whole millis on decode)."""

    name: str
    namespace: str
    hard: Mapping[str, Quantity]
    scopes: tuple[ScopeRequirement, ...] = ()

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> StoredQuota:
        meta = manifest.get("metadata") or {}
        spec = manifest.get("spec") or {}
        scopes = [ScopeRequirement(str(s)) for s in spec.get("scopes") or ()]
        for expr in (spec.get("scopeSelector") or {}).get("matchExpressions") or ():
            scopes.append(
                ScopeRequirement(
                    str(expr.get("scopeName", "")),
                    str(expr.get("operator", "")),
                    tuple(str(v) for v in expr.get("values") or ()),
                )
            )
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace") or ""),
            hard=resource_list(spec.get("hard")),
            scopes=tuple(scopes),
        )

    @classmethod
    def of(cls, quota: ResourceQuota | Mapping[str, Any] | StoredQuota) -> StoredQuota:
        if isinstance(quota, StoredQuota):
            return quota
        if isinstance(quota, ResourceQuota):
            return cls.from_manifest(quota.model_dump(by_alias=True))
        return cls.from_manifest(quota)


def forbidden_message(obj: Mapping[str, Any], reason: str) -> str:
    """``admission.NewForbidden``'s text: ``pods "x" is forbidden: <reason>``."""
    group, resource = resource_of(obj)
    name = str((obj.get("metadata") or {}).get("name", ""))
    qualified = f"{resource}.{group}" if group else resource
    return f'{qualified} "{name}" is forbidden: {reason}'


def resource_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(API group, resource) of a manifest, e.g. ``("apps", "deployments")``.

    The resource is the lower-cased kind pluralised like the RESTMapper's
    ``UnsafeGuessKindToResource`` (``NetworkPolicy`` -> ``networkpolicies``, ``Ingress`` ->
    ``ingresses``), which is also what CRDs conventionally declare.
    """
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    kind = str(obj.get("kind", ""))
    if kind in _IRREGULAR_RESOURCES:
        return group, _IRREGULAR_RESOURCES[kind]
    singular = kind.lower()
    if singular.endswith("s"):
        return group, singular + "es"
    if singular.endswith("y"):
        return group, singular[:-1] + "ies"
    return group, singular + "s"


# -- evaluators -------------------------------------------------------------------------------


_Manifest = Mapping[str, Any]


class _Evaluator(Protocol):
    def handles(self, operation: str, obj: _Manifest, old: _Manifest | None) -> bool: ...

    def matching(self, names: Iterable[str]) -> list[str]: ...

    def matches_scope(self, scope: ScopeRequirement, obj: Mapping[str, Any]) -> bool: ...

    def constraints(self, required: Iterable[str], obj: Mapping[str, Any]) -> str: ...

    def usage(self, obj: Mapping[str, Any]) -> dict[str, Quantity]: ...


class _CountEvaluator:
    """``generic.NewObjectCountEvaluator``: one of each object, on CREATE."""

    charged_operations: tuple[str, ...] = ("CREATE",)

    def __init__(self, group: str, resource: str) -> None:
        count = f"count/{resource}.{group}" if group else f"count/{resource}"
        alias = _LEGACY_COUNT_ALIASES.get(resource) if not group else None
        self.names: tuple[str, ...] = (count, alias) if alias else (count,)

    def handles(self, operation: str, obj: _Manifest, old: _Manifest | None) -> bool:
        return operation in self.charged_operations

    def matching(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.names]

    def matches_scope(self, scope: ScopeRequirement, obj: Mapping[str, Any]) -> bool:
        return False

    def constraints(self, required: Iterable[str], obj: Mapping[str, Any]) -> str:
        return ""

    def usage(self, obj: Mapping[str, Any]) -> dict[str, Quantity]:
        return dict.fromkeys(self.names, _ONE)


class _ServiceEvaluator(_CountEvaluator):
    """``services.go``: node ports and load balancers are charged by service type; UPDATE is
    charged too, since changing the type changes them."""

    charged_operations = ("CREATE", "UPDATE")

    def __init__(self) -> None:
        super().__init__("", "services")

    def matching(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in _SERVICE_RESOURCES]

    def usage(self, obj: Mapping[str, Any]) -> dict[str, Quantity]:
        spec = obj.get("spec") or {}
        ports = Quantity.of(len(spec.get("ports") or ()))
        kind = spec.get("type") or "ClusterIP"
        return {
            "count/services": _ONE,
            "services": _ONE,
            "services.loadbalancers": _ONE if kind == "LoadBalancer" else _ZERO,
            "services.nodeports": ports if kind in ("NodePort", "LoadBalancer") else _ZERO,
        }


class _PvcEvaluator(_CountEvaluator):
    """``persistent_volume_claims.go``: claims and requested storage, also per storage class;
    UPDATE is charged too (a claim may grow)."""

    charged_operations = ("CREATE", "UPDATE")

    def __init__(self) -> None:
        super().__init__("", "persistentvolumeclaims")

    def matching(self, names: Iterable[str]) -> list[str]:
        return [
            n
            for n in names
            if n in self.names
            or n in _PVC_RESOURCES
            or any(n.endswith(_STORAGE_CLASS_SUFFIX + r) for r in _PVC_RESOURCES)
        ]

    def usage(self, obj: Mapping[str, Any]) -> dict[str, Quantity]:
        spec = obj.get("spec") or {}
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        storage_class = spec.get("storageClassName")
        if storage_class is None:
            storage_class = annotations.get("volume.beta.kubernetes.io/storage-class", "")
        result = {"persistentvolumeclaims": _ONE, "count/persistentvolumeclaims": _ONE}
        if storage_class:
            result[f"{storage_class}{_STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = _ONE
        requests = resource_list((spec.get("resources") or {}).get("requests"))
        if "storage" in requests:
            # Storage is charged in whole bytes (issue 94313).
            storage = requests["storage"].round_up(0)
            result["requests.storage"] = storage
            if storage_class:
                result[f"{storage_class}{_STORAGE_CLASS_SUFFIX}requests.storage"] = storage
        return result


class _PodEvaluator:
    """``pods.go``."""

    def handles(self, operation: str, obj: _Manifest, old: _Manifest | None) -> bool:
        if operation == "UPDATE":
            # Only a change of the Terminating scope moves a pod between quotas.
            return old is not None and _terminating(old) != _terminating(obj)
        return operation == "CREATE"

    def matching(self, names: Iterable[str]) -> list[str]:
        return [
            n
            for n in names
            if n in _POD_RESOURCES
            or n.startswith(("hugepages-", "requests.hugepages-"))
            or (n.startswith("requests.") and _extended(n))
        ]

    def matches_scope(self, scope: ScopeRequirement, obj: Mapping[str, Any]) -> bool:
        spec = obj.get("spec") or {}
        if scope.scope == "Terminating":
            return _terminating(obj)
        if scope.scope == "NotTerminating":
            return not _terminating(obj)
        if scope.scope == "BestEffort":
            return _best_effort(obj)
        if scope.scope == "NotBestEffort":
            return not _best_effort(obj)
        if scope.scope == "PriorityClass":
            name = spec.get("priorityClassName") or ""
            if scope.operator == "Exists":
                return bool(name)
            if scope.operator == "DoesNotExist":
                return not name
            if scope.operator == "In":
                return bool(name) and name in scope.values
            if scope.operator == "NotIn":
                return not name or name not in scope.values
            return False
        if scope.scope == "CrossNamespacePodAffinity":
            return _cross_namespace_affinity(spec.get("affinity") or {})
        return False

    def constraints(self, required: Iterable[str], obj: Mapping[str, Any]) -> str:
        resources = read_pod_resources(obj)
        if resources.has_pod_level_resources:
            return ""
        wanted = set(required) & _MUST_SPECIFY
        missing: dict[str, set[str]] = {}
        for container in resources.all_containers:
            stated = _compute_usage(container.requests, container.limits)
            for name in wanted - set(stated):
                missing.setdefault(name, set()).add(container.name)
        if not missing:
            return ""
        parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
        return "must specify " + "; ".join(parts)

    def usage(self, obj: Mapping[str, Any]) -> dict[str, Quantity]:
        result = {"count/pods": _ONE}
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return result
        resources = read_pod_resources(obj)
        requests = pod_requests(resources, with_overhead=True)
        limits = pod_limits(resources, with_overhead=True)
        result.update(_compute_usage(requests, limits))
        return result


def _compute_usage(
    requests: Mapping[str, Quantity], limits: Mapping[str, Quantity]
) -> dict[str, Quantity]:
    """``podComputeUsageHelper``."""
    result = {"pods": _ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            result[name] = requests[name]
            result[f"requests.{name}"] = requests[name]
        if name in limits:
            result[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            result[name] = value
            result[f"requests.{name}"] = value
        elif _extended(name):
            result[f"requests.{name}"] = value
    return result


def _extended(name: str) -> bool:
    """An extended resource (``example.com/gpu``): namespaced outside ``kubernetes.io/``."""
    bare = name.removeprefix("requests.")
    return "/" in bare and "kubernetes.io/" not in bare


def _terminating(pod: Mapping[str, Any]) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def _best_effort(pod: Mapping[str, Any]) -> bool:
    """QoS BestEffort: no container (nor the pod level) sets a non-zero cpu or memory."""
    resources = read_pod_resources(pod)
    lists: list[Mapping[str, Quantity]] = [resources.pod_requests, resources.pod_limits]
    for container in resources.all_containers:
        lists += [container.requests, container.limits]
    return not any(
        value.sign() > 0
        for values in lists
        for name, value in values.items()
        if name in ("cpu", "memory")
    )


def _cross_namespace_affinity(affinity: Mapping[str, Any]) -> bool:
    for kind in ("podAffinity", "podAntiAffinity"):
        block = affinity.get(kind) or {}
        terms = list(block.get("requiredDuringSchedulingIgnoredDuringExecution") or ())
        terms += [
            w.get("podAffinityTerm") or {}
            for w in block.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        ]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


def _evaluator(group: str, resource: str) -> _Evaluator:
    if not group and resource == "pods":
        return _PodEvaluator()
    if not group and resource == "services":
        return _ServiceEvaluator()
    if not group and resource == "persistentvolumeclaims":
        return _PvcEvaluator()
    return _CountEvaluator(group, resource)


# -- the ledger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Charge:
    group: str
    resource: str
    obj: Mapping[str, Any]
    usage: Mapping[str, Quantity]


class QuotaLedger:
    """The quotas, LimitRanges and charged usage of every namespace."""

    def __init__(
        self,
        quotas: Iterable[ResourceQuota | Mapping[str, Any] | StoredQuota] = (),
        *,
        limit_ranges: Iterable[LimitRange | Mapping[str, Any] | StoredLimitRange] = (),
    ) -> None:
        self._quotas: dict[str, list[StoredQuota]] = {}
        for raw in quotas:
            stored = StoredQuota.of(raw)
            self._quotas.setdefault(stored.namespace, []).append(stored)
        for listed in self._quotas.values():
            listed.sort(key=lambda q: q.name)
        self._limit_ranges: dict[str, list[StoredLimitRange]] = {}
        for raw_lr in limit_ranges:
            lr = StoredLimitRange.of(raw_lr)
            self._limit_ranges.setdefault(lr.namespace, []).append(lr)
        self._charges: dict[str, list[_Charge]] = {}
        self._rejected: list[Rejection] = []

    @classmethod
    def from_blueprint(cls, bp: Blueprint, *, implicit_objects: bool = True) -> QuotaLedger:
        """The usage of every namespace once the blueprint is applied (see the module notes).

        ``implicit_objects`` adds what Kubernetes creates in every namespace (the ``default``
        ServiceAccount, the ``kube-root-ca.crt`` ConfigMap), which count against
        ``count/serviceaccounts`` and ``configmaps`` quotas on a real cluster.
        """
        ledger = cls(bp.objects("ResourceQuota"), limit_ranges=bp.objects("LimitRange"))
        namespaced = [(ns, doc) for (_, ns, _), doc in bp.manifests.items() if ns]
        if implicit_objects:
            for ns in sorted({*bp.namespaces, *(ns for ns, _ in namespaced)}):
                if ("ServiceAccount", ns, "default") not in bp.manifests:
                    ledger.record(_implicit("v1", "ServiceAccount", "default", ns), namespace=ns)
                ledger.record(_implicit("v1", "ConfigMap", "kube-root-ca.crt", ns), namespace=ns)
        # The guardrails exist before the workloads they constrain (GitOps tools apply them in an
        # earlier wave); they count themselves but are not checked.
        first = {"ResourceQuota", "LimitRange"}
        for ns, doc in namespaced:
            if doc.get("kind") in first:
                ledger.record(doc, namespace=ns)
        for ns, doc in namespaced:
            if doc.get("kind") not in first:
                ledger._replay(doc, namespace=ns)
        return ledger

    # -- admission ----------------------------------------------------------------------------

    def check(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str,
        operation: str = "CREATE",
        old: Mapping[str, Any] | None = None,
    ) -> QuotaDecision:
        """ResourceQuota admission for one object of ``namespace``, without charging it.

        A Pod may be given as written or as LimitRanger left it: the scheme defaults and the
        namespace's LimitRange defaults are applied either way (they are idempotent). For
        UPDATE, ``old`` is the stored object; Services and PVCs are charged the increase only.
        """
        operation = operation.upper()
        group, resource = resource_of(obj)
        if not namespace or (group, resource) in _IGNORED:
            return QuotaDecision(True)
        evaluator = _evaluator(group, resource)
        current = self._stored_form(obj, namespace)
        previous = self._stored_form(old, namespace) if old is not None else None
        if not evaluator.handles(operation, current, previous):
            return QuotaDecision(True)
        interesting = []
        for quota in self._quotas.get(namespace, ()):
            if not _applies(evaluator, quota, current):
                continue
            reason = evaluator.constraints(evaluator.matching(quota.hard), current)
            if reason:
                return QuotaDecision(False, f"failed quota: {quota.name}: {reason}", quota.name)
            interesting.append(quota)
        delta = evaluator.usage(current)
        negative = sorted(name for name, value in delta.items() if value.sign() < 0)
        if negative:
            names = ",".join(negative)
            return QuotaDecision(False, f"quota usage is negative for resource(s): {names}")
        if operation == "UPDATE":
            if previous is None:
                reason = "unable to get previous usage since prior version of object was not found"
                return QuotaDecision(False, reason)
            delta = _subtract_non_negative(delta, evaluator.usage(previous))
        if all(value.is_zero() for value in delta.values()):
            return QuotaDecision(True, usage=delta)
        for quota in interesting:
            used = self._used(namespace, quota)
            requested = {name: value for name, value in delta.items() if name in quota.hard}
            exceeded = sorted(
                name for name, value in requested.items() if used[name] + value > quota.hard[name]
            )
            if exceeded:
                message = (
                    f"exceeded quota: {quota.name}, requested: {_pretty(requested, exceeded)}, "
                    f"used: {_pretty(used, exceeded)}, limited: {_pretty(quota.hard, exceeded)}"
                )
                return QuotaDecision(False, message, quota.name, delta)
        return QuotaDecision(True, usage=delta)

    def record(self, obj: Mapping[str, Any], *, namespace: str) -> Mapping[str, Quantity]:
        """Charge ``obj`` to ``namespace`` as if it had been created; returns what was charged.

        Call it after an allowed ``check`` when admissions should accumulate (the 21st Pod of a
        ``pods: 20`` quota is refused only if the first 20 were recorded).
        """
        group, resource = resource_of(obj)
        current = self._stored_form(obj, namespace)
        usage = _evaluator(group, resource).usage(current)
        self._charges.setdefault(namespace, []).append(_Charge(group, resource, current, usage))
        return usage

    def copy(self) -> QuotaLedger:
        """An independent ledger with the same quotas and usage (for what-if sequences)."""
        clone = QuotaLedger()
        clone._quotas = {ns: list(qs) for ns, qs in self._quotas.items()}
        clone._limit_ranges = {ns: list(lrs) for ns, lrs in self._limit_ranges.items()}
        clone._charges = {ns: list(cs) for ns, cs in self._charges.items()}
        clone._rejected = list(self._rejected)
        return clone

    # -- reading ------------------------------------------------------------------------------

    def usage(self, namespace: str) -> dict[str, Quantity]:
        """Everything charged to ``namespace``, by resource name (sorted), whether or not a quota
        tracks it: ``requests.cpu``, ``limits.memory``, ``pods``, ``count/deployments.apps``..."""
        totals: dict[str, Quantity] = {}
        for charge in self._charges.get(namespace, ()):
            for name, value in charge.usage.items():
                totals[name] = totals.get(name, _ZERO) + value
        return {name: _stored(totals[name]) for name in sorted(totals)}

    def hard(self, namespace: str) -> dict[str, Quantity]:
        """The namespace's limits by resource name; where several quotas limit one resource the
        smallest applies (every matching quota must admit an object)."""
        limits: dict[str, Quantity] = {}
        for quota in self._quotas.get(namespace, ()):
            for name, value in quota.hard.items():
                if name not in limits or value < limits[name]:
                    limits[name] = value
        return {name: limits[name] for name in sorted(limits)}

    def status(self, namespace: str) -> tuple[QuotaStatus, ...]:
        """Each quota of the namespace with its hard limits and current use."""
        return tuple(
            QuotaStatus(q.name, dict(q.hard), self._used(namespace, q))
            for q in self._quotas.get(namespace, ())
        )

    @property
    def rejected(self) -> tuple[Rejection, ...]:
        """Blueprint objects and controller-created Pods that admission refused while replaying
        the blueprint (they are not charged)."""
        return tuple(self._rejected)

    # -- internals ----------------------------------------------------------------------------

    def _stored_form(self, obj: Mapping[str, Any], namespace: str) -> Mapping[str, Any]:
        """The object as the API server holds it when quota sees it (Pods defaulted)."""
        if obj.get("kind") == "Pod" and obj.get("apiVersion") == "v1":
            return apply_limit_ranges(obj, self._limit_ranges.get(namespace, ())).pod
        return obj

    def _used(self, namespace: str, quota: StoredQuota) -> dict[str, Quantity]:
        """``status.used`` as the quota controller computes it: per hard resource, the sum over
        the objects the quota matches, read back from its stored (canonical) text."""
        totals = {name: _ZERO for name in quota.hard}
        for charge in self._charges.get(namespace, ()):
            evaluator = _evaluator(charge.group, charge.resource)
            if not _applies(evaluator, quota, charge.obj):
                continue
            for name in evaluator.matching(quota.hard):
                if name in charge.usage:
                    totals[name] = totals[name] + charge.usage[name]
        return {name: _stored(value) for name, value in totals.items()}

    def _replay(self, doc: Mapping[str, Any], *, namespace: str) -> None:
        """Create one blueprint object the way applying it would, with its controller's pods."""
        if not self._admit(doc, namespace):
            return
        kind = str(doc.get("kind"))
        if _REPLICATED.get(kind) != resource_of(doc)[0]:
            return
        name = str((doc.get("metadata") or {}).get("name", ""))
        if kind == "Deployment":
            replica_set = _implicit("apps/v1", "ReplicaSet", name, namespace)
            if not self._admit(replica_set, namespace):
                return
        spec = doc.get("spec") or {}
        replicas = spec.get("replicas", 1)
        template = spec.get("template") or {}
        for index in range(replicas if isinstance(replicas, int) else 1):
            pod = _pod_from_template(template, name=f"{name}-{index}", namespace=namespace)
            self._admit(pod, namespace)

    def _admit(self, obj: Mapping[str, Any], namespace: str) -> bool:
        """LimitRanger (for a Pod) then ResourceQuota; charge the object if both admit it."""
        if obj.get("kind") == "Pod" and obj.get("apiVersion") == "v1":
            outcome = apply_limit_ranges(obj, self._limit_ranges.get(namespace, ()))
            if not outcome.allowed:
                self._reject(obj, namespace, outcome.message)
                return False
            obj = outcome.pod
        decision = self.check(obj, namespace=namespace)
        if not decision.allowed:
            self._reject(obj, namespace, decision.message)
            return False
        self.record(obj, namespace=namespace)
        return True

    def _reject(self, obj: Mapping[str, Any], namespace: str, reason: str) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        message = forbidden_message(obj, reason)
        self._rejected.append(Rejection(namespace, str(obj.get("kind", "")), name, message))


def _applies(evaluator: _Evaluator, quota: StoredQuota, obj: Mapping[str, Any]) -> bool:
    """``generic.Matches``: the quota tracks a resource of the object and all its scopes match."""
    if not evaluator.matching(quota.hard):
        return False
    return all(evaluator.matches_scope(scope, obj) for scope in quota.scopes)


def _pretty(values: Mapping[str, Quantity], names: Iterable[str]) -> str:
    """``prettyPrint``: ``k=v`` sorted by resource name, joined by commas."""
    return ",".join(f"{name}={values[name]}" for name in sorted(names))


def _stored(value: Quantity) -> Quantity:
    """A summed quantity as it reads back after being stored in ``status.used``."""
    return Quantity.parse(value.canonical())


def _subtract_non_negative(
    new: Mapping[str, Quantity], old: Mapping[str, Quantity]
) -> dict[str, Quantity]:
    """``quota.SubtractWithNonNegativeResult``."""
    result = {}
    for name, value in new.items():
        difference = value - old[name] if name in old else value
        result[name] = difference if difference.sign() > 0 else _ZERO
    for name in old:
        result.setdefault(name, _ZERO)
    return result


def _implicit(api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
    }


def _pod_from_template(template: Mapping[str, Any], *, name: str, namespace: str) -> dict[str, Any]:
    """The Pod a controller creates from a template (named like ``Blueprint.pods()``)."""
    meta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {"name": name, "namespace": namespace}
    for key in ("labels", "annotations"):
        if meta.get(key):
            pod_meta[key] = dict(meta[key])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": dict(template.get("spec") or {}),
    }
