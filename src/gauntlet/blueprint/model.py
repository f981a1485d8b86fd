"""The loaded blueprint: every object with where it came from, and the pods it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet.blueprint.cilium import CiliumNetworkPolicy
from gauntlet.blueprint.kube import (
    Constraint,
    ConstraintTemplate,
    ContainerPort,
    Deployment,
    LimitRange,
    Namespace,
    ResourceQuota,
    Role,
    RoleBinding,
    Service,
    ServiceAccount,
)
from gauntlet.blueprint.netpol import NetworkPolicy


@dataclass(frozen=True)
class Source:
    """Where an object was read from: file and 0-based YAML document index."""

    file: Path
    document: int

    def __str__(self) -> str:
        return f"{self.file}#{self.document}"


@dataclass(frozen=True)
class Pod:
    """One replica of a Deployment, as the target will run it."""

    namespace: str
    name: str
    deployment: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    service_account: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port_by_name(self, name: str, protocol: str | None = None) -> ContainerPort | None:
        for port in self.ports:
            if port.name == name and (protocol is None or port.protocol == protocol):
                return port
        return None


@dataclass
class Blueprint:
    """Everything a GitOps repo of plain manifests declares, typed."""

    root: Path
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    service_accounts: list[ServiceAccount] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    role_bindings: list[RoleBinding] = field(default_factory=list)
    quotas: list[ResourceQuota] = field(default_factory=list)
    limit_ranges: list[LimitRange] = field(default_factory=list)
    network_policies: list[NetworkPolicy] = field(default_factory=list)
    cilium_policies: list[CiliumNetworkPolicy] = field(default_factory=list)
    constraint_templates: list[ConstraintTemplate] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    sources: dict[tuple[str, str, str], Source] = field(default_factory=dict)
    # Every object as written, keyed like ``sources`` by (kind, namespace, name); admission,
    # audit and the tenancy suite read these.
    manifests: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Manifests of one kind (optionally in one namespace), in load order."""
        return [
            doc
            for (k, ns, _), doc in self.manifests.items()
            if k == kind and (namespace is None or ns == namespace)
        ]

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """Labels of a namespace, with the ``kubernetes.io/metadata.name`` label the API adds."""
        ns = self.namespaces.get(namespace)
        labels = dict(ns.metadata.labels) if ns else {}
        labels["kubernetes.io/metadata.name"] = namespace
        return labels

    def pods(self) -> list[Pod]:
        """Pods implied by the Deployments, named ``<deployment>-<replica index>``."""
        pods: list[Pod] = []
        for dep in self.deployments:
            ns = dep.metadata.namespace or "default"
            ports = tuple(p for c in dep.spec.template.spec.containers for p in c.ports)
            for i in range(dep.spec.replicas):
                pods.append(
                    Pod(
                        namespace=ns,
                        name=f"{dep.metadata.name}-{i}",
                        deployment=dep.metadata.name,
                        labels=dict(dep.spec.template.metadata.labels),
                        ports=ports,
                        service_account=dep.spec.template.spec.service_account_name,
                    )
                )
        return pods

    def tenants(self) -> list[str]:
        """Namespaces declared under ``tenants/<team>/`` of the blueprint."""
        found = []
        for name in self.namespaces:
            src = self.sources.get(("Namespace", "", name))
            if src and "tenants" in src.file.relative_to(self.root).parts:
                found.append(name)
        return sorted(found)
