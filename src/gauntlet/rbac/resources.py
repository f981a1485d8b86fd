"""Which resource a kind is, and which resource a kubectl word names.

RBAC rules speak of *resources* (``deployments`` in group ``apps``), manifests speak of *kinds*
(``apps/v1 Deployment``), and people type kubectl's words (``deploy``, ``po``, ``pods/log``,
``clusterroles.rbac.authorization.k8s.io``). On a cluster the RESTMapper answers from discovery;
the sandbox has no discovery, so this module carries a table of the kinds a tenant platform
meets. Unknown bare words are refused rather than guessed: kubectl's own fallback (``foos`` →
``foos`` in any group) would make an RBAC question silently about the wrong group.

The admission chain imports ``resource_for_kind`` to turn a manifest into request attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "KNOWN_RESOURCES",
    "ResourceInfo",
    "ResourceRef",
    "UnknownKindError",
    "UnknownResourceError",
    "info_for",
    "parse_resource",
    "resource_for_kind",
]

# Gatekeeper creates one CRD per ConstraintTemplate in this group; the resource is the kind
# lowercased (not pluralised) and every constraint is cluster-scoped.
CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"

# kubectl accepts ``resource.version.group``; the version is dropped to get the group.
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")


@dataclass(frozen=True)
class ResourceRef:
    """A resource as RBAC sees it: API group ("" for core), plural resource, subresource."""

    group: str
    resource: str
    subresource: str = ""

    @property
    def combined(self) -> str:
        """``resource/subresource``, the string RBAC rules' ``resources`` entries are matched to."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def __str__(self) -> str:
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{name}/{self.subresource}" if self.subresource else name


@dataclass(frozen=True)
class ResourceInfo:
    """One row of the table: a kind and the resource that serves it."""

    kind: str
    group: str
    version: str
    resource: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        # The API server's singular name is the kind lowercased for every built-in and these CRDs.
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.group, self.resource)


class UnknownResourceError(ValueError):
    """A bare resource word the table does not know; the message says how to qualify it."""


class UnknownKindError(ValueError):
    """A manifest kind the table does not know (the API server would answer 'no matches')."""


def _r(
    kind: str, group: str, version: str, resource: str, *short: str, ns: bool = True
) -> ResourceInfo:
    return ResourceInfo(kind, group, version, resource, ns, tuple(short))


_AUTHZ = "authorization.k8s.io"

# Short names are kubectl's (``kubectl api-resources``), including the CRDs' own.
KNOWN_RESOURCES: tuple[ResourceInfo, ...] = (
    _r("Pod", "", "v1", "pods", "po"),
    _r("Service", "", "v1", "services", "svc"),
    _r("Secret", "", "v1", "secrets"),
    _r("ConfigMap", "", "v1", "configmaps", "cm"),
    _r("Namespace", "", "v1", "namespaces", "ns", ns=False),
    _r("Node", "", "v1", "nodes", "no", ns=False),
    _r("ServiceAccount", "", "v1", "serviceaccounts", "sa"),
    _r("ResourceQuota", "", "v1", "resourcequotas", "quota"),
    _r("LimitRange", "", "v1", "limitranges", "limits"),
    _r("Event", "", "v1", "events", "ev"),
    _r("Endpoints", "", "v1", "endpoints", "ep"),
    _r("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", "pvc"),
    _r("PersistentVolume", "", "v1", "persistentvolumes", "pv", ns=False),
    _r("ReplicationController", "", "v1", "replicationcontrollers", "rc"),
    _r("Deployment", "apps", "v1", "deployments", "deploy"),
    _r("ReplicaSet", "apps", "v1", "replicasets", "rs"),
    _r("StatefulSet", "apps", "v1", "statefulsets", "sts"),
    _r("DaemonSet", "apps", "v1", "daemonsets", "ds"),
    _r("Job", "batch", "v1", "jobs"),
    _r("CronJob", "batch", "v1", "cronjobs", "cj"),
    _r("Role", "rbac.authorization.k8s.io", "v1", "roles"),
    _r("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings"),
    _r("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", ns=False),
    _r("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", ns=False),
    _r("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", "netpol"),
    _r("Ingress", "networking.k8s.io", "v1", "ingresses", "ing"),
    _r("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices"),
    _r("Lease", "coordination.k8s.io", "v1", "leases"),
    _r(
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        ns=False,
    ),
    _r("CiliumNetworkPolicy", "cilium.io", "v2", "ciliumnetworkpolicies", "cnp", "ciliumnp"),
    _r(
        "CiliumClusterwideNetworkPolicy",
        "cilium.io",
        "v2",
        "ciliumclusterwidenetworkpolicies",
        "ccnp",
        ns=False,
    ),
    _r("PrometheusRule", "monitoring.coreos.com", "v1", "prometheusrules", "promrule"),
    _r("ServiceMonitor", "monitoring.coreos.com", "v1", "servicemonitors", "smon"),
    _r("PodMonitor", "monitoring.coreos.com", "v1", "podmonitors", "pmon"),
    _r("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", "pdb"),
    _r("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", "hpa"),
    _r("ConstraintTemplate", "templates.gatekeeper.sh", "v1", "constrainttemplates", ns=False),
    _r(
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "crd",
        "crds",
        ns=False,
    ),
    _r("SelfSubjectAccessReview", _AUTHZ, "v1", "selfsubjectaccessreviews", ns=False),
    _r("SelfSubjectRulesReview", _AUTHZ, "v1", "selfsubjectrulesreviews", ns=False),
    _r("LocalSubjectAccessReview", _AUTHZ, "v1", "localsubjectaccessreviews"),
)

