"""Helm values for Cilium and Gatekeeper on Gauntlet's kind cluster.

Only what differs from the charts' defaults or what Gauntlet's suites depend on is set, each
with its reason; everything else is the chart's default, because the platform under test runs
defaults too.

Cilium (chart ``cilium/cilium``; keys checked against the pinned chart's ``values.yaml``):

- ``kubeProxyReplacement: true`` with ``k8sServiceHost``/``k8sServicePort``: the kind configs
  set ``kubeProxyMode: none``, so nothing serves the ``kubernetes`` Service until Cilium does;
  the agent must reach the API server directly. Inside kind's Docker network that is the
  control-plane container, ``<cluster>-control-plane:6443`` (kind names node containers
  ``<cluster>-<role>``), or ``<cluster>-external-load-balancer:6443`` when the config has
  several control planes (Cilium's kube-proxy-free guide, kind section).
- ``ipam.mode: kubernetes`` and ``image.pullPolicy: IfNotPresent``: as Cilium's kind guide
  installs it; pod CIDRs come from the config's ``podSubnet`` via the node ``podCIDR``.
- ``l7Proxy: true`` and ``envoy.enabled: true``: the L7 suite needs Cilium's Envoy (standalone
  ``cilium-envoy`` DaemonSet); set explicitly so the readiness wait for it is never waiting
  for something a default change removed.
- ``hubble.enabled`` / ``hubble.relay.enabled``: flows are evidence for the isolation and L7
  suites (relay is off by default).
- ``operator.replicas``: the chart's 2 replicas have a *required* anti-affinity per node, so
  on a single-node cluster the second one never schedules and ``rollout status`` never ends;
  one per node up to two.

Gatekeeper (chart ``gatekeeper/gatekeeper``):

- ``replicas``: 2 (1 on a single node) instead of 3: enough for the webhook to survive a node
  loss in chaos runs, lighter on a laptop.
- ``auditInterval: 30`` (default 60): the policy suite waits for audit results.
- ``logDenies: true``: denials in the controller log are evidence when a check fails.
- ``validatingWebhookFailurePolicy`` stays the chart's ``Ignore``: Gauntlet tests the
  platform's default, and the chaos suite's webhook-outage experiment depends on it.
"""

from __future__ import annotations

from typing import Any

from gauntlet.targets.kind.config import KindCluster as KindConfig

API_SERVER_PORT = 6443
"""kube-apiserver's port inside kind's Docker network (the host port is random)."""


def api_server_host(cluster_name: str, config: KindConfig) -> str:
    """The API server's address as seen from the node containers."""
    control_planes = sum(1 for n in config.nodes if n.role == "control-plane")
    if control_planes > 1:
        return f"{cluster_name}-external-load-balancer"
    return f"{cluster_name}-control-plane"


def cilium_values(cluster_name: str, config: KindConfig) -> dict[str, Any]:
    return {
        "kubeProxyReplacement": True,
        "k8sServiceHost": api_server_host(cluster_name, config),
        "k8sServicePort": API_SERVER_PORT,
        "ipam": {"mode": "kubernetes"},
        "image": {"pullPolicy": "IfNotPresent"},
        "l7Proxy": True,
        "envoy": {"enabled": True},
        "hubble": {"enabled": True, "relay": {"enabled": True}},
        "operator": {"replicas": min(2, len(config.nodes))},
    }


def gatekeeper_values(config: KindConfig) -> dict[str, Any]:
    return {
        "replicas": 2 if len(config.nodes) > 1 else 1,
        "auditInterval": 30,
        "logDenies": True,
    }
