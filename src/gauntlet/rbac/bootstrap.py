"""The default ClusterRoles and ClusterRoleBindings every cluster has, as far as tenants care.

kube-apiserver reconciles these at start-up (``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``).
Transcribed from the upstream rendering of that policy,
``bootstrappolicy/testdata/cluster-roles.yaml`` at kubernetes/kubernetes commit 025f2834a128
(the policy of Kubernetes 1.28 and later: ``system:basic-user`` grants ``selfsubjectreviews``,
``edit`` no longer writes ``endpoints`` since the CVE-2021-25740 fix). Only the roles that
matter to a namespace-as-a-service tenant are kept: ``cluster-admin``, the user-facing
``admin``/``edit``/``view`` (empty, filled by aggregation from ``system:aggregate-to-*``) and
the roles every authenticated (or anonymous) caller holds. Controller and node roles are left
out: no tenant subject is bound to them.

The bindings are the upstream defaults since Kubernetes 1.14, when ``system:discovery`` and
``system:basic-user`` stopped being granted to ``system:unauthenticated``.
"""

from __future__ import annotations

from gauntlet.blueprint.kube import (
    AggregationRule,
    ObjectMeta,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from gauntlet.blueprint.selectors import LabelSelector
from gauntlet.rbac.identity import AUTHENTICATED, MASTERS, UNAUTHENTICATED
from gauntlet.rbac.rules import rule

__all__ = ["KUBERNETES_SOURCE", "bootstrap_bindings", "bootstrap_roles"]

KUBERNETES_SOURCE = "kubernetes/kubernetes@025f2834a128 bootstrappolicy (Kubernetes >= 1.28)"

RBAC_GROUP = "rbac.authorization.k8s.io"
_READ = ("get", "list", "watch")
_WRITE = ("create", "delete", "deletecollection", "patch", "update")
_READ_WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"


def _cluster_role(
    name: str,
    rules: tuple[PolicyRule, ...] = (),
    *,
    labels: tuple[str, ...] = (),
    aggregates: str | None = None,
) -> Role:
    aggregation = (
        AggregationRule(cluster_role_selectors=(LabelSelector(match_labels={aggregates: "true"}),))
        if aggregates
        else None
    )
    return Role(
        api_version="rbac.authorization.k8s.io/v1",
        kind="ClusterRole",
        metadata=ObjectMeta(name=name, labels=_BOOTSTRAP_LABELS | dict.fromkeys(labels, "true")),
        rules=rules,
        aggregation_rule=aggregation,
    )


def _aggregate_to_admin() -> tuple[PolicyRule, ...]:
    return (
        rule(["create"], groups=["authorization.k8s.io"], resources=["localsubjectaccessreviews"]),
        rule(_READ_WRITE, groups=[RBAC_GROUP], resources=["rolebindings", "roles"]),
    )


def _aggregate_to_edit() -> tuple[PolicyRule, ...]:
    pods_sub = ("pods/attach", "pods/exec", "pods/portforward", "pods/proxy")
    apps = (
        "daemonsets",
        "deployments",
        "deployments/rollback",
        "deployments/scale",
        "replicasets",
        "replicasets/scale",
        "statefulsets",
        "statefulsets/scale",
    )
    extensions = (
        "daemonsets",
        "deployments",
        "deployments/rollback",
        "deployments/scale",
        "ingresses",
        "networkpolicies",
        "replicasets",
        "replicasets/scale",
        "replicationcontrollers/scale",
    )
    core_write = (
        "configmaps",
        "events",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "secrets",
        "serviceaccounts",
        "services",
        "services/proxy",
    )
    return (
        rule(_READ, groups=[""], resources=[*pods_sub, "secrets", "services/proxy"]),
        rule(["impersonate"], groups=[""], resources=["serviceaccounts"]),
        rule(_WRITE, groups=[""], resources=["pods", *pods_sub]),
        rule(["create"], groups=[""], resources=["pods/eviction"]),
        rule(_WRITE, groups=[""], resources=core_write),
        rule(["create"], groups=[""], resources=["serviceaccounts/token"]),
        rule(_WRITE, groups=["apps"], resources=apps),
        rule(_WRITE, groups=["autoscaling"], resources=["horizontalpodautoscalers"]),
        rule(_WRITE, groups=["batch"], resources=["cronjobs", "jobs"]),
        rule(_WRITE, groups=["extensions"], resources=extensions),
        rule(_WRITE, groups=["policy"], resources=["poddisruptionbudgets"]),
        rule(_WRITE, groups=["networking.k8s.io"], resources=["ingresses", "networkpolicies"]),
        # In the rendering at the commit above; older clusters' edit role may lack it (compare
        # `kubectl get clusterrole system:aggregate-to-edit -o yaml` on the target's version).
        rule(_READ_WRITE, groups=["coordination.k8s.io"], resources=["leases"]),
    )


def _aggregate_to_view() -> tuple[PolicyRule, ...]:
    core_read = (
        "configmaps",
        "endpoints",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
        "pods",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "serviceaccounts",
        "services",
        "services/status",
    )
    core_status = (
        "bindings",
        "events",
        "limitranges",
        "namespaces/status",
        "pods/log",
        "pods/status",
        "replicationcontrollers/status",
        "resourcequotas",
        "resourcequotas/status",
    )
    apps = (
        "controllerrevisions",
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "statefulsets",
        "statefulsets/scale",
        "statefulsets/status",
    )
    extensions = (
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "ingresses",
        "ingresses/status",
        "networkpolicies",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "replicationcontrollers/scale",
    )
    hpa = ("horizontalpodautoscalers", "horizontalpodautoscalers/status")
    batch = ("cronjobs", "cronjobs/status", "jobs", "jobs/status")
    pdb = ("poddisruptionbudgets", "poddisruptionbudgets/status")
    networking = ("ingresses", "ingresses/status", "networkpolicies")
    return (
        rule(_READ, groups=[""], resources=core_read),
        rule(_READ, groups=[""], resources=core_status),
        # Read on namespaces at namespace scope means reading *this* namespace (policy.go).
        rule(_READ, groups=[""], resources=["namespaces"]),
        rule(_READ, groups=["discovery.k8s.io"], resources=["endpointslices"]),
        rule(_READ, groups=["apps"], resources=apps),
        rule(_READ, groups=["autoscaling"], resources=hpa),
        rule(_READ, groups=["batch"], resources=batch),
        rule(_READ, groups=["extensions"], resources=extensions),
        rule(_READ, groups=["policy"], resources=pdb),
        rule(_READ, groups=["networking.k8s.io"], resources=networking),
    )


def bootstrap_roles() -> tuple[Role, ...]:
    """The default ClusterRoles that tenants meet, aggregation rules included."""
    health = ("/healthz", "/livez", "/readyz", "/version", "/version/")
    discovery = ("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", *health)
    monitoring = (
        *("/healthz", "/healthz/*", "/livez", "/livez/*"),
        *("/metrics", "/metrics/slis", "/readyz", "/readyz/*"),
    )
    return (
        _cluster_role(
            "cluster-admin",
            (rule(["*"], groups=["*"], resources=["*"]), rule(["*"], urls=["*"])),
        ),
        _cluster_role("admin", aggregates=TO_ADMIN),
        _cluster_role("edit", labels=(TO_ADMIN,), aggregates=TO_EDIT),
        _cluster_role("view", labels=(TO_EDIT,), aggregates=TO_VIEW),
        _cluster_role("system:aggregate-to-admin", _aggregate_to_admin(), labels=(TO_ADMIN,)),
        _cluster_role("system:aggregate-to-edit", _aggregate_to_edit(), labels=(TO_EDIT,)),
        _cluster_role("system:aggregate-to-view", _aggregate_to_view(), labels=(TO_VIEW,)),
        _cluster_role(
            "system:basic-user",
            (
                rule(
                    ["create"],
                    groups=["authorization.k8s.io"],
                    resources=["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    ["create"], groups=["authentication.k8s.io"], resources=["selfsubjectreviews"]
                ),
            ),
        ),
        _cluster_role("system:discovery", (rule(["get"], urls=discovery),)),
        _cluster_role("system:public-info-viewer", (rule(["get"], urls=health),)),
        _cluster_role("system:monitoring", (rule(["get"], urls=monitoring),)),
        _cluster_role(
            "system:service-account-issuer-discovery",
            (rule(["get"], urls=["/.well-known/openid-configuration", "/openid/v1/jwks"]),),
        ),
    )


def _binding(name: str, *groups: str) -> RoleBinding:
    return RoleBinding(
        api_version="rbac.authorization.k8s.io/v1",
        kind="ClusterRoleBinding",
        metadata=ObjectMeta(name=name, labels=dict(_BOOTSTRAP_LABELS)),
        subjects=tuple(Subject(kind="Group", name=g, api_group=RBAC_GROUP) for g in groups),
        role_ref=RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=name),
    )


def bootstrap_bindings() -> tuple[RoleBinding, ...]:
    """The default ClusterRoleBindings of those roles."""
    return (
        _binding("cluster-admin", MASTERS),
        _binding("system:basic-user", AUTHENTICATED),
        _binding("system:discovery", AUTHENTICATED),
        _binding("system:public-info-viewer", AUTHENTICATED, UNAUTHENTICATED),
        _binding("system:monitoring", "system:monitoring"),
        _binding("system:service-account-issuer-discovery", "system:serviceaccounts"),
    )