_BY_KIND: dict[tuple[str, str], ResourceInfo] = {(i.group, i.kind): i for i in KNOWN_RESOURCES}
_BY_RESOURCE: dict[tuple[str, str], ResourceInfo] = {
    (i.group, i.resource): i for i in KNOWN_RESOURCES
}


def _words(info: ResourceInfo) -> tuple[str, ...]:
    return (info.resource, info.singular, *info.short_names)


def _lookup(word: str, group: str | None) -> ResourceInfo | None:
    # kubectl prefers the core group when a bare word is ambiguous; the table is ordered so the
    # first hit is that preference.
    for info in KNOWN_RESOURCES:
        if (group is None or info.group == group) and word in _words(info):
            return info
    return None


def parse_resource(text: str) -> ResourceRef:
    """Parse kubectl's resource words: ``pods``, ``po``, ``pods/log``, ``deploy``,
    ``deployments.apps/scale``, ``deployments.v1.apps``, ``clusterroles.rbac.authorization.k8s.io``.

    A word with a group suffix is accepted even if the table does not know it (RBAC rules are
    plain strings, so ``widgets.example.com`` is a fine question); a bare word must be known.
    """
    raw = text.strip().lower()
    base, _, subresource = raw.partition("/")
    if not base or "/" in subresource:
        raise UnknownResourceError(
            f"cannot parse resource {text!r}: expected <resource>[.<group>][/<subresource>]"
        )
    word, dot, group = base.partition(".")
    if dot:
        version, _, rest = group.partition(".")
        if rest and _VERSION.match(version):
            group = rest
        info = _lookup(word, group)
        return ResourceRef(group, info.resource if info else word, subresource)
    info = _lookup(word, None)
    if info is None:
        raise UnknownResourceError(
            f"unknown resource {word!r}: name it with its API group as <resource>.<group> "
            f"(e.g. {word}.example.com) so the RBAC question is about the right group"
        )
    return ResourceRef(info.group, info.resource, subresource)


def info_for(ref: ResourceRef) -> ResourceInfo | None:
    """The table row of a resource (subresource ignored), if known."""
    return _BY_RESOURCE.get((ref.group, ref.resource))


def resource_for_kind(api_version: str, kind: str) -> tuple[ResourceRef, bool]:
    """The resource serving a manifest's ``apiVersion``/``kind``, and whether it is namespaced.

    The version is not checked: the API server serves a group's kinds under several versions
    and RBAC never looks at the version.
    """
    group = api_version.rpartition("/")[0]
    if group == CONSTRAINTS_GROUP:
        return ResourceRef(group, kind.lower()), False
    info = _BY_KIND.get((group, kind))
    if info is None:
        raise UnknownKindError(
            f'no matches for kind "{kind}" in version "{api_version}": '
            "Gauntlet's resource table does not know this kind; add it to "
            "gauntlet.rbac.resources.KNOWN_RESOURCES"
        )
    return info.ref, info.namespaced
