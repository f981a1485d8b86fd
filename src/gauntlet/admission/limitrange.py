"""LimitRanger as kube-apiserver runs it: defaults a Pod's container resources (mutating), then
checks min/max/maxLimitRequestRatio (validating), with upstream's messages.

Mirrors ``plugin/pkg/admission/limitranger/admission.go`` and the defaulting that happens before
any admission plugin sees an object:

1. Decoding applies the scheme defaults (``pkg/apis/core/v1/defaults.go``): every ResourceList
   value is rounded up to a whole milli, and a container's explicit limit becomes its request when
   the request is missing (``SetDefaults_Pod``). So a container with ``limits.cpu: 1`` gets
   ``requests.cpu: 1``, not the LimitRange's ``defaultRequest`` (as the Kubernetes docs' "Configure
   Default CPU Requests and Limits" page shows).
2. A LimitRange was itself defaulted when it was stored (``SetDefaults_LimitRangeItem``): for a
   ``Container`` item a missing ``default`` is ``max``, a missing ``defaultRequest`` is ``default``,
   then ``min``.
3. LimitRanger's mutating step, for each LimitRange of the namespace in turn: each container and
   init container gets the ``default`` limits and ``defaultRequest`` requests it lacks (later
   ``Container`` items of one LimitRange override earlier ones), and the Pod is annotated
   ``kubernetes.io/limit-ranger: LimitRanger plugin set: cpu, memory request for container app;
   ...``; each LimitRange that sets something rewrites the annotation, so the last one wins.
4. LimitRanger's validating step: for each LimitRange in turn, every ``Container`` and ``Pod`` item
   is checked; the first LimitRange with errors refuses the Pod with all of them, aggregated like
   ``utilerrors.NewAggregate`` (one message alone, several as ``[a, b]``, duplicates dropped).

LimitRanger acts on Pods at CREATE only (containers are immutable, so upstream skips Pod
updates) and validates PersistentVolumeClaims at CREATE and UPDATE; every other kind (a
Deployment included) passes through untouched.

Where upstream iterates a Go map (the resources of one ``min``/``max`` list, and the order of the
namespace's LimitRanges from the informer) the order is random there; here resources are sorted
and LimitRanges keep the order given, so results are deterministic.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gauntlet.admission.quantity import Quantity, resource_list
from gauntlet.blueprint.kube import LimitRange

__all__ = [
    "LIMIT_RANGER_ANNOTATION",
    "ContainerResources",
    "LimitRangeOutcome",
    "PodResources",
    "StoredLimitRange",
    "StoredLimitRangeItem",
    "aggregate_errors",
    "apply_limit_ranges",
    "pod_limits",
    "pod_requests",
    "read_pod_resources",
    "requests_over_limits",
]

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
CONTAINER = "Container"
POD = "Pod"
PVC = "PersistentVolumeClaim"
# resource.MaxMilliValue: above it upstream compares whole units instead of millis.
_MAX_MILLI_VALUE = (2**63 - 1) // 1000
# Pod-level resources (spec.resources) override the container sum for these only.
_POD_LEVEL_RESOURCES = frozenset({"cpu", "memory"})
_ZERO = Quantity(0)


@dataclass(frozen=True)
class StoredLimitRangeItem:
    """One ``spec.limits[]`` entry as the API server stores it (rounded, defaulted)."""

    type: str
    max: Mapping[str, Quantity] = field(default_factory=dict)
    min: Mapping[str, Quantity] = field(default_factory=dict)
    default: Mapping[str, Quantity] = field(default_factory=dict)
    default_request: Mapping[str, Quantity] = field(default_factory=dict)
    max_limit_request_ratio: Mapping[str, Quantity] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredLimitRange:
    """A LimitRange as LimitRanger reads it from the API server."""

    name: str
    namespace: str
    items: tuple[StoredLimitRangeItem, ...]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> StoredLimitRange:
        """Read a LimitRange manifest, applying ``SetDefaults_LimitRangeItem``.

        Raises ``ValueError`` for a quantity the API server would not decode.
        """
        meta = manifest.get("metadata") or {}
        items = []
        for raw in (manifest.get("spec") or {}).get("limits") or ():
            limit_type = str(raw.get("type", ""))
            maximum = resource_list(raw.get("max"))
            minimum = resource_list(raw.get("min"))
            default = resource_list(raw.get("default"))
            default_request = resource_list(raw.get("defaultRequest"))
            if limit_type == CONTAINER:
                for source, target in ((maximum, default), (default, default_request)):
                    for name, value in source.items():
                        target.setdefault(name, value)
                for name, value in minimum.items():
                    default_request.setdefault(name, value)
            items.append(
                StoredLimitRangeItem(
                    type=limit_type,
                    max=maximum,
                    min=minimum,
                    default=default,
                    default_request=default_request,
                    max_limit_request_ratio=resource_list(raw.get("maxLimitRequestRatio")),
                )
            )
        return cls(str(meta.get("name", "")), str(meta.get("namespace") or ""), tuple(items))

    @classmethod
    def of(cls, limit_range: LimitRange | Mapping[str, Any] | StoredLimitRange) -> StoredLimitRange:
        """Accept a raw manifest, a blueprint model or a stored range.

        The blueprint model does not keep ``maxLimitRequestRatio``; pass the raw manifest
        (``Blueprint.objects("LimitRange", ns)``) when that matters.
        """
        if isinstance(limit_range, StoredLimitRange):
            return limit_range
        if isinstance(limit_range, LimitRange):
            return cls.from_manifest(limit_range.model_dump(by_alias=True))
        return cls.from_manifest(limit_range)


@dataclass(frozen=True)
class ContainerResources:
    """A container's stored requests and limits (after the scheme defaults)."""

    name: str
    requests: Mapping[str, Quantity]
    limits: Mapping[str, Quantity]
    sidecar: bool = False
    """An init container with ``restartPolicy: Always`` (runs beside the app containers)."""


