"""Typed models of the core Kubernetes objects a tenant directory holds.

Only the fields Gauntlet reads are modelled; other fields of these kinds are accepted and kept
out of the way (real manifests carry annotations, probes, volumes, ...). Policy kinds, whose
every field changes the verdict, live in ``cilium.py`` and ``netpol.py`` and forbid unknown
fields instead.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gauntlet.blueprint.selectors import LabelSelector


class _Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class ObjectMeta(_Lenient):
    name: str = Field(min_length=1)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ContainerPort(_Lenient):
    container_port: int = Field(alias="containerPort", ge=1, le=65535)
    name: str | None = None
    protocol: Protocol = Protocol.TCP


class ResourceRequirements(_Lenient):
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class Container(_Lenient):
    name: str
    image: str
    ports: tuple[ContainerPort, ...] = ()
    resources: ResourceRequirements = ResourceRequirements()
    security_context: dict[str, Any] = Field(default_factory=dict, alias="securityContext")


class PodSpec(_Lenient):
    containers: tuple[Container, ...] = Field(min_length=1)
    init_containers: tuple[Container, ...] = Field(default=(), alias="initContainers")
    service_account_name: str = Field(default="default", alias="serviceAccountName")


class PodTemplate(_Lenient):
    metadata: ObjectMeta | None = None
    spec: PodSpec


class PodTemplateMeta(_Lenient):
    labels: dict[str, str] = Field(default_factory=dict)


class PodTemplateSpec(_Lenient):
    metadata: PodTemplateMeta = PodTemplateMeta()
    spec: PodSpec


class DeploymentSpec(_Lenient):
    replicas: int = Field(default=1, ge=0)
    selector: LabelSelector
    template: PodTemplateSpec


class Deployment(_Lenient):
    api_version: Literal["apps/v1"] = Field(alias="apiVersion")
    kind: Literal["Deployment"]
    metadata: ObjectMeta
    spec: DeploymentSpec


class ServicePort(_Lenient):
    port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: Protocol = Protocol.TCP
    target_port: int | str | None = Field(default=None, alias="targetPort")


class ServiceSpec(_Lenient):
    selector: dict[str, str] = Field(default_factory=dict)
    ports: tuple[ServicePort, ...] = ()
    type: str = "ClusterIP"


class Service(_Lenient):
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Service"]
    metadata: ObjectMeta
    spec: ServiceSpec


class Namespace(_Lenient):
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Namespace"]
    metadata: ObjectMeta


class ServiceAccount(_Lenient):
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["ServiceAccount"]
    metadata: ObjectMeta


class PolicyRule(_Lenient):
    api_groups: tuple[str, ...] = Field(default=(), alias="apiGroups")
    resources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = Field(min_length=1)
    resource_names: tuple[str, ...] = Field(default=(), alias="resourceNames")
    non_resource_urls: tuple[str, ...] = Field(default=(), alias="nonResourceURLs")


class AggregationRule(_Lenient):
    """A ClusterRole's aggregationRule: its rules are the union of the selected ClusterRoles'."""

    cluster_role_selectors: tuple[LabelSelector, ...] = Field(
        default=(), alias="clusterRoleSelectors"
    )


class Role(_Lenient):
    api_version: Literal["rbac.authorization.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["Role", "ClusterRole"]
    metadata: ObjectMeta
    rules: tuple[PolicyRule, ...] = ()
    aggregation_rule: AggregationRule | None = Field(default=None, alias="aggregationRule")


class Subject(_Lenient):
    kind: Literal["User", "Group", "ServiceAccount"]
    name: str
    namespace: str | None = None
    api_group: str | None = Field(default=None, alias="apiGroup")


class RoleRef(_Lenient):
    api_group: str = Field(alias="apiGroup")
    kind: Literal["Role", "ClusterRole"]
    name: str


class RoleBinding(_Lenient):
    api_version: Literal["rbac.authorization.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["RoleBinding", "ClusterRoleBinding"]
    metadata: ObjectMeta
    subjects: tuple[Subject, ...] = ()
    role_ref: RoleRef = Field(alias="roleRef")


class ResourceQuotaSpec(_Lenient):
    hard: dict[str, str | int] = Field(default_factory=dict)


class ResourceQuota(_Lenient):
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["ResourceQuota"]
    metadata: ObjectMeta
    spec: ResourceQuotaSpec


class LimitRangeItem(_Lenient):
    type: str
    default: dict[str, str] = Field(default_factory=dict)
    default_request: dict[str, str] = Field(default_factory=dict, alias="defaultRequest")
    max: dict[str, str] = Field(default_factory=dict)
    min: dict[str, str] = Field(default_factory=dict)


class LimitRangeSpec(_Lenient):
    limits: tuple[LimitRangeItem, ...] = Field(min_length=1)


class LimitRange(_Lenient):
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["LimitRange"]
    metadata: ObjectMeta
    spec: LimitRangeSpec


class PassiveObject(_Lenient):
    """A kind Gauntlet keeps verbatim (ConfigMap, PrometheusRule, Pod, ...): only its metadata
    is checked here; the raw manifest lives in ``Blueprint.manifests``."""

    api_version: str = Field(alias="apiVersion", min_length=1)
    kind: str
    metadata: ObjectMeta


class ConstraintTemplate(_Lenient):
    """Gatekeeper ConstraintTemplate; its Rego is evaluated by the policy engine (later issue)."""

    api_version: str = Field(alias="apiVersion", pattern=r"^templates\.gatekeeper\.sh/")
    kind: Literal["ConstraintTemplate"]
    metadata: ObjectMeta
    spec: dict[str, Any]


class Constraint(_Lenient):
    """A Gatekeeper Constraint: an instance of a ConstraintTemplate's CRD kind."""

    api_version: str = Field(alias="apiVersion", pattern=r"^constraints\.gatekeeper\.sh/")
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any] = Field(default_factory=dict)
