"""An authorization decision, and the API server's exact wording when it says no.

Suites compare what the sandbox answers with what a real cluster answers, so denials are
rendered character for character like kube-apiserver:

* the authorization filter (``endpoints/handlers/responsewriters/errors.go``, ``Forbidden``)::

    pods "x" is forbidden: User "bob" cannot get resource "pods" in API group "" in the
    namespace "team-beta"

  The object name is the one in the URL, so a ``create`` (a POST to the collection) has none
  and reads ``pods is forbidden: ...``. A non-empty authorizer reason (RBAC reports bindings
  whose role is missing) is appended after a colon.
* the RBAC registry's escalation check (``ConfirmNoEscalation`` in ``registry/rbac/validation``)::

    rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "bob" (groups=["devs"
    "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
    {APIGroups:["*"], Resources:["*"], Verbs:["*"]}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gauntlet.blueprint.kube import PolicyRule
from gauntlet.rbac._go import aggregate_error, go_quote, go_quote_list
from gauntlet.rbac.resources import ResourceRef
from gauntlet.rbac.rules import compact, compact_string

__all__ = [
    "Decision",
    "escalation_message",
    "forbidden_message",
    "forbidden_path_message",
    "not_found_message",
]


@dataclass(frozen=True)
class Decision:
    """The answer to an authorization question.

    ``reason`` says why, as the API server's audit annotation would (``RBAC: allowed by
    RoleBinding "x/ns" of ClusterRole "y" to Group "z"``); on a denial it is the authorizer's
    reason, usually empty. ``message`` is what the client would be told ("" when allowed) and
    ``status_code`` the HTTP status it would come with (403 forbidden, 404 for a binding to a
    role that does not exist, 400 for a request the server would not accept as sent).
    """

    allowed: bool
    reason: str = ""
    message: str = ""
    status_code: int = 200


# The API server escapes these in the forbidden text so an error never reads as HTML.
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _qualified(ref: ResourceRef) -> str:
    return f"{ref.resource}.{ref.group}" if ref.group else ref.resource


def _status_prefix(ref: ResourceRef, name: str) -> str:
    # apierrors.NewForbidden: the group-qualified resource without the subresource.
    return f"{_qualified(ref)} {go_quote(name)}" if name else _qualified(ref)


def forbidden_message(
    user_name: str,
    *,
    verb: str,
    resource: ResourceRef,
    namespace: str | None,
    name: str = "",
    reason: str = "",
) -> str:
    """The 403 text of a resource request the authorizers did not allow."""
    scope = f"in the namespace {go_quote(namespace)}" if namespace else "at the cluster scope"
    text = (
        f"User {go_quote(user_name)} cannot {verb} resource {go_quote(resource.combined)} "
        f"in API group {go_quote(resource.group)} {scope}"
    ).translate(_HTML)
    if reason:
        text = f"{text}: {reason}"
    return f"{_status_prefix(resource, name)} is forbidden: {text}"


def forbidden_path_message(user_name: str, *, verb: str, path: str, reason: str = "") -> str:
    """The 403 text of a non-resource request (``/metrics``) the authorizers did not allow."""
    text = f"User {go_quote(user_name)} cannot {verb} path {go_quote(path)}".translate(_HTML)
    if reason:
        text = f"{text}: {reason}"
    return f"forbidden: {text}"


def not_found_message(role_kind: str, name: str, *, from_cache: bool) -> str:
    """The error for a missing Role/ClusterRole.

    The authorizer reads roles from informer listers, whose NotFound names the singular
    (``clusterrole.rbac.authorization.k8s.io "x" not found``); the registry's escalation check
    reads storage, whose NotFound names the plural resource.
    """
    resource = role_kind.lower() if from_cache else f"{role_kind.lower()}s"
    return f"{resource}.rbac.authorization.k8s.io {go_quote(name)} not found"


def escalation_message(
    user_name: str,
    groups: Sequence[str],
    *,
    resource: ResourceRef,
    name: str,
    missing: Iterable[PolicyRule],
    resolution_errors: Sequence[str] = (),
) -> str:
    """The 403 text of a Role or binding that would grant what its author does not hold."""
    held = sorted({compact_string(r) for r in compact(missing)})
    text = (
        f"user {go_quote(user_name)} (groups={go_quote_list(groups)}) is attempting to grant "
        "RBAC permissions not currently held:\n" + "\n".join(held)
    )
    if resolution_errors:
        # fmt's %v of a one-element []error holding the aggregate.
        text += f"; resolution errors: [{aggregate_error(resolution_errors)}]"
    return f"{_status_prefix(resource, name)} is forbidden: {text}"
