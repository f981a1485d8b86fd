"""The RBAC authorizer of the local sandbox: kube-apiserver's answer, computed from a blueprint.

Mirrors ``plugin/pkg/auth/authorizer/rbac/rbac.go`` and the rule resolver of
``pkg/registry/rbac/validation/rule.go``:

* RBAC only allows; a request is allowed when one rule of one binding that names the user
  allows it. ClusterRoleBindings are visited first and grant everywhere; then the RoleBindings
  of the request's namespace, which grant only there. A RoleBinding may reference a ClusterRole
  (its rules, in that namespace) or a Role of its own namespace.
* A binding whose role does not exist grants nothing; if nothing else allows the request, the
  denial carries ``RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`` as its reason,
  as the API server reports it.
* Non-resource URLs are cluster-scoped: only ClusterRoleBindings grant them.
* A ClusterRole with an ``aggregationRule`` has the rules of every other ClusterRole its
  selectors match (the aggregation controller overwrites whatever rules it was written with),
  transitively, so ``admin`` holds ``edit`` holds ``view``.

``authorize`` answers like a SubjectAccessReview: the attributes are taken as given.
``authorize_request`` derives them from a manifest as the API server does for a write, then
runs the RBAC registry's escalation checks (see ``escalation.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gauntlet.blueprint import kube
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.selectors import matches
from gauntlet.rbac._go import aggregate_error, go_quote
from gauntlet.rbac.bootstrap import bootstrap_bindings, bootstrap_roles
from gauntlet.rbac.decision import (
    Decision,
    forbidden_message,
    forbidden_path_message,
    not_found_message,
)
from gauntlet.rbac.escalation import BadRequestError, escalation_check, request_attributes
from gauntlet.rbac.identity import (
    UserInfo,
    binding_subject_applies,
    describe_binding_subject,
    user_info,
)
from gauntlet.rbac.resources import ResourceRef, parse_resource
from gauntlet.rbac.rules import rule_allows_path, rule_allows_resource
from gauntlet.targets.base import Subject

__all__ = ["Authorizer", "MissingRole", "RuleResolution"]

Identity = Subject | UserInfo


@dataclass(frozen=True)
class MissingRole:
    """A binding that applies to the user references a role that does not exist."""

    kind: str
    name: str

    def error(self, *, from_cache: bool) -> str:
        return not_found_message(self.kind, self.name, from_cache=from_cache)


@dataclass(frozen=True)
class RuleResolution:
    """Every rule that applies to a user in a namespace (``RulesFor``), and the bindings that
    could not be resolved; rules are additive, so the list is usable despite the misses."""

    rules: tuple[kube.PolicyRule, ...]
    missing: tuple[MissingRole, ...]


def _aggregate(cluster_roles: Mapping[str, kube.Role]) -> dict[str, tuple[kube.PolicyRule, ...]]:
    """Effective rules of every ClusterRole, aggregation resolved.

    The controller (``clusterroleaggregation_controller.go``) sets an aggregated role's rules to
    the de-duplicated union, in name order, of the current rules of the other ClusterRoles its
    selectors match. Aggregated roles feed each other, so this iterates to the fixpoint,
    starting aggregated roles from no rules (a cycle with no plain role in it grants nothing).
    """
    effective = {
        name: () if role.aggregation_rule is not None else role.rules
        for name, role in cluster_roles.items()
    }
    aggregated = {n: r for n, r in cluster_roles.items() if r.aggregation_rule is not None}
    for _ in range(len(aggregated) + 1):
        changed = False
        for name, role in aggregated.items():
            assert role.aggregation_rule is not None
            merged: dict[kube.PolicyRule, None] = {}
            for selector in role.aggregation_rule.cluster_role_selectors:
                for other in sorted(cluster_roles):
                    if other != name and matches(selector, cluster_roles[other].metadata.labels):
                        merged.update(dict.fromkeys(effective[other]))
            rules = tuple(merged)
            if rules != effective[name]:
                effective[name] = rules
                changed = True
        if not changed:
            break
    return effective


def _describe(binding: kube.RoleBinding, subject: kube.Subject) -> str:
    """``RBAC: allowed by <this>``, worded like the rule resolver's source describers."""
    namespace = binding.metadata.namespace or ""
    name = binding.metadata.name
    if binding.kind == "RoleBinding":
        name = f"{name}/{namespace}"
    who = describe_binding_subject(subject, binding_namespace=namespace)
    ref = binding.role_ref
    return f"{binding.kind} {go_quote(name)} of {ref.kind} {go_quote(ref.name)} to {who}"