@dataclass(frozen=True)
class PodResources:
    """The resource-bearing parts of a Pod spec, parsed."""

    containers: tuple[ContainerResources, ...]
    init_containers: tuple[ContainerResources, ...] = ()
    pod_requests: Mapping[str, Quantity] = field(default_factory=dict)
    pod_limits: Mapping[str, Quantity] = field(default_factory=dict)
    overhead: Mapping[str, Quantity] = field(default_factory=dict)

    @property
    def all_containers(self) -> tuple[ContainerResources, ...]:
        return self.containers + self.init_containers

    @property
    def has_pod_level_resources(self) -> bool:
        """``IsPodLevelResourcesSet``: spec.resources names cpu or memory."""
        names = set(self.pod_requests) | set(self.pod_limits)
        return bool(names & _POD_LEVEL_RESOURCES)


@dataclass(frozen=True)
class LimitRangeOutcome:
    """What LimitRanger did to one object."""

    pod: dict[str, Any]
    """A deep copy of the input as the API server would store it: a Pod defaulted, any other
    kind unchanged."""
    errors: tuple[str, ...] = ()
    """Validation errors of the first LimitRange that refused, in upstream's wording."""
    limit_range: str | None = None
    """The name of that LimitRange."""
    annotation: str | None = None
    """The ``kubernetes.io/limit-ranger`` value written, if any default was applied."""

    @property
    def allowed(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        """The errors as the API server prints them after ``<kind> "<name>" is forbidden: ``."""
        return aggregate_errors(self.errors)


def aggregate_errors(errors: Iterable[str]) -> str:
    """``utilerrors.NewAggregate(errs).Error()``: duplicates dropped, ``[a, b]`` when several."""
    unique = list(dict.fromkeys(errors))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]" if unique else ""


def apply_limit_ranges(
    obj: Mapping[str, Any],
    limit_ranges: Iterable[LimitRange | Mapping[str, Any] | StoredLimitRange],
    *,
    operation: str = "CREATE",
) -> LimitRangeOutcome:
    """Run LimitRanger's mutating then validating step on one object of a namespace.

    ``limit_ranges`` are the namespace's LimitRanges. A quantity the API server could not decode
    raises ``ValueError`` with its message (the request would fail with 400 before admission).
    """
    operation = operation.upper()
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    ranges = [StoredLimitRange.of(lr) for lr in limit_ranges]
    kind, core = out.get("kind"), out.get("apiVersion") == "v1"
    if core and kind == "Pod" and operation == "CREATE":
        return _admit_pod(out, ranges)
    if core and kind == PVC and operation in ("CREATE", "UPDATE"):
        requests = resource_list(((out.get("spec") or {}).get("resources") or {}).get("requests"))
        for lr in ranges:
            errors = _validate_pvc(requests, lr)
            if errors:
                return LimitRangeOutcome(out, errors, lr.name)
    return LimitRangeOutcome(out)


