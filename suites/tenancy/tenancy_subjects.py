"""Who a tenant's developers are, and what a tenant owns, read from the blueprint.

The RBAC check needs subjects to ask about. Hand-written names ("team-alpha-devs") would test
only the reference blueprint, so the subjects come from the blueprint's own grants: a *developer*
of a tenant is every Group, User and ServiceAccount that a RoleBinding *in the tenant namespace*
binds to a role whose rules allow ``create`` on ``deployments.apps`` there. Roles are resolved
with ``gauntlet.rbac``'s rule semantics (ClusterRole aggregation and the cluster's default roles
included, so a binding to ``edit`` or ``admin`` counts); this only decides whom to ask. Every
verdict comes from the target's answers.

Baseline objects are those the blueprint labels ``gauntlet.io/baseline: "true"`` in the tenant
namespace: the platform owns them and the tenant must not be able to remove or loosen them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gauntlet.blueprint.kube import RoleBinding
from gauntlet.blueprint.model import Blueprint
from gauntlet.rbac import Authorizer, ResourceRef, UnknownKindError, resource_for_kind
from gauntlet.rbac.rules import rule_allows_resource
from gauntlet.targets.base import Subject

BASELINE_LABEL = "gauntlet.io/baseline"
DEPLOYMENTS = ResourceRef("apps", "deployments")
# The user name the harness impersonates for a Group subject in ``admit``; it is bound by
# nothing, so the request has exactly the group's rights.
GROUP_PROBE_USER = "gauntlet-tenancy-probe"


@dataclass(frozen=True)
class Developer:
    """A subject that a tenant RoleBinding lets deploy workloads, in the two shapes the target's
    verbs take it: ``subject`` for ``can_i``, ``as_user``/``as_groups`` for ``admit``."""

    subject: Subject
    as_user: str
    as_groups: tuple[str, ...]
    binding: str

    @property
    def label(self) -> str:
        s = self.subject
        if s.kind == "ServiceAccount":
            return f"ServiceAccount {s.namespace}/{s.name}"
        return f"{s.kind} {s.name}"


@dataclass(frozen=True)
class ObjectRef:
    """One namespaced object, with the RBAC resource (kubectl spelling) that serves its kind."""

    kind: str
    namespace: str
    name: str
    resource: str


def _developer(subject_kind: str, name: str, namespace: str | None, binding: str) -> Developer:
    if subject_kind == "ServiceAccount":
        sa = Subject(kind="ServiceAccount", name=name, namespace=namespace)
        return Developer(sa, f"system:serviceaccount:{namespace}:{name}", (), binding)
    if subject_kind == "Group":
        return Developer(Subject(kind="Group", name=name), GROUP_PROBE_USER, (name,), binding)
    return Developer(Subject(kind="User", name=name), name, (), binding)


def _grants_deploy(authz: Authorizer, binding: RoleBinding, namespace: str) -> bool:
    rules = authz.role_ref_rules(binding.role_ref, namespace=namespace) or ()
    return any(rule_allows_resource(r, verb="create", resource=DEPLOYMENTS, name="") for r in rules)


def developers(bp: Blueprint, namespace: str) -> list[Developer]:
    """The tenant's developers (see the module docstring), in binding order, de-duplicated."""
    authz = Authorizer.from_blueprint(bp)
    found: dict[tuple[str, str, str | None], Developer] = {}
    for binding in bp.role_bindings:
        if binding.kind != "RoleBinding" or binding.metadata.namespace != namespace:
            continue
        if not _grants_deploy(authz, binding, namespace):
            continue
        for s in binding.subjects:
            sa_ns = (s.namespace or namespace) if s.kind == "ServiceAccount" else None
            key = (s.kind, s.name, sa_ns)
            if key not in found:
                found[key] = _developer(s.kind, s.name, sa_ns, binding.metadata.name)
    return list(found.values())


def tenant_identities(bp: Blueprint, namespace: str) -> tuple[set[str], set[str], set[str]]:
    """(groups, users, service accounts ``ns/name``) that belong to the tenant: every subject of
    a RoleBinding in its namespace, every ServiceAccount declared there, and the namespace's
    ``system:serviceaccounts:<ns>`` group. A ClusterRoleBinding naming any of them gives the
    tenant rights outside its namespace."""
    groups = {f"system:serviceaccounts:{namespace}"}
    users: set[str] = set()
    accounts = {
        f"{namespace}/{sa.metadata.name}"
        for sa in bp.service_accounts
        if sa.metadata.namespace == namespace
    }
    for binding in bp.role_bindings:
        if binding.kind != "RoleBinding" or binding.metadata.namespace != namespace:
            continue
        for s in binding.subjects:
            if s.kind == "Group":
                groups.add(s.name)
            elif s.kind == "User":
                users.add(s.name)
            elif (s.namespace or namespace) == namespace:
                accounts.add(f"{namespace}/{s.name}")
    return groups, users, accounts


def resource_word(api_version: str, kind: str) -> str:
    """The kubectl resource word for a kind (``ciliumnetworkpolicies.cilium.io``).

    Kinds outside ``gauntlet.rbac``'s table (a Grafana or Prometheus CRD it lacks) fall back to
    the lower-cased plural with the group, which is how every CRD in the wild is named."""
    try:
        ref, _ = resource_for_kind(api_version, kind)
    except UnknownKindError:
        group = api_version.rpartition("/")[0]
        ref = ResourceRef(group, kind.lower() + "s")
    return f"{ref.resource}.{ref.group}" if ref.group else ref.resource


def baseline_objects(bp: Blueprint, namespace: str) -> list[ObjectRef]:
    """Objects the blueprint labels as the tenant's platform-owned baseline, in load order."""
    out = []
    for (kind, ns, name), doc in bp.manifests.items():
        if ns != namespace:
            continue
        labels = (doc.get("metadata") or {}).get("labels") or {}
        if str(labels.get(BASELINE_LABEL, "")).lower() == "true":
            resource = resource_word(str(doc.get("apiVersion", "")), kind)
            out.append(ObjectRef(kind, ns, name, resource))
    return out
