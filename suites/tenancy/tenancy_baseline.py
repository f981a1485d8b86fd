"""What counts as a tenant's baseline: quota, limit range, default-deny, monitoring placeholder.

Everything here judges manifests as the platform holds them (``Target.objects``), by their
semantics rather than their names: a policy called ``default-deny`` that allows traffic is not
one, and a differently named policy that denies everything is.

Default-deny, per direction:

* ``CiliumNetworkPolicy`` (``spec`` or any of ``specs[]``): the ``endpointSelector`` is empty, so
  it selects every pod of its namespace, and the direction's section is a non-empty list of rules
  that allow nothing (``- {}``). Cilium makes every endpoint selected by a policy with a section
  for a direction default-deny in that direction, unless ``enableDefaultDeny`` says otherwise; an
  *empty list* (``ingress: []``) is no section at all. A rule with only ``toPorts`` allows every
  peer on those ports, so it is not empty.
* ``CiliumClusterwideNetworkPolicy``: the same, with an ``endpointSelector`` that is empty or
  matches only on the tenant's namespace label.
* ``NetworkPolicy``: ``podSelector: {}``, the direction in ``policyTypes`` (defaulted as the API
  does: Ingress always, Egress when an ``egress`` section exists) and *no* rules for it. Note the
  opposite meaning of ``{}``: in a NetworkPolicy ``ingress: [{}]`` allows everything.

Monitoring placeholder: a ``PrometheusRule`` in the namespace, or a ``ConfigMap`` labelled
``grafana_dashboard`` (the label the Grafana dashboard sidecar watches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenancy_observe import list_objects, names
from tenancy_subjects import ObjectRef
from tenancy_table import render_table

from gauntlet.targets.base import Target

# Kinds listed in the tenant namespace; CiliumClusterwideNetworkPolicies are listed cluster-wide.
BASELINE_KINDS = (
    "ResourceQuota",
    "LimitRange",
    "CiliumNetworkPolicy",
    "NetworkPolicy",
    "PrometheusRule",
    "ConfigMap",
)
CLUSTERWIDE_POLICY = "CiliumClusterwideNetworkPolicy"
DIRECTIONS = ("ingress", "egress")
NAMESPACE_LABELS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace")
DASHBOARD_LABEL = "grafana_dashboard"

Manifest = Mapping[str, Any]


def _empty_selector(selector: object) -> bool:
    if selector is None:
        return False
    if not isinstance(selector, Mapping):
        return False
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def _namespace_only_selector(selector: object, namespace: str) -> bool:
    if _empty_selector(selector):
        return True
    if not isinstance(selector, Mapping) or selector.get("matchExpressions"):
        return False
    labels = selector.get("matchLabels") or {}
    return bool(labels) and all(k in NAMESPACE_LABELS and v == namespace for k, v in labels.items())


def _allows_nothing(rules: object) -> bool:
    """A section that switches enforcement on and allows no peer: ``[{}]`` and the like."""
    if not isinstance(rules, list) or not rules:
        return False
    return all(isinstance(r, Mapping) and not any(r.values()) for r in rules)


def _cilium_specs(doc: Manifest) -> list[Manifest]:
    specs = [doc["spec"]] if isinstance(doc.get("spec"), Mapping) else []
    specs += [s for s in doc.get("specs") or [] if isinstance(s, Mapping)]
    return specs


def default_deny_directions(doc: Manifest, namespace: str) -> set[str]:
    """Directions in which ``doc`` makes every pod of ``namespace`` default-deny with no allow."""
    kind = doc.get("kind")
    out: set[str] = set()
    if kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
        for spec in _cilium_specs(doc):
            selector = spec.get("endpointSelector")
            selects_all = (
                _empty_selector(selector)
                if kind == "CiliumNetworkPolicy"
                else _namespace_only_selector(selector, namespace)
            )
            if not selects_all:
                continue
            enable = spec.get("enableDefaultDeny") or {}
            for d in DIRECTIONS:
                if enable.get(d, True) is not False and _allows_nothing(spec.get(d)):
                    out.add(d)
    elif kind == "NetworkPolicy":
        spec = doc.get("spec") or {}
        if not _empty_selector(spec.get("podSelector") or {"matchLabels": {}}):
            return out
        types = spec.get("policyTypes") or (
            ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
        )
        for d in DIRECTIONS:
            if d.capitalize() in types and not spec.get(d):
                out.add(d)
    return out


def is_monitoring_placeholder(doc: Manifest) -> bool:
    kind = doc.get("kind")
    if kind == "PrometheusRule":
        return True
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return kind == "ConfigMap" and DASHBOARD_LABEL in labels


@dataclass(frozen=True)
class Element:
    """One thing every tenant must have, and where it was looked for."""

    name: str
    kinds: tuple[str, ...]
    found: tuple[str, ...]
    unobserved: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.found:
            return "present"
        return "not observed" if self.unobserved else "MISSING"


def _name(doc: Manifest) -> str:
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{doc.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def evaluate_elements(
    namespace: str,
    observed: Mapping[str, Sequence[Manifest]],
    errors: Mapping[str, str],
) -> list[Element]:
    """The four baseline elements, from ``observed`` objects per kind (``errors``: kinds the
    target could not list)."""
    policies = ("CiliumNetworkPolicy", "NetworkPolicy", "CiliumClusterwideNetworkPolicy")

    def element(name: str, kinds: tuple[str, ...], found: list[str]) -> Element:
        return Element(name, kinds, tuple(found), tuple(k for k in kinds if k in errors))

    def listed(kinds: tuple[str, ...]) -> list[Manifest]:
        return [doc for k in kinds for doc in observed.get(k, ())]

    out = [
        element(
            "ResourceQuota", ("ResourceQuota",), [_name(d) for d in listed(("ResourceQuota",))]
        ),
        element("LimitRange", ("LimitRange",), [_name(d) for d in listed(("LimitRange",))]),
    ]
    for d in DIRECTIONS:
        found = [_name(p) for p in listed(policies) if d in default_deny_directions(p, namespace)]
        out.append(element(f"default-deny {d}", policies, found))
    monitoring = ("PrometheusRule", "ConfigMap")
    out.append(
        element(
            "monitoring placeholder",
            monitoring,
            [_name(d) for d in listed(monitoring) if is_monitoring_placeholder(d)],
        )
    )
    return out


@dataclass
class BaselineReport:
    """The baseline of one tenant as the target holds it."""

    elements: list[Element]
    rows: list[list[str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        return render_table(("element", "status", "found"), self.rows)


def observe_baseline(
    target: Target, namespace: str, expected: Sequence[ObjectRef]
) -> BaselineReport:
    """List what the target holds and judge the four elements plus every ``expected`` object."""
    observed: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    scopes = [(k, namespace) for k in dict.fromkeys([*BASELINE_KINDS, *(o.kind for o in expected)])]
    for kind, scope in [*scopes, (CLUSTERWIDE_POLICY, None)]:
        observed[kind], error = list_objects(target, kind, scope)
        if error:
            errors[kind] = error
    elements = evaluate_elements(namespace, observed, errors)
    report = BaselineReport(elements, errors=errors)
    for e in elements:
        report.rows.append([e.name, e.status, ", ".join(e.found) or "-"])
        if e.status == "MISSING":
            report.missing.append(e.name)
        elif e.status == "not observed":
            report.unobserved.append(e.name)
    for obj in expected:
        ref = f"{obj.kind} {obj.name}"
        if obj.kind in errors:
            status = "not observed"
            report.unobserved.append(ref)
        elif obj.name in names(observed[obj.kind]):
            status = "present"
        else:
            status = "MISSING"
            report.missing.append(ref)
        report.rows.append([f"labelled baseline: {ref}", status, ""])
    return report