class Authorizer:
    """RBAC over a fixed set of roles and bindings (what the API server's informers hold)."""

    def __init__(
        self, roles: Iterable[kube.Role] = (), bindings: Iterable[kube.RoleBinding] = ()
    ) -> None:
        """Later objects with the same name replace earlier ones, as an apply would."""
        cluster_roles: dict[str, kube.Role] = {}
        self._roles: dict[tuple[str, str], tuple[kube.PolicyRule, ...]] = {}
        for role in roles:
            if role.kind == "ClusterRole":
                cluster_roles[role.metadata.name] = role
            else:
                self._roles[(role.metadata.namespace or "", role.metadata.name)] = role.rules
        self._cluster_roles = _aggregate(cluster_roles)
        crbs: dict[str, kube.RoleBinding] = {}
        rbs: dict[tuple[str, str], kube.RoleBinding] = {}
        for b in bindings:
            if b.kind == "ClusterRoleBinding":
                crbs[b.metadata.name] = b
            else:
                rbs[(b.metadata.namespace or "", b.metadata.name)] = b
        # Informer listers have no order; name order makes the reported reason deterministic.
        self._crbs = tuple(crbs[n] for n in sorted(crbs))
        self._rbs: dict[str, list[kube.RoleBinding]] = {}
        for ns, name in sorted(rbs):
            self._rbs.setdefault(ns, []).append(rbs[(ns, name)])

    @classmethod
    def from_blueprint(cls, blueprint: Blueprint, *, bootstrap: bool = True) -> Authorizer:
        """The blueprint's RBAC, on top of the cluster's default roles unless ``bootstrap`` is
        False; a blueprint ClusterRole or ClusterRoleBinding named like a default replaces it."""
        roles = [*bootstrap_roles(), *blueprint.roles] if bootstrap else blueprint.roles
        bindings = (
            [*bootstrap_bindings(), *blueprint.role_bindings]
            if bootstrap
            else blueprint.role_bindings
        )
        return cls(roles, bindings)

    # -- rule resolution ---------------------------------------------------------------------

    def cluster_role_rules(self, name: str) -> tuple[kube.PolicyRule, ...] | None:
        """Effective rules of a ClusterRole (aggregation resolved); None if there is none."""
        return self._cluster_roles.get(name)

    def role_ref_rules(
        self, role_ref: kube.RoleRef, *, namespace: str | None
    ) -> tuple[kube.PolicyRule, ...] | None:
        """Rules a binding in ``namespace`` (None: a ClusterRoleBinding) gets from its roleRef;
        None if the role does not exist (``GetRoleReferenceRules``)."""
        if role_ref.kind == "ClusterRole":
            return self._cluster_roles.get(role_ref.name)
        return self._roles.get((namespace or "", role_ref.name))

    def _applicable(
        self, user: UserInfo, namespace: str | None
    ) -> Iterator[tuple[kube.RoleBinding, kube.Subject]]:
        scopes: list[tuple[str, Iterable[kube.RoleBinding]]] = [("", self._crbs)]
        if namespace:
            scopes.append((namespace, self._rbs.get(namespace, ())))
        for binding_namespace, bindings in scopes:
            for binding in bindings:
                for subject in binding.subjects:
                    if binding_subject_applies(user, subject, binding_namespace=binding_namespace):
                        yield binding, subject
                        break

    def _visit(
        self, user: UserInfo, namespace: str | None
    ) -> Iterator[tuple[str, tuple[kube.PolicyRule, ...] | MissingRole]]:
        """Each binding that names ``user`` in scope: its description and rules (or the miss)."""
        for binding, subject in self._applicable(user, namespace):
            rules = self.role_ref_rules(binding.role_ref, namespace=binding.metadata.namespace)
            if rules is None:
                yield "", MissingRole(binding.role_ref.kind, binding.role_ref.name)
            else:
                yield _describe(binding, subject), rules

    def rules_for(self, subject: Identity, *, namespace: str | None) -> RuleResolution:
        """Every rule that applies to ``subject`` in ``namespace`` (None: cluster-wide only)."""
        rules: list[kube.PolicyRule] = []
        missing: list[MissingRole] = []
        for _, found in self._visit(user_info(subject), namespace):
            if isinstance(found, MissingRole):
                missing.append(found)
            else:
                rules.extend(found)
        return RuleResolution(tuple(rules), tuple(missing))

    # -- questions ---------------------------------------------------------------------------

    def authorize(
        self,
        subject: Identity,
        *,
        verb: str,
        resource: ResourceRef | str,
        namespace: str | None,
        name: str = "",
    ) -> Decision:
        """May ``subject`` ``verb`` ``resource`` (kubectl words accepted: ``deploy``,
        ``pods/log``) named ``name`` in ``namespace`` (None: cluster scope)?

        Give ``name`` only when the request carries one: create, list, watch and
        deletecollection have none, so rules limited by ``resourceNames`` never allow them.
        """
        ref = parse_resource(resource) if isinstance(resource, str) else resource
        user = user_info(subject)
        source, reason = self._first_allowing(
            user,
            namespace,
            lambda r: rule_allows_resource(r, verb=verb, resource=ref, name=name),
        )
        if source is not None:
            return Decision(True, f"RBAC: allowed by {source}")
        message = forbidden_message(
            user.name, verb=verb, resource=ref, namespace=namespace, name=name, reason=reason
        )
        return Decision(False, reason, message, 403)

    def authorize_path(self, subject: Identity, *, verb: str, path: str) -> Decision:
        """May ``subject`` ``verb`` the non-resource URL ``path`` (``/healthz``, ``/metrics``)?"""
        user = user_info(subject)
        source, reason = self._first_allowing(
            user, None, lambda r: rule_allows_path(r, verb=verb, path=path)
        )
        if source is not None:
            return Decision(True, f"RBAC: allowed by {source}")
        message = forbidden_path_message(user.name, verb=verb, path=path, reason=reason)
        return Decision(False, reason, message, 403)

    def _first_allowing(
        self, user: UserInfo, namespace: str | None, allows: Callable[[kube.PolicyRule], bool]
    ) -> tuple[str | None, str]:
        """The first binding with a rule that ``allows``; else None and the denial reason,
        which names the roles that could not be found (the authorizer's resolution errors)."""
        misses: list[str] = []
        for source, found in self._visit(user, namespace):
            if isinstance(found, MissingRole):
                misses.append(found.error(from_cache=True))
            elif any(allows(r) for r in found):
                return source, ""
        return None, f"RBAC: {aggregate_error(misses)}" if misses else ""

    def authorize_request(
        self,
        subject: Identity,
        *,
        verb: str,
        manifest: Mapping[str, Any],
        namespace: str | None,
    ) -> Decision:
        """May ``subject`` write ``manifest`` (``verb`` create, update, patch, delete) in
        ``namespace`` (the request's, e.g. ``kubectl -n``; None: the manifest's own)?

        Runs RBAC on the attributes the API server derives from the request, then, for Roles,
        ClusterRoles and their bindings, the registry's escalation checks.
        """
        try:
            attrs = request_attributes(verb, manifest, namespace=namespace)
        except BadRequestError as exc:
            return Decision(False, "", str(exc), 400)
        decision = self.authorize(
            subject, verb=verb, resource=attrs.resource, namespace=attrs.namespace, name=attrs.name
        )
        if not decision.allowed:
            return decision
        checked = escalation_check(self, user_info(subject), attrs, manifest)
        if checked is None:
            return decision
        if not checked.allowed:
            return checked
        return Decision(True, f"{decision.reason}; {checked.reason}")

    def check_escalation(
        self,
        subject: Identity,
        *,
        verb: str,
        manifest: Mapping[str, Any],
        namespace: str | None,
    ) -> Decision:
        """Only the RBAC registry's escalation check of a write (allowed, with no reason, for
        other kinds); on a real server it runs after mutating and before validating admission."""
        try:
            attrs = request_attributes(verb, manifest, namespace=namespace)
        except BadRequestError as exc:
            return Decision(False, "", str(exc), 400)
        checked = escalation_check(self, user_info(subject), attrs, manifest)
        return checked if checked is not None else Decision(True)
