"""The RBAC evaluator: kube-apiserver's answers, checked on small role sets and the blueprint.

Cases marked "docs" come from the Kubernetes RBAC documentation (Using RBAC Authorization:
referring to resources, aggregated ClusterRoles, privilege escalation prevention); the expected
messages are the API server's wording. Property tests tie coverage (the escalation check) to
``authorize``: if A covers B, every request B allows, A allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gauntlet.blueprint import Blueprint, kube, load_blueprint
from gauntlet.rbac import (
    KNOWN_RESOURCES,
    Authorizer,
    ResourceRef,
    UnknownKindError,
    UnknownResourceError,
    coverage,
    covers,
    forbidden_message,
    parse_resource,
    resource_for_kind,
    user_info,
)
from gauntlet.rbac.rules import (
    breakdown,
    compact_string,
    rule,
    rule_allows_path,
    rule_allows_resource,
)
from gauntlet.targets.base import Subject

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "platform"
SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)
RBAC = "rbac.authorization.k8s.io"


def authorizer(text: str, *, bootstrap: bool = False) -> Authorizer:
    """An Authorizer over the Roles and bindings of a multi-document YAML string."""
    roles: list[kube.Role] = []
    bindings: list[kube.RoleBinding] = []
    for doc in yaml.safe_load_all(text):
        if doc["kind"] in ("Role", "ClusterRole"):
            roles.append(kube.Role.model_validate(doc))
        else:
            bindings.append(kube.RoleBinding.model_validate(doc))
    bp = Blueprint(root=Path("."), roles=roles, role_bindings=bindings)
    return Authorizer.from_blueprint(bp, bootstrap=bootstrap)


def user(name: str, *groups: str) -> Subject:
    return Subject(kind="User", name=name, groups=groups)


def can(
    a: Authorizer, who: Subject, verb: str, resource: str, ns: str | None, name: str = ""
) -> bool:
    return a.authorize(who, verb=verb, resource=resource, namespace=ns, name=name).allowed


def binding_doc(
    name: str,
    role: str,
    *,
    ns: str | None = None,
    role_kind: str = "ClusterRole",
    to: tuple[str, str] = ("User", "someone"),
) -> dict[str, Any]:
    meta: dict[str, str] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding" if ns else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
        "subjects": [{"kind": to[0], "name": to[1]}],
    }


def role_doc(name: str, rules: list[dict[str, Any]], *, ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, str] = {"name": name}
    if ns:
        meta["namespace"] = ns
    kind = "Role" if ns else "ClusterRole"
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta, "rules": rules}


# --------------------------------------------------------------------------------------------
# resources.py
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pods", ResourceRef("", "pods")),
        ("pod", ResourceRef("", "pods")),
        ("po", ResourceRef("", "pods")),
        ("pods/log", ResourceRef("", "pods", "log")),
        ("deployments.apps", ResourceRef("apps", "deployments")),
        ("deploy", ResourceRef("apps", "deployments")),
        ("deployments.apps/scale", ResourceRef("apps", "deployments", "scale")),
        ("deployments.v1.apps", ResourceRef("apps", "deployments")),
        ("clusterroles.rbac.authorization.k8s.io", ResourceRef(RBAC, "clusterroles")),
        ("cnp", ResourceRef("cilium.io", "ciliumnetworkpolicies")),
        ("quota", ResourceRef("", "resourcequotas")),
        ("Secrets", ResourceRef("", "secrets")),
        ("widgets.example.com", ResourceRef("example.com", "widgets")),
    ],
)
def test_parse_resource_accepts_kubectl_forms(text: str, expected: ResourceRef) -> None:
    assert parse_resource(text) == expected


def test_parse_resource_refuses_unknown_bare_words_with_a_hint() -> None:
    with pytest.raises(UnknownResourceError, match=r"<resource>\.<group>"):
        parse_resource("widgets")
    with pytest.raises(ValueError, match="cannot parse"):
        parse_resource("pods/log/extra")


def test_every_known_resource_round_trips_through_its_kubectl_words() -> None:
    for info in KNOWN_RESOURCES:
        assert parse_resource(str(info.ref)) == info.ref
        for word in (info.resource, info.singular, *info.short_names):
            assert parse_resource(word).resource == info.resource, word
        assert resource_for_kind(info.api_version, info.kind) == (info.ref, info.namespaced)


def test_resource_for_kind() -> None:
    assert resource_for_kind("apps/v1", "Deployment") == (ResourceRef("apps", "deployments"), True)
    assert resource_for_kind("v1", "Namespace") == (ResourceRef("", "namespaces"), False)
    assert resource_for_kind("cilium.io/v2", "CiliumClusterwideNetworkPolicy")[1] is False
    # Gatekeeper constraints: resource is the kind lowercased, cluster-scoped.
    assert resource_for_kind("constraints.gatekeeper.sh/v1beta1", "K8sRequiredLabels") == (
        ResourceRef("constraints.gatekeeper.sh", "k8srequiredlabels"),
        False,
    )
    with pytest.raises(UnknownKindError, match='no matches for kind "Widget"'):
        resource_for_kind("example.com/v1", "Widget")


# --------------------------------------------------------------------------------------------
# Rule matching (evaluation_helpers.go), cases from the docs' "Referring to resources"
# --------------------------------------------------------------------------------------------

POD_READER = rule(["get", "list"], groups=[""], resources=["pods"])


def allows(r: kube.PolicyRule, verb: str, resource: str, name: str = "") -> bool:
    return rule_allows_resource(r, verb=verb, resource=parse_resource(resource), name=name)


def test_subresources_must_be_named() -> None:
    # docs: "pods" does not grant "pods/log"; a rule lists "pods/log" to read logs.
    assert allows(POD_READER, "get", "pods")
    assert not allows(POD_READER, "get", "pods/log")
    log_reader = rule(["get"], groups=[""], resources=["pods", "pods/log"])
    assert allows(log_reader, "get", "pods/log")
    assert not allows(log_reader, "get", "pods/exec")


def test_wildcards() -> None:
    everything = rule(["*"], groups=["*"], resources=["*"])
    assert allows(everything, "escalate", "clusterroles.rbac.authorization.k8s.io")
    assert allows(everything, "get", "pods/log")
    any_scale = rule(["update"], groups=["*"], resources=["*/scale"])
    assert allows(any_scale, "update", "deployments.apps/scale")
    assert allows(any_scale, "update", "statefulsets.apps/scale")
    assert not allows(any_scale, "update", "deployments.apps")
    assert not allows(any_scale, "update", "pods/status")
    # Rules without apiGroups match no resource at all.
    assert not allows(rule(["get"], resources=["pods"]), "get", "pods")
    # A verb must be listed; "get" does not imply "list".
    assert not allows(POD_READER, "watch", "pods")
    assert not allows(POD_READER, "get", "deployments.apps")


def test_resource_names_never_match_requests_without_a_name() -> None:
    # docs: "my-configmap" may be updated and read, but not listed, watched or created.
    r = rule(["update", "get"], groups=[""], resources=["configmaps"], names=["my-configmap"])
    assert allows(r, "get", "configmaps", "my-configmap")
    assert allows(r, "update", "configmaps", "my-configmap")
    assert not allows(r, "get", "configmaps", "other")
    assert not allows(r, "get", "configmaps")
    creator = rule(["create", "list"], groups=[""], resources=["configmaps"], names=["x"])
    assert not allows(creator, "create", "configmaps")
    assert not allows(creator, "list", "configmaps")


def test_non_resource_urls() -> None:
    # docs: nonResourceURLs ["/healthz", "/healthz/*"] — '*' is a trailing prefix wildcard.
    r = rule(["get", "post"], urls=["/healthz", "/healthz/*"])
    assert rule_allows_path(r, verb="get", path="/healthz")
    assert rule_allows_path(r, verb="post", path="/healthz/etcd")
    assert not rule_allows_path(r, verb="get", path="/healthzz")
    assert not rule_allows_path(r, verb="put", path="/healthz")
    assert rule_allows_path(rule(["get"], urls=["*"]), verb="get", path="/anything")
    assert rule_allows_path(rule(["get"], urls=["/api*"]), verb="get", path="/apis/apps")
    # A resource rule never matches a URL and the other way round.
    assert not rule_allows_path(POD_READER, verb="get", path="/api")
    assert not allows(rule(["*"], urls=["*"]), "get", "pods")


# --------------------------------------------------------------------------------------------
# Bindings, scope and identities
# --------------------------------------------------------------------------------------------

DOCS_SECRETS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "watch", "list"]
---
# docs: a RoleBinding to a ClusterRole grants its rules only in the binding's namespace.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-secrets, namespace: development}
subjects: [{kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
---
# docs: a ClusterRoleBinding grants them in every namespace.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: read-secrets-global}
subjects: [{kind: Group, name: manager, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "watch", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: default}
subjects: [{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
---
# The Role lives in "default": a RoleBinding elsewhere cannot reference it.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: other}
subjects: [{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
"""