def _admit_pod(pod: dict[str, Any], ranges: list[StoredLimitRange]) -> LimitRangeOutcome:
    resources = read_pod_resources(pod)
    annotation = None
    for lr in ranges:
        resources, notes = _mutate(resources, lr)
        if notes:
            annotation = "LimitRanger plugin set: " + "; ".join(notes)
    _write_back(pod, resources)
    if annotation is not None:
        meta = pod.setdefault("metadata", {})
        meta.setdefault("annotations", {})
        meta["annotations"] = {**(meta["annotations"] or {}), LIMIT_RANGER_ANNOTATION: annotation}
    for lr in ranges:
        errors = _validate_pod(resources, lr)
        if errors:
            return LimitRangeOutcome(pod, errors, lr.name, annotation)
    return LimitRangeOutcome(pod, annotation=annotation)


# -- reading a pod ----------------------------------------------------------------------------


def read_pod_resources(pod: Mapping[str, Any]) -> PodResources:
    """The Pod's resources after the scheme defaults (milli rounding; requests from limits).

    Accepts a Pod manifest or a bare pod spec (a template's ``spec``).
    """
    spec = pod.get("spec") if "spec" in pod else pod
    spec = spec or {}
    pod_level = spec.get("resources") or {}
    return PodResources(
        containers=tuple(_read_container(c) for c in spec.get("containers") or ()),
        init_containers=tuple(_read_container(c) for c in spec.get("initContainers") or ()),
        pod_requests=resource_list(pod_level.get("requests")),
        pod_limits=resource_list(pod_level.get("limits")),
        overhead=resource_list(spec.get("overhead")),
    )


def _read_container(container: Mapping[str, Any]) -> ContainerResources:
    resources = container.get("resources") or {}
    requests = resource_list(resources.get("requests"))
    limits = resource_list(resources.get("limits"))
    for name, value in limits.items():
        requests.setdefault(name, value)
    return ContainerResources(
        name=str(container.get("name", "")),
        requests=requests,
        limits=limits,
        sidecar=container.get("restartPolicy") == "Always",
    )


def _write_back(pod: dict[str, Any], resources: PodResources) -> None:
    """Store the defaulted requests/limits in the pod, printed as the API server prints them."""
    spec = pod.setdefault("spec", {})
    parts = (("containers", resources.containers), ("initContainers", resources.init_containers))
    for key, parsed in parts:
        for raw, res in zip(spec.get(key) or (), parsed, strict=True):
            block = dict(raw.get("resources") or {})
            for part, values in (("requests", res.requests), ("limits", res.limits)):
                if values:
                    block[part] = {name: str(values[name]) for name in sorted(values)}
                else:
                    block.pop(part, None)
            if block or "resources" in raw:
                raw["resources"] = block


# -- mutating ---------------------------------------------------------------------------------


def _mutate(resources: PodResources, lr: StoredLimitRange) -> tuple[PodResources, list[str]]:
    """``PodMutateLimitFunc``: fill missing limits/requests from the Container items."""
    default_limits: dict[str, Quantity] = {}
    default_requests: dict[str, Quantity] = {}
    for item in lr.items:
        if item.type == CONTAINER:
            default_requests.update(item.default_request)
            default_limits.update(item.default)
    notes: list[str] = []

    def merge(container: ContainerResources, prefix: str) -> ContainerResources:
        limits = dict(container.limits)
        requests = dict(container.requests)
        set_limits = sorted(k for k in default_limits if k not in limits)
        set_requests = sorted(k for k in default_requests if k not in requests)
        limits.update({k: default_limits[k] for k in set_limits})
        requests.update({k: default_requests[k] for k in set_requests})
        if set_requests:
            notes.append(f"{', '.join(set_requests)} request for {prefix} {container.name}")
        if set_limits:
            notes.append(f"{', '.join(set_limits)} limit for {prefix} {container.name}")
        return ContainerResources(container.name, requests, limits, container.sidecar)

    containers = tuple(merge(c, "container") for c in resources.containers)
    init_containers = tuple(merge(c, "init container") for c in resources.init_containers)
    return (
        PodResources(
            containers,
            init_containers,
            resources.pod_requests,
            resources.pod_limits,
            resources.overhead,
        ),
        notes,
    )


