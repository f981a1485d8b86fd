"""``can_i`` on a cluster: one SubjectAccessReview per question.

A SubjectAccessReview (``POST /apis/authorization.k8s.io/v1/subjectaccessreviews``) asks the
API server's authorizers (RBAC, and whatever else the cluster chains: Node, webhooks) about any
user, without impersonation rights. The review names the user *as authenticated*, so the
identity is built the way the authenticators would build it (``gauntlet.rbac.user_info``): a
service account is ``system:serviceaccount:<ns>:<name>`` in ``system:serviceaccounts``,
``system:serviceaccounts:<ns>`` and ``system:authenticated``; every user is in
``system:authenticated``. The resource is written as for kubectl (``pods/log``,
``deployments.apps``) and split into group/resource/subresource with the sandbox's parser; a bare
word the table does not know is looked up in discovery (names, singular names, short names),
like kubectl's RESTMapper does.
"""

from __future__ import annotations

from typing import Any

from gauntlet.rbac import ResourceRef, UnknownResourceError, parse_resource, user_info
from gauntlet.targets.base import Subject, TargetError
from gauntlet.targets.kubernetes.client import KubeApiError, KubeClient

__all__ = ["SAR_PATH", "can_i", "resolve_resource", "review_body"]

SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def resolve_resource(client: KubeClient, text: str) -> ResourceRef:
    """kubectl's resource word as group/resource/subresource; unknown bare words come from
    discovery (core group first, as kubectl prefers it)."""
    try:
        return parse_resource(text)
    except UnknownResourceError as exc:
        word, _, subresource = text.strip().lower().partition("/")
        served = sorted(client.served_resources(), key=lambda r: r.group != "")
        for res in served:
            if word in (res.plural, res.singular, *res.short_names):
                return ResourceRef(res.group, res.plural, subresource)
        raise TargetError(f"{exc} (the cluster's discovery does not know it either)") from None


def review_body(
    subject: Subject, verb: str, ref: ResourceRef, *, namespace: str | None, name: str = ""
) -> dict[str, Any]:
    """The SubjectAccessReview for one question (empty fields left out, as kubectl does)."""
    who = user_info(subject)
    attributes: dict[str, Any] = {"verb": verb, "group": ref.group, "resource": ref.resource}
    if namespace:
        attributes["namespace"] = namespace
    if ref.subresource:
        attributes["subresource"] = ref.subresource
    if name:
        attributes["name"] = name
    spec: dict[str, Any] = {"resourceAttributes": attributes}
    if who.name:
        spec["user"] = who.name
    if who.groups:
        spec["groups"] = list(who.groups)
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


def can_i(
    client: KubeClient,
    subject: Subject,
    verb: str,
    resource: str,
    *,
    namespace: str | None,
    name: str = "",
) -> bool:
    """Whether the authorizers allow it. An explicit ``denied`` (a webhook authorizer's hard
    no) or a missing ``allowed`` (no authorizer had an opinion) is no."""
    if not verb:
        raise ValueError("can_i needs a verb")
    try:
        body = review_body(
            subject, verb, resolve_resource(client, resource), namespace=namespace, name=name
        )
    except ValueError as exc:  # a ServiceAccount without namespace, an unknown subject kind
        raise TargetError(str(exc)) from None
    resp = client.request("POST", SAR_PATH, body=body)
    if not resp.ok:
        raise KubeApiError.from_response(resp, doing="SubjectAccessReview")
    status = resp.body.get("status")
    if not isinstance(status, dict):
        raise TargetError(f"SubjectAccessReview answered without a status: {resp.body}")
    return bool(status.get("allowed")) and not status.get("denied")