def test_role_binding_grants_only_in_its_namespace() -> None:
    a = authorizer(DOCS_SECRETS)
    dave = user("dave")
    assert can(a, dave, "get", "secrets", "development", "s")
    assert not can(a, dave, "get", "secrets", "production", "s")
    assert not can(a, dave, "list", "secrets", None)
    decision = a.authorize(dave, verb="list", resource="secrets", namespace="development")
    assert decision.reason == (
        'RBAC: allowed by RoleBinding "read-secrets/development" of ClusterRole "secret-reader" '
        'to User "dave"'
    )


def test_cluster_role_binding_grants_everywhere() -> None:
    a = authorizer(DOCS_SECRETS)
    manager = user("alice", "manager")
    for ns in ("development", "production", None):
        assert can(a, manager, "list", "secrets", ns)
    assert a.authorize(manager, verb="get", resource="secrets", namespace="x").reason == (
        'RBAC: allowed by ClusterRoleBinding "read-secrets-global" of ClusterRole '
        '"secret-reader" to Group "manager"'
    )
    assert not can(a, manager, "delete", "secrets", "x", "s")


def test_role_is_looked_up_in_the_binding_namespace() -> None:
    a = authorizer(DOCS_SECRETS)
    jane = user("jane")
    assert can(a, jane, "list", "pods", "default")
    denied = a.authorize(jane, verb="list", resource="pods", namespace="other")
    assert not denied.allowed
    # The API server reports the dangling reference as the authorizer's reason.
    assert denied.reason == 'RBAC: role.rbac.authorization.k8s.io "pod-reader" not found'
    assert denied.message == (
        'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the '
        'namespace "other": RBAC: role.rbac.authorization.k8s.io "pod-reader" not found'
    )


