"""kind cluster configs (``kind.x-k8s.io/v1alpha4``): a strict model, the checks Gauntlet needs,
and the hash that decides whether an existing cluster can be reused.

The fields mirror kind's ``pkg/apis/config/v1alpha4/types.go``; unknown fields are errors here
(kind itself is strict about them too), so a typo such as ``disableDefaultCni`` is caught before
a cluster is created with kindnet and kube-proxy that Cilium would then fight with.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class KindConfigError(ValueError):
    """A kind config that kind would reject, or that Gauntlet cannot use; names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ProxyMode(StrEnum):
    IPTABLES = "iptables"
    IPVS = "ipvs"
    NFTABLES = "nftables"
    NONE = "none"


class PortMapping(_Strict):
    container_port: int = Field(alias="containerPort", ge=1, le=65535)
    host_port: int | None = Field(default=None, alias="hostPort", ge=-1, le=65535)
    listen_address: str | None = Field(default=None, alias="listenAddress")
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class Mount(_Strict):
    container_path: str = Field(alias="containerPath")
    host_path: str = Field(alias="hostPath")
    readonly: bool = Field(default=False, alias="readOnly")
    selinux_relabel: bool = Field(default=False, alias="selinuxRelabel")
    propagation: Literal["None", "HostToContainer", "Bidirectional"] | None = None


class Node(_Strict):
    role: Literal["control-plane", "worker"] = "control-plane"
    image: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    extra_mounts: tuple[Mount, ...] = Field(default=(), alias="extraMounts")
    extra_port_mappings: tuple[PortMapping, ...] = Field(default=(), alias="extraPortMappings")
    gpus: str | None = None
    kubeadm_config_patches: tuple[str, ...] = Field(default=(), alias="kubeadmConfigPatches")
    kubeadm_config_patches_json6902: tuple[dict[str, Any], ...] = Field(
        default=(), alias="kubeadmConfigPatchesJSON6902"
    )


class Networking(_Strict):
    ip_family: Literal["ipv4", "ipv6", "dual"] | None = Field(default=None, alias="ipFamily")
    api_server_port: int | None = Field(default=None, alias="apiServerPort")
    api_server_address: str | None = Field(default=None, alias="apiServerAddress")
    pod_subnet: str | None = Field(default=None, alias="podSubnet")
    service_subnet: str | None = Field(default=None, alias="serviceSubnet")
    disable_default_cni: bool = Field(default=False, alias="disableDefaultCNI")
    kube_proxy_mode: ProxyMode | None = Field(default=None, alias="kubeProxyMode")
    dns_search: tuple[str, ...] | None = Field(default=None, alias="dnsSearch")


class KindCluster(_Strict):
    kind: Literal["Cluster"]
    api_version: Literal["kind.x-k8s.io/v1alpha4"] = Field(alias="apiVersion")
    name: str | None = None
    nodes: tuple[Node, ...] = (Node(),)
    networking: Networking = Networking()
    feature_gates: dict[str, bool] = Field(default_factory=dict, alias="featureGates")
    runtime_config: dict[str, str] = Field(default_factory=dict, alias="runtimeConfig")
    kubeadm_config_patches: tuple[str, ...] = Field(default=(), alias="kubeadmConfigPatches")
    kubeadm_config_patches_json6902: tuple[dict[str, Any], ...] = Field(
        default=(), alias="kubeadmConfigPatchesJSON6902"
    )
    containerd_config_patches: tuple[str, ...] = Field(default=(), alias="containerdConfigPatches")
    containerd_config_patches_json6902: tuple[str, ...] = Field(
        default=(), alias="containerdConfigPatchesJSON6902"
    )

    @property
    def workers(self) -> int:
        return sum(1 for n in self.nodes if n.role == "worker")

    def host_ports(self) -> list[tuple[int, int | None, str | None]]:
        """(container port, host port, listen address) of every extra port mapping."""
        return [
            (m.container_port, m.host_port, m.listen_address)
            for n in self.nodes
            for m in n.extra_port_mappings
        ]


def load_kind_config(path: Path) -> tuple[KindCluster, str]:
    """The parsed config and its raw text; raises KindConfigError naming file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KindConfigError(f"{path}: cannot read the kind config: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KindConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise KindConfigError(f"{path}: a kind config is a mapping (kind: Cluster)")
    try:
        cluster = KindCluster.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise KindConfigError(f"{path}: {where}: {first['msg']}") from None
    return cluster, text


def check_for_cilium(cluster: KindCluster, path: Path) -> list[str]:
    """Problems that make a config unusable for Gauntlet's Cilium cluster (empty: fine)."""
    problems = []
    if not cluster.networking.disable_default_cni:
        problems.append(
            f"{path}: networking.disableDefaultCNI must be true: kindnet would run beside Cilium"
        )
    if cluster.networking.kube_proxy_mode is not ProxyMode.NONE:
        problems.append(
            f"{path}: networking.kubeProxyMode must be none: Cilium replaces kube-proxy "
            "(Helm kubeProxyReplacement=true)"
        )
    if not any(n.role == "control-plane" for n in cluster.nodes):
        problems.append(f"{path}: nodes: at least one control-plane node is needed")
    return problems


def config_hash(cluster: KindCluster, versions: dict[str, str]) -> str:
    """A stable hash of the config's meaning and the pinned component versions: a cluster
    labelled with the same hash can be reused; any difference means a new cluster."""
    payload = {
        "config": cluster.model_dump(mode="json", by_alias=True, exclude_none=True),
        "versions": dict(sorted(versions.items())),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
