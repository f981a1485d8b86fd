"""Gatekeeper's constraint match criteria, evaluated the way Gatekeeper does before any Rego runs.

Mirrors ``pkg/mutation/match`` of Gatekeeper (shared by constraints): every criterion must hold;
``namespaces``/``excludedNamespaces``/``name`` accept a ``*`` at either end; for a ``Namespace``
object the namespace criteria apply to the object itself; an object without a namespace is never
excluded by namespace criteria; ``namespaceSelector`` looks at the labels of the object's
Namespace (or of the Namespace object itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gauntlet.admission.templates import Match
from gauntlet.blueprint.selectors import matches


@dataclass(frozen=True)
class MatchTarget:
    """What a match decision looks at: the object's group/kind/name/labels and its namespace."""

    group: str
    kind: str
    name: str
    generate_name: str
    namespace: str
    labels: Mapping[str, str]
    # Labels of the object's Namespace; None when the object is cluster-scoped or unknown.
    namespace_labels: Mapping[str, str] | None
    source: str = "Original"

    @property
    def is_namespace(self) -> bool:
        return self.kind == "Namespace" and self.group == ""

    @classmethod
    def of(
        cls,
        obj: Mapping[str, Any],
        *,
        group: str,
        kind: str,
        namespace: str,
        namespace_labels: Mapping[str, str] | None,
    ) -> MatchTarget:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        return cls(
            group=group,
            kind=kind,
            name=str(meta.get("name") or ""),
            generate_name=str(meta.get("generateName") or ""),
            namespace=namespace,
            labels={str(k): str(v) for k, v in labels.items()},
            namespace_labels=namespace_labels,
        )


def wildcard_matches(pattern: str, candidate: str) -> bool:
    """Gatekeeper's ``wildcard.Wildcard``: ``*`` as prefix and/or suffix only."""
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in candidate
    if pattern.startswith("*"):
        return candidate.endswith(pattern[1:])
    if pattern.endswith("*"):
        return candidate.startswith(pattern[:-1])
    return pattern == candidate


def _generate_name_matches(pattern: str, candidate: str) -> bool:
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in candidate
    if pattern.endswith("*"):
        return candidate.startswith(pattern[:-1])
    return False


def constraint_matches(match: Match, target: MatchTarget) -> bool:
    return (
        _kinds(match, target)
        and _scope(match, target)
        and _namespaces(match, target)
        and _excluded(match, target)
        and _label_selector(match, target)
        and _namespace_selector(match, target)
        and _name(match, target)
        and _source(match, target)
    )


def _kinds(match: Match, t: MatchTarget) -> bool:
    if not match.kinds:
        return True
    for sel in match.kinds:
        kind_ok = not sel.kinds or "*" in sel.kinds or t.kind in sel.kinds
        group_ok = not sel.api_groups or "*" in sel.api_groups or t.group in sel.api_groups
        if kind_ok and group_ok:
            return True
    return False


def _scope(match: Match, t: MatchTarget) -> bool:
    has_namespace = bool(t.namespace)
    if match.scope == "Cluster":
        return t.is_namespace or not has_namespace
    if match.scope == "Namespaced":
        return not t.is_namespace and has_namespace
    return True


def _effective_namespace(t: MatchTarget) -> str:
    return t.name if t.is_namespace else t.namespace


def _namespaces(match: Match, t: MatchTarget) -> bool:
    ns = _effective_namespace(t)
    if not match.namespaces or not ns:
        return True
    return any(wildcard_matches(p, ns) for p in match.namespaces)


def _excluded(match: Match, t: MatchTarget) -> bool:
    ns = _effective_namespace(t)
    if not match.excluded_namespaces or not ns:
        return True
    return not any(wildcard_matches(p, ns) for p in match.excluded_namespaces)


def _label_selector(match: Match, t: MatchTarget) -> bool:
    return match.label_selector is None or matches(match.label_selector, t.labels)


def _namespace_selector(match: Match, t: MatchTarget) -> bool:
    if match.namespace_selector is None:
        return True
    if t.is_namespace:
        return matches(match.namespace_selector, t.labels)
    if not t.namespace:
        return True  # cluster-scoped objects are not filtered by a namespace selector
    if t.namespace_labels is None:
        # Gatekeeper errors out ("namespace selector for namespace-scoped object but missing
        # Namespace"); such a constraint cannot be said to match, so it does not.
        return False
    return matches(match.namespace_selector, t.namespace_labels)


def _name(match: Match, t: MatchTarget) -> bool:
    if not match.name:
        return True
    return wildcard_matches(match.name, t.name) or _generate_name_matches(
        match.name, t.generate_name
    )


def _source(match: Match, t: MatchTarget) -> bool:
    wanted = match.source or "Original"
    return wanted == "All" or wanted == t.source