def test_missing_cluster_role_grants_nothing() -> None:
    doc = yaml.safe_dump_all(
        [
            binding_doc("ghost", "ghost", to=("Group", "g")),
            binding_doc("ghost2", "ghost2", ns="ns", to=("Group", "g")),
        ]
    )
    a = authorizer(doc)
    denied = a.authorize(user("u", "g"), verb="get", resource="pods", namespace="ns", name="p")
    assert not denied.allowed and denied.status_code == 403
    assert denied.reason == (
        'RBAC: [clusterrole.rbac.authorization.k8s.io "ghost" not found, '
        'clusterrole.rbac.authorization.k8s.io "ghost2" not found]'
    )
    # Bindings that do not name the user are not looked at.
    assert a.authorize(user("v"), verb="get", resource="pods", namespace="ns").reason == ""


def test_service_account_identity() -> None:
    docs = [
        role_doc("reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        # In a RoleBinding, a ServiceAccount subject without namespace is the binding's own.
        binding_doc("a", "reader", ns="team", to=("ServiceAccount", "bot")),
        # Spelled as a User, the SA's user name matches too.
        binding_doc("b", "reader", ns="other", to=("User", "system:serviceaccount:team:bot")),
        binding_doc("c", "reader", ns="third", to=("Group", "system:serviceaccounts:team")),
        # In a ClusterRoleBinding a namespace-less ServiceAccount subject names nobody.
        binding_doc("d", "reader", to=("ServiceAccount", "bot")),
    ]
    a = authorizer(yaml.safe_dump_all(docs))
    bot = Subject(kind="ServiceAccount", name="bot", namespace="team")
    assert user_info(bot).name == "system:serviceaccount:team:bot"
    assert user_info(bot).groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:team",
        "system:authenticated",
    )
    for ns in ("team", "other", "third"):
        assert can(a, bot, "get", "pods", ns, "p"), ns
    assert not can(a, bot, "get", "pods", "fourth", "p")
    assert not can(
        a, Subject(kind="ServiceAccount", name="bot", namespace="x"), "get", "pods", "team"
    )
    assert a.authorize(bot, verb="get", resource="pods", namespace="team").reason.endswith(
        'to ServiceAccount "bot/team"'
    )
    with pytest.raises(ValueError, match="needs a namespace"):
        user_info(Subject(kind="ServiceAccount", name="bot"))


def test_group_subject_is_a_member_with_no_other_identity() -> None:
    info = user_info(Subject(kind="Group", name="devs"))
    assert info.name == "" and info.groups == ("devs", "system:authenticated")
    assert user_info(user("bob", "devs")).groups == ("devs", "system:authenticated")
    assert user_info(user("system:anonymous")).groups == ("system:unauthenticated",)
    with pytest.raises(ValueError, match="unknown subject kind"):
        user_info(Subject(kind="Robot", name="r2"))


