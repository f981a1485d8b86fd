"""Generate scaled blueprints (N tenants x M pods x P ports) for benchmarks and load tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def _deployment(ns: str, name: str, replicas: int, ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": f"registry.platform.example/{ns}/{name}:1.0.0",
                            "ports": [{"containerPort": p, "name": f"p{p}"} for p in ports],
                        }
                    ]
                },
            },
        },
    }


def scaled_blueprint(root: Path, *, tenants: int, pods_per_tenant: int, ports: int = 2) -> Path:
    """Write a blueprint: each tenant has an ``api`` (pods-1 replicas) and a ``client`` pod,
    default-deny both ways, client -> own api on the first port, and tenant i's client may call
    tenant i+1's api (a cross-tenant allow per tenant)."""
    if pods_per_tenant < 2:
        raise ValueError("pods_per_tenant must be >= 2 (an api and a client)")
    port_list = [8080 + i * 10 for i in range(ports)]
    for t in range(tenants):
        ns = f"tenant-{t:03d}"
        nxt = f"tenant-{(t + 1) % tenants:03d}"
        prev = f"tenant-{(t - 1) % tenants:03d}"
        docs: list[dict[str, Any]] = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"gauntlet.io/tenant": "true"}},
            },
            _deployment(ns, "api", pods_per_tenant - 1, port_list),
            _deployment(ns, "client", 1, port_list),
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "default-deny", "namespace": ns},
                "spec": {"endpointSelector": {}, "ingress": [{}], "egress": [{}]},
            },
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "allow-client-to-api", "namespace": ns},
                "spec": {
                    "endpointSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [
                        {
                            "fromEndpoints": [{"matchLabels": {"app": "client"}}],
                            "toPorts": [
                                {"ports": [{"port": str(port_list[0]), "protocol": "TCP"}]}
                            ],
                        },
                        {
                            "fromEndpoints": [
                                {
                                    "matchLabels": {
                                        "k8s:io.kubernetes.pod.namespace": prev,
                                        "app": "client",
                                    }
                                }
                            ],
                            "toPorts": [
                                {"ports": [{"port": str(port_list[0]), "protocol": "TCP"}]}
                            ],
                        },
                    ],
                },
            },
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "allow-client-egress", "namespace": ns},
                "spec": {
                    "endpointSelector": {"matchLabels": {"app": "client"}},
                    "egress": [
                        {
                            "toEndpoints": [
                                {"matchLabels": {"app": "api"}},
                                {
                                    "matchLabels": {
                                        "k8s:io.kubernetes.pod.namespace": nxt,
                                        "app": "api",
                                    }
                                },
                            ],
                            "toPorts": [
                                {"ports": [{"port": str(port_list[0]), "protocol": "TCP"}]}
                            ],
                        }
                    ],
                },
            },
        ]
        target = root / "tenants" / ns
        target.mkdir(parents=True, exist_ok=True)
        (target / "tenant.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root
