"""PolicyRule semantics: does a rule allow a request, does a rule set cover another.

Matching follows ``pkg/apis/rbac/v1/evaluation_helpers.go`` and the authorizer's
``RuleAllows``: every list is an OR, ``*`` is a wildcard for verbs, API groups and resources,
``*/sub`` matches that subresource of any resource, a rule with ``resourceNames`` only matches
requests that carry one of those names (so never create, list, watch or deletecollection, whose
requests have no name), and a non-resource URL ending in ``*`` is a prefix.

Coverage follows ``component-helpers/auth/rbac/validation/policy_comparator.go`` (``Covers``),
which the API server uses for its escalation checks: the servant rules are broken down into
single (group, resource, verb, name) points and single (URL, verb) points, and each point must
be covered by one owner rule. A wildcard in the *servant* is a point of its own: ``*`` verbs are
only covered by an owner's ``*``, which is exact, since no finite verb list allows every verb.

The missing points are rendered as the API server renders them (``CompactRules`` then
``CompactString``), so escalation messages read like kube-apiserver's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gauntlet.blueprint.kube import PolicyRule
from gauntlet.rbac._go import go_quote_list
from gauntlet.rbac.resources import ResourceRef

__all__ = [
    "Coverage",
    "breakdown",
    "compact",
    "compact_string",
    "coverage",
    "covers",
    "rule",
    "rule_allows_path",
    "rule_allows_resource",
]

ALL = "*"


def rule(
    verbs: Iterable[str],
    *,
    groups: Iterable[str] = (),
    resources: Iterable[str] = (),
    names: Iterable[str] = (),
    urls: Iterable[str] = (),
) -> PolicyRule:
    """Build a ``PolicyRule`` in code (bootstrap data, tests) without YAML aliases."""
    return PolicyRule(
        verbs=tuple(verbs),
        api_groups=tuple(groups),
        resources=tuple(resources),
        resource_names=tuple(names),
        non_resource_urls=tuple(urls),
    )


def _verb_matches(r: PolicyRule, verb: str) -> bool:
    return any(v in (ALL, verb) for v in r.verbs)


def _resource_matches(r: PolicyRule, ref: ResourceRef) -> bool:
    combined = ref.combined
    for res in r.resources:
        if res in (ALL, combined):
            return True
        # "*/scale" matches the scale subresource of anything, never a main resource.
        if ref.subresource and res == f"*/{ref.subresource}":
            return True
    return False


def _url_matches(pattern: str, path: str) -> bool:
    if pattern in (ALL, path):
        return True
    # Go's strings.TrimRight drops every trailing '*', as str.rstrip does.
    return pattern.endswith(ALL) and path.startswith(pattern.rstrip(ALL))


def rule_allows_resource(r: PolicyRule, *, verb: str, resource: ResourceRef, name: str) -> bool:
    """Whether ``r`` allows ``verb`` on ``resource`` named ``name`` ("" for no name)."""
    return (
        _verb_matches(r, verb)
        and any(g in (ALL, resource.group) for g in r.api_groups)
        and _resource_matches(r, resource)
        and (not r.resource_names or name in r.resource_names)
    )


def rule_allows_path(r: PolicyRule, *, verb: str, path: str) -> bool:
    """Whether ``r`` allows ``verb`` on the non-resource URL ``path`` (``/healthz``)."""
    return _verb_matches(r, verb) and any(_url_matches(u, path) for u in r.non_resource_urls)


def breakdown(r: PolicyRule) -> list[PolicyRule]:
    """Split a rule into rules of one group, one resource, one verb and at most one name, plus
    rules of one URL and one verb (``BreakdownRule``). Order matters: it is the order missing
    verbs are listed in escalation messages."""
    points: list[PolicyRule] = []
    for group in r.api_groups:
        for res in r.resources:
            for verb in r.verbs:
                if r.resource_names:
                    points.extend(
                        rule([verb], groups=[group], resources=[res], names=[n])
                        for n in r.resource_names
                    )
                else:
                    points.append(rule([verb], groups=[group], resources=[res]))
    for url in r.non_resource_urls:
        points.extend(rule([verb], urls=[url]) for verb in r.verbs)
    return points


def _resources_cover(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    if ALL in owner:
        return True
    for res in wanted:
        if res in owner:
            continue
        if "/" not in res:
            return False
        if f"*/{res.split('/', 1)[1]}" not in owner:
            return False
    return True


def _urls_cover(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    return all(
        any(o == w or (o.endswith(ALL) and w.startswith(o.rstrip(ALL))) for o in owner)
        for w in wanted
    )


def _rule_covers(owner: PolicyRule, point: PolicyRule) -> bool:
    if point.resource_names:
        names_ok = not owner.resource_names or set(point.resource_names) <= set(
            owner.resource_names
        )
    else:
        # A point without a name stands for every name: only a nameless owner rule has them all.
        names_ok = not owner.resource_names
    return (
        (ALL in owner.verbs or set(point.verbs) <= set(owner.verbs))
        and (ALL in owner.api_groups or set(point.api_groups) <= set(owner.api_groups))
        and _resources_cover(owner.resources, point.resources)
        and _urls_cover(owner.non_resource_urls, point.non_resource_urls)
        and names_ok
    )


@dataclass(frozen=True)
class Coverage:
    """Whether owner rules cover servant rules, and the servant points they miss."""

    complete: bool
    missing: tuple[PolicyRule, ...]


def coverage(owner: Sequence[PolicyRule], servant: Iterable[PolicyRule]) -> Coverage:
    """Which points of ``servant`` no rule of ``owner`` covers (``Covers``)."""
    missing = tuple(
        point
        for r in servant
        for point in breakdown(r)
        if not any(_rule_covers(o, point) for o in owner)
    )
    return Coverage(complete=not missing, missing=missing)


def covers(owner: Sequence[PolicyRule], servant: Iterable[PolicyRule]) -> bool:
    """Whether every request ``servant`` allows is allowed by ``owner``."""
    return coverage(owner, servant).complete


def compact(rules: Iterable[PolicyRule]) -> list[PolicyRule]:
    """Merge rules of one group, one resource and at most one name that differ only by verb,
    appending verbs in order without de-duplicating (``CompactRules``, whose output the API
    server prints)."""
    merged: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    others: list[PolicyRule] = []
    for r in rules:
        simple = (
            len(r.api_groups) == 1
            and len(r.resources) == 1
            and len(r.resource_names) <= 1
            and not r.non_resource_urls
        )
        if simple:
            key = (r.api_groups[0], r.resources[0], r.resource_names)
            merged.setdefault(key, []).extend(r.verbs)
        else:
            others.append(r)
    return others + [
        rule(verbs, groups=[group], resources=[res], names=names)
        for (group, res, names), verbs in merged.items()
    ]


def compact_string(r: PolicyRule) -> str:
    """A rule as escalation messages print it (``CompactString``):
    ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}``."""
    fields = (
        ("APIGroups", r.api_groups),
        ("Resources", r.resources),
        ("NonResourceURLs", r.non_resource_urls),
        ("ResourceNames", r.resource_names),
        ("Verbs", r.verbs),
    )
    return "{" + ", ".join(f"{label}:{go_quote_list(v)}" for label, v in fields if v) + "}"