# -- validating -------------------------------------------------------------------------------


def _validate_pod(resources: PodResources, lr: StoredLimitRange) -> tuple[str, ...]:
    """``PodValidateLimitFunc``."""
    errors: list[str] = []
    for item in lr.items:
        if item.type == CONTAINER:
            for container in resources.all_containers:
                errors += _check_item(item, container.requests, container.limits)
        elif item.type == POD:
            requests = pod_requests(resources, with_overhead=False)
            limits = pod_limits(resources, with_overhead=False)
            errors += _check_item(item, requests, limits)
    return tuple(errors)


def _check_item(
    item: StoredLimitRangeItem,
    requests: Mapping[str, Quantity],
    limits: Mapping[str, Quantity],
) -> list[str]:
    errors = []
    for bounds, check in (
        (item.min, _min),
        (item.max, _max),
        (item.max_limit_request_ratio, _ratio),
    ):
        for name in sorted(bounds):
            errors.append(check(_observe(item.type, name, bounds[name], requests, limits)))
    return [e for e in errors if e]


def _validate_pvc(requests: Mapping[str, Quantity], lr: StoredLimitRange) -> tuple[str, ...]:
    """``PersistentVolumeClaimValidateLimitFunc``: min and max apply to the storage request
    (a claim's limits are not user input), and a max needs no limit (``maxRequestConstraint``)."""
    errors: list[str] = []
    for item in lr.items:
        if item.type != PVC:
            continue
        for name in sorted(item.min):
            errors.append(_min(_observe(PVC, name, item.min[name], requests, {})))
        for name in sorted(item.max):
            seen = _observe(PVC, name, item.max[name], requests, {})
            head = f"maximum {name} usage per {PVC} is {seen.enforced}"
            if seen.request is None:
                errors.append(f"{head}.  No request is specified")
            elif seen.req > seen.bound:
                errors.append(f"{head}, but request is {seen.request}")
    return tuple(e for e in errors if e)


@dataclass(frozen=True)
class _Observed:
    """One resource of a container (or of the pod) against one LimitRange bound."""

    kind: str
    name: str
    enforced: Quantity
    request: Quantity | None
    limit: Quantity | None
    req: int
    lim: int
    bound: int
    """``req``, ``lim`` and ``bound`` at a common precision (``requestLimitEnforcedValues``)."""


def _observe(
    kind: str,
    name: str,
    enforced: Quantity,
    requests: Mapping[str, Quantity],
    limits: Mapping[str, Quantity],
) -> _Observed:
    """Compare in millis, unless a value is too large for that (then in whole units)."""
    request, limit = requests.get(name), limits.get(name)
    req, lim = request or _ZERO, limit or _ZERO
    values = (req.int_value(), lim.int_value(), enforced.int_value())
    if all(v <= _MAX_MILLI_VALUE for v in values):
        values = (req.milli_value(), lim.milli_value(), enforced.milli_value())
    return _Observed(kind, name, enforced, request, limit, *values)


def _min(seen: _Observed) -> str:
    head = f"minimum {seen.name} usage per {seen.kind} is {seen.enforced}"
    if seen.request is None:
        return f"{head}.  No request is specified"
    if seen.req < seen.bound:
        return f"{head}, but request is {seen.request}"
    if seen.limit is not None and seen.lim < seen.bound:
        return f"{head}, but limit is {seen.limit}"
    return ""


def _max(seen: _Observed) -> str:
    head = f"maximum {seen.name} usage per {seen.kind} is {seen.enforced}"
    if seen.limit is None:
        return f"{head}.  No limit is specified"
    if seen.lim > seen.bound:
        return f"{head}, but limit is {seen.limit}"
    if seen.request is not None and seen.req > seen.bound:
        return f"{head}, but request is {seen.request}"
    return ""