def test_non_resource_urls_are_granted_by_cluster_role_bindings_only() -> None:
    urls = role_doc("health", [{"nonResourceURLs": ["/healthz", "/metrics"], "verbs": ["get"]}])
    docs = [urls, binding_doc("rb", "health", ns="ns", to=("User", "u"))]
    a = authorizer(yaml.safe_dump_all(docs))
    denied = a.authorize_path(user("u"), verb="get", path="/metrics")
    assert not denied.allowed
    assert denied.message == 'forbidden: User "u" cannot get path "/metrics"'
    b = authorizer(yaml.safe_dump_all([urls, binding_doc("crb", "health", to=("User", "u"))]))
    assert b.authorize_path(user("u"), verb="get", path="/metrics").allowed


# --------------------------------------------------------------------------------------------
# Aggregation and the bootstrap roles
# --------------------------------------------------------------------------------------------

DOCS_AGGREGATION = """
# docs: "monitoring" is filled from every ClusterRole labelled aggregate-to-monitoring.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules:
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]   # the controller overwrites these
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-endpoints
  labels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules:
- apiGroups: [""]
  resources: ["services", "endpointslices", "pods"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: nested
  labels: {tier: "gold"}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions: [{key: rbac.example.com/aggregate-to-monitoring, operator: Exists}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: top}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {tier: gold}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: mon}
subjects: [{kind: Group, name: mon}]
roleRef: {kind: ClusterRole, name: monitoring, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: top}
subjects: [{kind: Group, name: top}]
roleRef: {kind: ClusterRole, name: top, apiGroup: rbac.authorization.k8s.io}
"""


def test_aggregated_cluster_roles() -> None:
    a = authorizer(DOCS_AGGREGATION)
    mon = user("m", "mon")
    assert can(a, mon, "list", "services", "ns")
    assert can(a, mon, "watch", "pods", None)
    assert not can(a, mon, "get", "secrets", "ns", "s"), "aggregation replaces written rules"
    # Aggregation is transitive: top <- nested <- monitoring-endpoints.
    assert can(a, user("t", "top"), "get", "services", "ns", "e")
    # The docs' rule names endpointslices in the core group, where they are not served.
    assert not can(a, mon, "list", "endpointslices.discovery.k8s.io", "ns")
    assert a.cluster_role_rules("top") == a.cluster_role_rules("monitoring")


def test_bootstrap_user_facing_roles() -> None:
    docs = [
        binding_doc("v", "view", ns="ns", to=("User", "viewer")),
        binding_doc("e", "edit", ns="ns", to=("User", "editor")),
        binding_doc("a", "admin", ns="ns", to=("User", "admin")),
    ]
    a = authorizer(yaml.safe_dump_all(docs), bootstrap=True)
    viewer, editor, admin = user("viewer"), user("editor"), user("admin")
    assert can(a, viewer, "list", "pods", "ns")
    assert can(a, viewer, "get", "deployments.apps/scale", "ns", "d")
    assert not can(a, viewer, "get", "secrets", "ns", "s"), "view hides secrets"
    assert not can(a, viewer, "create", "pods", "ns")
    assert can(a, editor, "get", "secrets", "ns", "s")
    assert can(a, editor, "create", "pods/exec", "ns", "p")
    assert can(a, editor, "list", "pods", "ns"), "edit aggregates view"
    assert not can(a, editor, "create", "rolebindings.rbac.authorization.k8s.io", "ns")
    assert not can(a, editor, "update", "resourcequotas", "ns", "q")
    assert can(a, admin, "create", "rolebindings.rbac.authorization.k8s.io", "ns")
    assert can(a, admin, "delete", "pods", "ns", "p"), "admin aggregates edit"
    assert not can(a, admin, "create", "pods", "elsewhere")


def test_bootstrap_bindings() -> None:
    a = authorizer("", bootstrap=True)
    root = user("kubernetes-admin", "system:masters")
    assert can(a, root, "delete", "nodes", None, "n")
    assert a.authorize_path(root, verb="get", path="/metrics").allowed
    anybody = user("nobody")
    assert can(a, anybody, "create", "selfsubjectaccessreviews.authorization.k8s.io", None)
    assert a.authorize_path(anybody, verb="get", path="/apis/apps/v1").allowed
    assert not can(a, anybody, "list", "pods", "default")
    anonymous = user("system:anonymous")
    assert a.authorize_path(anonymous, verb="get", path="/healthz").allowed
    assert not a.authorize_path(anonymous, verb="get", path="/api").allowed


