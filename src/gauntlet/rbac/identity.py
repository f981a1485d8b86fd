"""Who is asking, as the authenticator would hand it to RBAC: a user name and groups.

Suites describe the asker as a ``Subject`` (User, Group or ServiceAccount); the API server's
authorizers only ever see ``user.Info``. The translation mirrors what the authenticators add:
every authenticated user is in ``system:authenticated``; a service account token authenticates
as ``system:serviceaccount:<ns>:<name>`` in ``system:serviceaccounts`` and
``system:serviceaccounts:<ns>``; the anonymous user is in ``system:unauthenticated``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gauntlet.blueprint import kube
from gauntlet.rbac._go import go_quote
from gauntlet.targets.base import Subject

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED",
    "MASTERS",
    "UNAUTHENTICATED",
    "UserInfo",
    "binding_subject_applies",
    "describe_binding_subject",
    "service_account_username",
    "user_info",
]

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
# The API server's privileged group: bound to cluster-admin, and exempt from escalation checks.
MASTERS = "system:masters"
_SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """What RBAC sees of a request's user (``user.Info`` without uid and extra)."""

    name: str
    groups: tuple[str, ...] = ()


def service_account_username(namespace: str, name: str) -> str:
    return f"{_SA_PREFIX}{namespace}:{name}"


def _dedup(groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(groups))


def user_info(subject: Subject | UserInfo) -> UserInfo:
    """The authenticated identity of ``subject``.

    A ``Group`` subject is a member of that group with no other identity: its user name is ""
    (no User binding can name it, the API validates that names are non-empty), its groups are
    that group, the subject's extra groups and ``system:authenticated``.
    """
    if isinstance(subject, UserInfo):
        return subject
    extra = tuple(subject.groups)
    if subject.kind == "User":
        everyone = UNAUTHENTICATED if subject.name == ANONYMOUS else AUTHENTICATED
        return UserInfo(subject.name, _dedup((*extra, everyone)))
    if subject.kind == "Group":
        authenticated = () if subject.name == UNAUTHENTICATED else (AUTHENTICATED,)
        return UserInfo("", _dedup((subject.name, *extra, *authenticated)))
    if subject.kind == "ServiceAccount":
        if not subject.namespace:
            raise ValueError(
                f"ServiceAccount subject {subject.name!r} needs a namespace "
                "(Subject(kind='ServiceAccount', name=..., namespace=...))"
            )
        sa_groups = ("system:serviceaccounts", f"system:serviceaccounts:{subject.namespace}")
        return UserInfo(
            service_account_username(subject.namespace, subject.name),
            _dedup((*sa_groups, *extra, AUTHENTICATED)),
        )
    raise ValueError(
        f"unknown subject kind {subject.kind!r}: use 'User', 'Group' or 'ServiceAccount'"
    )


def binding_subject_applies(
    user: UserInfo, subject: kube.Subject, *, binding_namespace: str
) -> bool:
    """Whether a binding's subject names ``user`` (``appliesToUser`` in rule.go).

    A ServiceAccount subject without a namespace means the binding's own namespace; in a
    ClusterRoleBinding (``binding_namespace`` "") it therefore names nobody. It is matched by
    user name, so a User subject spelled ``system:serviceaccount:<ns>:<name>`` names the same
    account.
    """
    if subject.kind == "User":
        return user.name == subject.name
    if subject.kind == "Group":
        return subject.name in user.groups
    namespace = subject.namespace or binding_namespace
    if not namespace:
        return False
    return user.name == service_account_username(namespace, subject.name)


def describe_binding_subject(subject: kube.Subject, *, binding_namespace: str) -> str:
    """The subject as the API server's allow reasons print it (``describeSubject``); upstream
    prints service accounts as ``name/namespace``, and so do we."""
    if subject.kind == "ServiceAccount":
        namespace = subject.namespace or binding_namespace
        return f"{subject.kind} {go_quote(subject.name + '/' + namespace)}"
    return f"{subject.kind} {go_quote(subject.name)}"