def _ratio(seen: _Observed) -> str:
    head = f"{seen.name} max limit to request ratio per {seen.kind} is {seen.enforced}"
    if seen.request is None or seen.req == 0:
        return f"{head}, but no request is specified or request is 0"
    if seen.limit is None or seen.lim == 0:
        return f"{head}, but no limit is specified or limit is 0"
    # Upstream divides float64s, compares in millis when it can, and prints the ratio with %f.
    observed = float(seen.lim) / float(seen.req)
    shown = observed
    maximum = float(seen.enforced.int_value())
    if seen.enforced.int_value() <= _MAX_MILLI_VALUE:
        observed *= 1000
        maximum = float(seen.enforced.milli_value())
    if observed > maximum:
        return f"{head}, but provided ratio is {shown:f}"
    return ""


# -- pod sums (component-helpers resource.PodRequests / PodLimits) ----------------------------


def pod_requests(resources: PodResources, *, with_overhead: bool) -> dict[str, Quantity]:
    """The Pod's effective requests: the app containers and sidecars summed, or the largest init
    container (plus the sidecars started before it) if that is larger; pod-level cpu/memory
    override the sum. LimitRanger leaves the overhead out, ResourceQuota counts it."""
    totals = _aggregate(resources, lambda c: c.requests)
    for name, value in resources.pod_requests.items():
        if name in _POD_LEVEL_RESOURCES:
            totals[name] = value
    if with_overhead:
        _add_into(totals, resources.overhead)
    return totals


def pod_limits(resources: PodResources, *, with_overhead: bool) -> dict[str, Quantity]:
    """The Pod's effective limits, aggregated like ``pod_requests``; the overhead is added only to
    limits that are set (a missing limit stays unlimited)."""
    totals = _aggregate(resources, lambda c: c.limits)
    for name, value in resources.pod_limits.items():
        if name in _POD_LEVEL_RESOURCES:
            totals[name] = value
    if with_overhead:
        for name, value in resources.overhead.items():
            if name in totals:
                totals[name] = totals[name] + value
    return totals


def _aggregate(
    resources: PodResources, pick: Callable[[ContainerResources], Mapping[str, Quantity]]
) -> dict[str, Quantity]:
    totals: dict[str, Quantity] = {}
    for container in resources.containers:
        _add_into(totals, pick(container))
    sidecars: dict[str, Quantity] = {}
    init_peak: dict[str, Quantity] = {}
    for container in resources.init_containers:
        own = pick(container)
        if container.sidecar:
            _add_into(totals, own)
            _add_into(sidecars, own)
            during = dict(sidecars)
        else:
            during = {}
            _add_into(during, own)
            _add_into(during, sidecars)
        _max_into(init_peak, during)
    _max_into(totals, init_peak)
    return totals


def _add_into(totals: dict[str, Quantity], more: Mapping[str, Quantity]) -> None:
    """``addResourceList``: a new key keeps the quantity as it is (and its text)."""
    for name, value in more.items():
        totals[name] = totals[name] + value if name in totals else value


def _max_into(totals: dict[str, Quantity], other: Mapping[str, Quantity]) -> None:
    """``maxResourceList``."""
    for name, value in other.items():
        if name not in totals or value > totals[name]:
            totals[name] = value


# -- pod validation LimitRanger's defaults can trip ---------------------------------------------


def requests_over_limits(pod: Mapping[str, Any]) -> tuple[str, ...]:
    """Pod validation's request <= limit check (``ValidateResourceRequirements``), which runs
    after mutating admission: a container that sets ``requests.cpu: 1`` in a namespace whose
    LimitRange defaults ``limits.cpu`` to ``500m`` is refused with ``Pod "x" is invalid: <these
    errors>``. Pass the defaulted pod (``LimitRangeOutcome.pod``)."""
    spec = pod.get("spec") or {}
    errors = []
    for key in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(key) or ()):
            parsed = _read_container(container)
            path = f"spec.{key}[{index}].resources.requests"
            for name in sorted(parsed.requests):
                limit = parsed.limits.get(name)
                request = parsed.requests[name]
                if limit is not None and request > limit:
                    errors.append(
                        f'{path}: Invalid value: "{request}": must be less than or equal to '
                        f"{name} limit of {limit}"
                    )
    return tuple(errors)