def test_blueprint_roles_override_bootstrap_ones() -> None:
    view = role_doc("view", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    docs = [view, binding_doc("v", "view", ns="ns", to=("User", "u"))]
    a = authorizer(yaml.safe_dump_all(docs), bootstrap=True)
    assert can(a, user("u"), "get", "secrets", "ns", "s")
    assert not can(a, user("u"), "get", "pods", "ns", "p")


# --------------------------------------------------------------------------------------------
# Requests, messages and escalation
# --------------------------------------------------------------------------------------------


def pod(name: str = "x", ns: str | None = None) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


def test_forbidden_message_wording() -> None:
    pods = ResourceRef("", "pods")
    assert forbidden_message("bob", verb="get", resource=pods, namespace="team-beta", name="x") == (
        'pods "x" is forbidden: User "bob" cannot get resource "pods" in API group "" in the '
        'namespace "team-beta"'
    )
    namespaces = ResourceRef("", "namespaces")
    assert forbidden_message("bob", verb="create", resource=namespaces, namespace=None) == (
        'namespaces is forbidden: User "bob" cannot create resource "namespaces" in API group "" '
        "at the cluster scope"
    )
    exec_ = ResourceRef("", "pods", "exec")
    assert forbidden_message("bob", verb="create", resource=exec_, namespace="n", name="p") == (
        'pods "p" is forbidden: User "bob" cannot create resource "pods/exec" in API group "" in '
        'the namespace "n"'
    )


def test_request_attributes_follow_the_url() -> None:
    a = authorizer("", bootstrap=True)
    bob = user("bob")
    # A create is a POST to the collection: no name in the message.
    create = a.authorize_request(bob, verb="create", manifest=pod(ns="team-beta"), namespace=None)
    assert create.status_code == 403
    assert create.message == (
        'pods is forbidden: User "bob" cannot create resource "pods" in API group "" in the '
        'namespace "team-beta"'
    )
    update = a.authorize_request(bob, verb="update", manifest=pod(), namespace="team-beta")
    assert update.message.startswith('pods "x" is forbidden: User "bob" cannot update')
    # kubectl sends a namespaced object without a namespace to "default".
    assert a.authorize_request(bob, verb="create", manifest=pod(), namespace=None).message.endswith(
        'in the namespace "default"'
    )
    mismatch = a.authorize_request(bob, verb="create", manifest=pod(ns="a"), namespace="b")
    assert mismatch.status_code == 400 and "does not match" in mismatch.message
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-beta"}}
    assert a.authorize_request(bob, verb="create", manifest=ns, namespace="x").message == (
        'namespaces is forbidden: User "bob" cannot create resource "namespaces" in API group "" '
        "at the cluster scope"
    )


def test_reading_a_namespace_is_a_request_in_that_namespace() -> None:
    a = authorizer(
        yaml.safe_dump_all([binding_doc("v", "view", ns="ns", to=("User", "u"))]),
        bootstrap=True,
    )
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    assert a.authorize_request(user("u"), verb="get", manifest=ns, namespace=None).allowed
    other = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    assert not a.authorize_request(user("u"), verb="get", manifest=other, namespace=None).allowed


NS_ADMIN = yaml.safe_dump_all(
    [
        binding_doc("a", "admin", ns="ns", to=("User", "alice")),
        binding_doc("ghost", "ghost", ns="haunted", role_kind="Role", to=("User", "alice")),
    ]
)


def rb(name: str, role: str, *, ns: str = "ns", role_kind: str = "ClusterRole") -> dict[str, Any]:
    return binding_doc(name, role, ns=ns, role_kind=role_kind, to=("User", "someone"))


def test_escalation_binding_requires_holding_the_role() -> None:
    # docs: a namespace admin may grant edit/view/admin in its namespace, not cluster-admin.
    a = authorizer(NS_ADMIN, bootstrap=True)
    alice = user("alice", "team")
    for role in ("view", "edit", "admin"):
        decision = a.authorize_request(alice, verb="create", manifest=rb("x", role), namespace=None)
        assert decision.allowed, (role, decision.message)
        assert "holds every permission" in decision.reason
    denied = a.authorize_request(
        alice, verb="create", manifest=rb("x", "cluster-admin"), namespace=None
    )
    assert denied.status_code == 403
    assert denied.message == (
        'rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "alice" '
        '(groups=["team" "system:authenticated"]) is attempting to grant RBAC permissions not '
        "currently held:\n"
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n'
        '{NonResourceURLs:["*"], Verbs:["*"]}'
    )
    # Holding admin in "ns" says nothing about "other".
    assert not a.check_escalation(
        alice, verb="create", manifest=rb("x", "view", ns="other"), namespace=None
    ).allowed
    # A binding to a role that does not exist is a 404 from the registry (plural resource).
    ghost = a.authorize_request(alice, verb="create", manifest=rb("x", "ghost"), namespace=None)
    assert (ghost.status_code, ghost.message) == (
        404,
        'clusterroles.rbac.authorization.k8s.io "ghost" not found',
    )


def test_escalation_message_lists_missing_rules_compacted() -> None:
    a = authorizer(NS_ADMIN, bootstrap=True)
    role = role_doc(
        "r",
        [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "escalate"]},
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["get"],
                "resourceNames": ["a"],
            },
        ],
        ns="ns",
    )
    denied = a.authorize_request(user("alice"), verb="create", manifest=role, namespace=None)
    assert denied.message == (
        'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently '
        "held:\n"
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["escalate"]}'
        # alice's binding in "haunted" is not in scope; a miss in scope would be appended.
    )
    in_haunted = role_doc(
        "r", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], ns="haunted"
    )
    haunted = a.check_escalation(user("alice"), verb="create", manifest=in_haunted, namespace=None)
    assert haunted.message.endswith(
        '; resolution errors: [roles.rbac.authorization.k8s.io "ghost" not found]'
    )


