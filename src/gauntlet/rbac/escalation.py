"""Write requests: the attributes the API server derives from them, and RBAC escalation checks.

Authorization of a write runs before admission, on attributes taken from the URL: a create is
a POST to the collection and carries no name; ``/api/v1/namespaces/<x>`` is a request *in*
namespace ``x`` (which is why the ``view`` role's read on ``namespaces`` lets a tenant read its
own Namespace). kubectl sends a namespaced object without a namespace to ``default``.

Then the RBAC registry (``pkg/registry/rbac/*/policybased/storage.go``) refuses to store a role
or binding that would grant more than its author holds, unless the author is in
``system:masters``:

* a Role/ClusterRole is accepted if the author may ``escalate`` it (the request's name, so
  ``resourceNames`` only help updates) or already holds every rule it grants, in its
  namespace; an ``aggregationRule`` additionally needs ``*`` on everything;
* a RoleBinding/ClusterRoleBinding is accepted if the author may ``bind`` the referenced role
  (by name, in the binding's namespace; cluster-wide for a ClusterRoleBinding) or holds every
  rule of that role there. A reference to a missing role is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gauntlet.blueprint import kube
from gauntlet.rbac._go import go_quote
from gauntlet.rbac.decision import Decision, escalation_message, not_found_message
from gauntlet.rbac.identity import MASTERS, UserInfo
from gauntlet.rbac.resources import ResourceRef, resource_for_kind
from gauntlet.rbac.rules import coverage, rule

if TYPE_CHECKING:
    from gauntlet.rbac.authorizer import Authorizer

__all__ = ["BadRequestError", "RequestAttributes", "escalation_check", "request_attributes"]

RBAC_GROUP = "rbac.authorization.k8s.io"
# Requests to a collection: the URL names no object.
_COLLECTION_VERBS = frozenset({"create", "list", "watch", "deletecollection"})
# Verbs that store an object, and so pass through the registry's escalation check.
_STORING_VERBS = frozenset({"create", "update", "patch"})
# What an aggregationRule requires its author to hold (clusterrole/policybased/storage.go).
_FULL_AUTHORITY = (rule(["*"], groups=["*"], resources=["*"]), rule(["*"], urls=["*"]))


class BadRequestError(ValueError):
    """A request the API server would refuse as sent (HTTP 400); the message is its wording."""


@dataclass(frozen=True)
class RequestAttributes:
    """What the authorizers see of a write: verb, resource, namespace and the URL's name;
    ``object_name`` is the manifest's name, which the registry's errors quote."""

    verb: str
    resource: ResourceRef
    namespace: str | None
    name: str
    object_name: str


def _meta(manifest: Mapping[str, Any]) -> tuple[str, str, str, str | None]:
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ValueError("a manifest needs string 'apiVersion' and 'kind' fields")
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name") or ""
    namespace = metadata.get("namespace") or None
    return api_version, kind, str(name), None if namespace is None else str(namespace)


def request_attributes(
    verb: str, manifest: Mapping[str, Any], *, namespace: str | None
) -> RequestAttributes:
    """The attributes of writing ``manifest`` with ``verb`` to ``namespace`` (None: the
    manifest's, else ``default``); raises ``BadRequestError`` when the two namespaces differ."""
    api_version, kind, object_name, object_namespace = _meta(manifest)
    ref, namespaced = resource_for_kind(api_version, kind)
    name = "" if verb in _COLLECTION_VERBS else object_name
    if namespaced:
        if namespace and object_namespace and namespace != object_namespace:
            raise BadRequestError(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        request_namespace: str | None = namespace or object_namespace or "default"
    elif ref == ResourceRef("", "namespaces") and name:
        request_namespace = name
    else:
        # The server ignores a namespace on a cluster-scoped object, and so does kubectl's -n.
        request_namespace = None
    return RequestAttributes(verb, ref, request_namespace, name, object_name)


def escalation_check(
    authorizer: Authorizer, user: UserInfo, attrs: RequestAttributes, manifest: Mapping[str, Any]
) -> Decision | None:
    """The registry's check of storing ``manifest``; None when it is not a request the RBAC
    registry checks (another kind, or a verb that stores nothing)."""
    if attrs.verb not in _STORING_VERBS or attrs.resource.group != RBAC_GROUP:
        return None
    if MASTERS in user.groups:
        return Decision(True, f"escalation check skipped for a member of {MASTERS}")
    try:
        if attrs.resource.resource in ("roles", "clusterroles"):
            return _role_escalation(authorizer, user, attrs, kube.Role.model_validate(manifest))
        if attrs.resource.resource in ("rolebindings", "clusterrolebindings"):
            binding = kube.RoleBinding.model_validate(manifest)
            return _binding_escalation(authorizer, user, attrs, binding)
    except ValidationError as exc:
        raise ValueError(f"not a valid {attrs.resource} manifest: {exc}") from exc
    return None


def _missing_held(
    authorizer: Authorizer,
    user: UserInfo,
    attrs: RequestAttributes,
    granted: tuple[kube.PolicyRule, ...],
) -> Decision | None:
    """A 403 if ``user`` does not hold every rule in ``granted`` in the request's namespace."""
    owner = authorizer.rules_for(user, namespace=attrs.namespace)
    result = coverage(owner.rules, granted)
    if result.complete:
        return None
    message = escalation_message(
        user.name,
        user.groups,
        resource=attrs.resource,
        name=attrs.object_name,
        missing=result.missing,
        resolution_errors=[m.error(from_cache=False) for m in owner.missing],
    )
    return Decision(False, "", message, 403)


def _holds_everything(authorizer: Authorizer, user: UserInfo) -> bool:
    return coverage(authorizer.rules_for(user, namespace=None).rules, _FULL_AUTHORITY).complete


def _role_escalation(
    authorizer: Authorizer, user: UserInfo, attrs: RequestAttributes, role: kube.Role
) -> Decision:
    escalate = authorizer.authorize(
        user, verb="escalate", resource=attrs.resource, namespace=attrs.namespace, name=attrs.name
    )
    if escalate.allowed:
        return Decision(True, f"escalate {escalate.reason}")
    denied = _missing_held(authorizer, user, attrs, role.rules)
    if denied is not None:
        return denied
    aggregation = role.aggregation_rule
    aggregates = bool(aggregation and aggregation.cluster_role_selectors)
    if aggregates and not _holds_everything(authorizer, user):
        text = "must have cluster-admin privileges to use the aggregationRule"
        prefix = f"{attrs.resource.resource}.{RBAC_GROUP} {go_quote(attrs.object_name)}"
        return Decision(False, "", f"{prefix} is forbidden: {text}", 403)
    return Decision(True, f"the user holds every permission {role.kind} grants")


def _binding_escalation(
    authorizer: Authorizer, user: UserInfo, attrs: RequestAttributes, binding: kube.RoleBinding
) -> Decision:
    ref = binding.role_ref
    role_resource = "clusterroles" if ref.kind == "ClusterRole" else "roles"
    bind = authorizer.authorize(
        user,
        verb="bind",
        resource=ResourceRef(ref.api_group, role_resource),
        namespace=attrs.namespace,
        name=ref.name,
    )
    if bind.allowed:
        return Decision(True, f"bind {bind.reason}")
    granted = authorizer.role_ref_rules(ref, namespace=attrs.namespace)
    if granted is None:
        return Decision(False, "", not_found_message(ref.kind, ref.name, from_cache=False), 404)
    denied = _missing_held(authorizer, user, attrs, granted)
    if denied is not None:
        return denied
    return Decision(True, f"the user holds every permission of {ref.kind} {ref.name!r}")
