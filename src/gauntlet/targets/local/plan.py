"""The sandbox plan: which pods run where, with which addresses; pure and deterministic.

Pods get /32 addresses in 10.244.0.0/16 behind one bridge whose ports are isolated, so every
packet is routed through the sandbox's root namespace where the policy ruleset sits (as Cilium
routes every endpoint through its datapath). Services get virtual IPs in 10.96.0.0/16,
translated at connect time inside the client pod (as Cilium's socket-level load balancer does).

The sandbox simulates ``NODE_COUNT`` nodes (``sandbox-worker-1..3``) so that node failures can be
injected: each pod is placed as kube-scheduler's default spreading would place it (replicas of
one workload on different nodes where possible, then the least loaded node), deterministically.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.selectors import LabelSelector, matches
from gauntlet.policy import Endpoint, endpoints_of

POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/16")
GATEWAY = str(POD_CIDR.network_address + 1)
MAX_PODS = POD_CIDR.num_addresses - 4
NODE_COUNT = 3
NODES = tuple(f"sandbox-worker-{i}" for i in range(1, NODE_COUNT + 1))


@dataclass(frozen=True)
class PodPlan:
    index: int
    key: str
    namespace: str
    name: str
    ip: str
    tcp_ports: tuple[int, ...]
    udp_ports: tuple[int, ...]
    node: str = NODES[0]


@dataclass(frozen=True)
class ServiceBackend:
    ip: str
    port: int


@dataclass(frozen=True)
class ServicePlan:
    key: str
    vip: str
    port: int
    protocol: str
    backends: tuple[ServiceBackend, ...]


@dataclass(frozen=True)
class SandboxPlan:
    pods: tuple[PodPlan, ...]
    services: tuple[ServicePlan, ...]
    endpoints: tuple[Endpoint, ...]

    def pod(self, key: str) -> PodPlan:
        for pod in self.pods:
            if pod.key == key:
                return pod
        raise KeyError(key)

    def ip_of(self) -> dict[str, str]:
        return {p.key: p.ip for p in self.pods}

    def node_of(self) -> dict[str, str]:
        return {p.key: p.node for p in self.pods}


def assign_nodes(workloads: Sequence[str], nodes: Sequence[str] = NODES) -> list[str]:
    """The node of each pod, given the workload (``ns/deployment``) each pod belongs to.

    Mirrors kube-scheduler's default scoring for identical empty nodes: the system-default
    PodTopologySpread constraint on ``kubernetes.io/hostname`` (ScheduleAnyway) prefers the node
    with the fewest pods of the same workload, NodeResourcesFit's LeastAllocated then prefers
    the node with the fewest pods; ties go to the first node by name (the real scheduler picks
    at random among equal scores, which would make the sandbox's runs differ).
    """
    per_workload: dict[tuple[str, str], int] = {}
    total = dict.fromkeys(nodes, 0)
    placed = []
    for workload in workloads:
        node = min(nodes, key=lambda n: (per_workload.get((workload, n), 0), total[n], n))
        per_workload[(workload, node)] = per_workload.get((workload, node), 0) + 1
        total[node] += 1
        placed.append(node)
    return placed


def make_plan(bp: Blueprint) -> SandboxPlan:
    endpoints = endpoints_of(bp)
    if len(endpoints) > MAX_PODS:
        raise ValueError(
            f"the sandbox holds at most {MAX_PODS} pods, blueprint has {len(endpoints)}"
        )
    pods = []
    nodes = assign_nodes([f"{ep.namespace}/{ep.pod.deployment}" for ep in endpoints])
    for ep, node in zip(endpoints, nodes, strict=True):
        ip = str(POD_CIDR.network_address + 2 + ep.index)
        tcp = sorted({p.container_port for p in ep.pod.ports if p.protocol == "TCP"})
        udp = sorted({p.container_port for p in ep.pod.ports if p.protocol == "UDP"})
        pods.append(
            PodPlan(ep.index, ep.key, ep.namespace, ep.pod.name, ip, tuple(tcp), tuple(udp), node)
        )
    services = []
    vip_index = 10
    for svc in sorted(bp.services, key=lambda s: (s.metadata.namespace or "", s.metadata.name)):
        ns = svc.metadata.namespace or "default"
        vip = str(SERVICE_CIDR.network_address + vip_index)
        vip_index += 1
        selector = LabelSelector(match_labels=svc.spec.selector)
        members = [
            ep
            for ep in endpoints
            if svc.spec.selector and ep.namespace == ns and matches(selector, ep.pod.labels)
        ]
        for sp in svc.spec.ports:
            backends = []
            for ep in members:
                target = sp.target_port if sp.target_port is not None else sp.port
                if isinstance(target, str) and not target.isdigit():
                    named = ep.pod.port_by_name(target, sp.protocol.value)
                    if named is None:
                        continue
                    target = named.container_port
                backends.append(ServiceBackend(pods[ep.index].ip, int(target)))
            services.append(
                ServicePlan(
                    f"{ns}/{svc.metadata.name}", vip, sp.port, sp.protocol.value, tuple(backends)
                )
            )
    return SandboxPlan(tuple(pods), tuple(services), tuple(endpoints))