ESCALATE_AND_BIND = """
# docs: "role-grantor" may bind admin, edit and view, and create bindings, nothing else.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: role-grantor}
rules:
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["rolebindings"]
  verbs: ["create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["clusterroles"]
  verbs: ["bind"]
  resourceNames: ["admin", "edit", "view"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: role-grantor-binding, namespace: user-1-namespace}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: role-grantor}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: user-1}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: role-writer}
rules:
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "clusterroles"]
  verbs: ["create", "update"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles"]
  verbs: ["escalate"]
  resourceNames: ["named"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: role-writer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: role-writer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: writer}]
"""


def test_bind_verb_allows_binding_without_holding() -> None:
    a = authorizer(ESCALATE_AND_BIND, bootstrap=True)
    user1 = user("user-1")
    ns = "user-1-namespace"
    granted = a.authorize_request(
        user1, verb="create", manifest=rb("x", "admin", ns=ns), namespace=None
    )
    assert granted.allowed and "bind RBAC: allowed by RoleBinding" in granted.reason
    refused = a.authorize_request(
        user1, verb="create", manifest=rb("x", "cluster-admin", ns=ns), namespace=None
    )
    assert refused.status_code == 403 and "not currently held" in refused.message
    # bind granted in one namespace does not allow a ClusterRoleBinding.
    crb = binding_doc("x", "view", to=("User", "someone"))
    assert not a.check_escalation(user1, verb="create", manifest=crb, namespace=None).allowed


def test_escalate_verb_and_aggregation_rule() -> None:
    a = authorizer(ESCALATE_AND_BIND, bootstrap=True)
    writer = user("writer")
    wide = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    # escalate is limited to the name "named": the request's name counts, and a create has none.
    create = a.authorize_request(
        writer, verb="create", manifest=role_doc("named", wide, ns="n"), namespace=None
    )
    assert not create.allowed and "not currently held" in create.message
    update = a.authorize_request(
        writer, verb="update", manifest=role_doc("named", wide, ns="n"), namespace=None
    )
    assert update.allowed and "escalate" in update.reason
    # Holding the rules is enough without escalate: writer holds create/update on roles.
    mine = [{"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["create"]}]
    assert a.authorize_request(
        writer, verb="create", manifest=role_doc("r", mine, ns="n"), namespace=None
    ).allowed
    # An aggregationRule needs '*' on everything.
    aggregated = role_doc("agg", [])
    aggregated["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}
    refused = a.authorize_request(writer, verb="create", manifest=aggregated, namespace=None)
    assert refused.message == (
        'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin '
        "privileges to use the aggregationRule"
    )
    root = user("root", "system:masters")
    assert a.authorize_request(root, verb="create", manifest=aggregated, namespace=None).allowed


# --------------------------------------------------------------------------------------------
# Coverage (policy_comparator.go) and its properties
# --------------------------------------------------------------------------------------------


def test_coverage_cases() -> None:
    star = rule(["*"], groups=["*"], resources=["*"])
    assert covers([star], [rule(["get"], groups=["apps"], resources=["deployments/scale"])])
    assert not covers(
        [rule(["get", "list"], groups=[""], resources=["pods"])],
        [rule(["*"], groups=[""], resources=["pods"])],
    )
    assert covers(
        [rule(["get"], groups=["apps"], resources=["*/scale"])],
        [rule(["get"], groups=["apps"], resources=["deployments/scale"])],
    )
    assert not covers(
        [rule(["get"], groups=["apps"], resources=["deployments"])],
        [rule(["get"], groups=["apps"], resources=["deployments/scale"])],
    )
    named = rule(["get"], groups=[""], resources=["secrets"], names=["a"])
    assert covers([rule(["get"], groups=[""], resources=["secrets"])], [named])
    assert not covers([named], [rule(["get"], groups=[""], resources=["secrets"])])
    assert covers([rule(["get"], urls=["/api/*"])], [rule(["get"], urls=["/api/v1", "/api/*"])])
    assert not covers([rule(["get"], urls=["/api/*"])], [rule(["get"], urls=["*"])])
    missing = coverage([], [rule(["get", "list"], groups=[""], resources=["pods"])]).missing
    assert [compact_string(m) for m in missing] == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
        '{APIGroups:[""], Resources:["pods"], Verbs:["list"]}',
    ]


VERBS = ("get", "list", "create", "*")
GROUPS = ("", "apps", "*")
RESOURCES = ("pods", "pods/log", "deployments", "deployments/scale", "*/scale", "*")
NAMES: tuple[tuple[str, ...], ...] = ((), ("a",), ("a", "b"))
URLS = ("/healthz", "/api", "/api/*", "/ap*", "*")

resource_rules = st.builds(
    lambda v, g, r, n: rule(v, groups=g, resources=r, names=n),
    st.lists(st.sampled_from(VERBS), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2, unique=True),
    st.sampled_from(NAMES),
)
url_rules = st.builds(
    lambda v, u: rule(v, urls=u),
    st.lists(st.sampled_from(VERBS), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from(URLS), min_size=1, max_size=2, unique=True),
)
rule_sets = st.lists(st.one_of(resource_rules, url_rules), max_size=4)

REQUESTS = [
    (verb, ResourceRef(group, res, sub), name)
    for verb in ("get", "list", "create", "delete")
    for group in ("", "apps", "batch")
    for res, sub in (("pods", ""), ("pods", "log"), ("deployments", ""), ("deployments", "scale"))
    for name in ("", "a", "c")
]
PATHS = ("/healthz", "/api", "/api/v1", "/apis", "/x")


def allowed_requests(rules: Sequence[kube.PolicyRule]) -> set[tuple[str, str, str]]:
    granted = {
        (verb, str(ref), name)
        for verb, ref, name in REQUESTS
        if any(rule_allows_resource(r, verb=verb, resource=ref, name=name) for r in rules)
    }
    return granted | {
        (verb, path, "url")
        for verb in ("get", "post")
        for path in PATHS
        if any(rule_allows_path(r, verb=verb, path=path) for r in rules)
    }


@SETTINGS
@given(rule_sets, rule_sets)
def test_coverage_implies_every_allowed_request_is_allowed(
    owner: list[kube.PolicyRule], servant: list[kube.PolicyRule]
) -> None:
    if covers(owner, servant):
        assert allowed_requests(servant) <= allowed_requests(owner)


def _witness(point: kube.PolicyRule) -> tuple[str, ResourceRef | str, str] | None:
    """The request a missing point stands for, if it has no wildcard in it."""
    (verb,) = point.verbs
    if verb == "*":
        return None
    if point.non_resource_urls:
        (url,) = point.non_resource_urls
        return None if url.endswith("*") else (verb, url, "")
    (group,), (resource,) = point.api_groups, point.resources
    if "*" in (group, resource) or resource.startswith("*/"):
        return None
    res, _, sub = resource.partition("/")
    return (
        verb,
        ResourceRef(group, res, sub),
        point.resource_names[0] if point.resource_names else "",
    )


def _allows(
    rules: Sequence[kube.PolicyRule], verb: str, target: ResourceRef | str, name: str
) -> bool:
    if isinstance(target, str):
        return any(rule_allows_path(r, verb=verb, path=target) for r in rules)
    return any(rule_allows_resource(r, verb=verb, resource=target, name=name) for r in rules)


@SETTINGS
@given(rule_sets, rule_sets)
def test_every_concrete_missing_point_is_a_request_only_the_servant_allows(
    owner: list[kube.PolicyRule], servant: list[kube.PolicyRule]
) -> None:
    for point in coverage(owner, servant).missing:
        witness = _witness(point)
        if witness is not None:
            assert _allows(servant, *witness) and not _allows(owner, *witness), point


@SETTINGS
@given(rule_sets)
def test_breakdown_preserves_what_rules_allow(rules: list[kube.PolicyRule]) -> None:
    points = [p for r in rules for p in breakdown(r)]
    assert allowed_requests(points) == allowed_requests(rules)


@SETTINGS
@given(rule_sets, rule_sets)
def test_coverage_of_a_union_and_reflexivity(
    a: list[kube.PolicyRule], b: list[kube.PolicyRule]
) -> None:
    assert covers(a, a)
    assert covers(a + b, b)
    missing = coverage(a, b).missing
    # Whatever is missing is exactly what adding it back fixes.
    assert covers([*a, *missing], b)


@SETTINGS
@given(rule_sets, rule_sets, rule_sets)
def test_coverage_is_transitive(
    a: list[kube.PolicyRule], b: list[kube.PolicyRule], c: list[kube.PolicyRule]
) -> None:
    if covers(a, b) and covers(b, c):
        assert covers(a, c)


@SETTINGS
@given(rule_sets, st.sampled_from(REQUESTS))
def test_authorizer_agrees_with_its_rules(rules: list[kube.PolicyRule], request: Any) -> None:
    verb, ref, name = request
    role = kube.Role.model_validate(role_doc("r", [r.model_dump(by_alias=True) for r in rules]))
    binding = kube.RoleBinding.model_validate(binding_doc("b", "r", ns="ns", to=("Group", "g")))
    a = Authorizer([role], [binding])
    expected = any(rule_allows_resource(r, verb=verb, resource=ref, name=name) for r in rules)
    who = Subject(kind="Group", name="g")
    assert a.authorize(who, verb=verb, resource=ref, namespace="ns", name=name).allowed == expected
    assert not a.authorize(who, verb=verb, resource=ref, namespace="other", name=name).allowed


@SETTINGS
@given(
    st.sampled_from(["", "apps", "example.com", "rbac.authorization.k8s.io"]),
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    st.sampled_from(["", "log", "scale", "status"]),
)
def test_resource_ref_round_trips_when_qualified(group: str, resource: str, sub: str) -> None:
    text = f"{resource}.{group}/{sub}" if sub else f"{resource}.{group}"
    parsed = parse_resource(text)
    assert (parsed.group, parsed.subresource) == (group, sub)


# --------------------------------------------------------------------------------------------
# The reference blueprint
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform() -> Authorizer:
    return Authorizer.from_blueprint(load_blueprint(FIXTURE))


DEV = Subject(kind="Group", name="team-alpha-devs")
BOB = user("bob", "team-alpha-devs")
DEPLOYER = Subject(kind="ServiceAccount", name="team-alpha-deployer", namespace="team-alpha")


@pytest.mark.parametrize("who", [DEV, BOB, DEPLOYER], ids=["group", "user", "deployer"])
def test_platform_tenant_rights(platform: Authorizer, who: Subject) -> None:
    assert can(platform, who, "create", "deployments.apps", "team-alpha")
    assert can(platform, who, "get", "secrets", "team-alpha", "db")
    assert can(platform, who, "update", "deployments.apps/scale", "team-alpha", "web")
    assert not can(platform, who, "get", "secrets", "team-beta", "db")
    assert not can(platform, who, "create", "namespaces", None)
    assert not can(platform, who, "create", "clusterroles.rbac.authorization.k8s.io", None)
    assert not can(platform, who, "delete", "ciliumnetworkpolicies.cilium.io", "team-alpha", "p")
    assert not can(platform, who, "delete", "resourcequotas", "team-alpha", "q")
    assert not can(platform, who, "create", "pods/exec", "team-alpha", "p")
    assert not can(platform, who, "create", "rolebindings.rbac.authorization.k8s.io", "team-alpha")


def test_platform_tenant_cannot_grant_cluster_admin(platform: Authorizer) -> None:
    binding = binding_doc("x", "cluster-admin", ns="team-alpha", to=("User", "bob"))
    # RBAC refuses the create itself: tenant-admin only reads rolebindings ...
    denied = platform.authorize_request(BOB, verb="create", manifest=binding, namespace=None)
    assert denied.message == (
        'rolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource '
        '"rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "team-alpha"'
    )
    # ... and the registry would refuse it as an escalation anyway.
    escalation = platform.check_escalation(BOB, verb="create", manifest=binding, namespace=None)
    assert escalation.message.startswith(
        'rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "bob" '
        '(groups=["team-alpha-devs" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
    )
    # Re-binding their own role in their namespace is no escalation.
    own = binding_doc("y", "tenant-admin", ns="team-alpha", to=("User", "bob"))
    assert platform.check_escalation(BOB, verb="create", manifest=own, namespace=None).allowed


def test_platform_sre_reads_everywhere_but_secrets(platform: Authorizer) -> None:
    sre = Subject(kind="Group", name="platform-sre")
    assert can(platform, sre, "list", "pods", None)
    for ns in ("team-alpha", "team-beta", "team-gamma", "kube-system"):
        assert can(platform, sre, "list", "pods", ns)
        assert not can(platform, sre, "get", "secrets", ns, "s")
    assert not can(platform, sre, "delete", "pods", "team-alpha", "p")


def test_platform_viewers_are_scoped(platform: Authorizer) -> None:
    viewer = Subject(kind="Group", name="team-alpha-viewers")
    assert can(platform, viewer, "get", "pods/log", "team-alpha", "p")
    assert not can(platform, viewer, "get", "secrets", "team-alpha", "s")
    assert not can(platform, viewer, "get", "pods", "team-beta", "p")
