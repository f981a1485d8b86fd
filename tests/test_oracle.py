"""Truth tables of the connectivity oracle against the upstream documentation's own examples.

Each test rebuilds an example from the Cilium or Kubernetes documentation as a small blueprint and
asserts pod-level cells. Cited pages:

- Cilium policy language (Layer 3 / Layer 4 examples):
  https://docs.cilium.io/en/stable/security/policy/language/
- Cilium policy enforcement modes (default-deny per direction):
  https://docs.cilium.io/en/stable/security/policy/intro/
- Cilium deny policies: https://docs.cilium.io/en/stable/security/policy/deny/
- Cilium Rule API (``enableDefaultDeny``):
  https://docs.cilium.io/en/stable/network/kubernetes/ciliumendpoint/ and the cilium.io/v2 CRD
  reference (field ``enableDefaultDeny``)
- Kubernetes Network Policies:
  https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.oracle import compute_truth_table
from policytables import (
    NS_LABEL,
    Manifest,
    allowed_set,
    ccnp,
    cnp,
    deployment,
    load,
    matrix,
    namespace,
    netpol,
    ports,
    sel,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE = REPO_ROOT / "fixtures" / "platform"


def _lookup(bp: Blueprint) -> dict[str, Any]:
    return dict(compute_truth_table(bp).lookup())


def _two_namespaces(*extra: Manifest) -> list[Manifest]:
    """prod: backend, frontend, other; dev: backend, frontend. Every pod listens on 8080/TCP."""
    return [
        namespace("prod"),
        namespace("dev"),
        deployment("prod", "backend", {"role": "backend"}),
        deployment("prod", "frontend", {"role": "frontend"}),
        deployment("prod", "other", {"role": "other"}),
        deployment("dev", "backend", {"role": "backend"}),
        deployment("dev", "frontend", {"role": "frontend"}),
        *extra,
    ]


ALL_PODS = ["prod/backend-0", "prod/frontend-0", "prod/other-0", "dev/backend-0", "dev/frontend-0"]


def _sources_allowed(bp: Blueprint, dst: str, port: int | str = 8080) -> set[str]:
    """Every source pod whose cell to ``dst`` on ``port`` is allowed."""
    return {src for (src, d, p), ok in matrix(bp).items() if d == dst and p == port and ok}


def _destinations_allowed(bp: Blueprint, src: str, port: int | str = 8080) -> set[str]:
    return {d for (s, d, p), ok in matrix(bp).items() if s == src and p == port and ok}


def _others(pod: str) -> set[str]:
    return {p for p in ALL_PODS if p != pod}


# --------------------------------------------------------------------------------------------
# Cilium: Layer 3 examples
# --------------------------------------------------------------------------------------------


class TestCiliumLayer3:
    def test_endpoints_based_ingress(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Endpoints Based: pods labelled ``role: backend`` accept
        ingress only from ``role: frontend`` (l3-rule). Source:
        https://docs.cilium.io/en/stable/security/policy/language/#endpoints-based
        """
        policy = cnp(
            "prod",
            "l3-rule",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [{"fromEndpoints": [sel(role="frontend")]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == {"prod/frontend-0"}
        # The backend's egress is not restricted by an ingress-only policy.
        assert _destinations_allowed(bp, "prod/backend-0") == _others("prod/backend-0")
        # Unselected pods stay reachable from everyone.
        assert _sources_allowed(bp, "prod/frontend-0") == _others("prod/frontend-0")

    def test_cnp_selects_only_in_its_own_namespace(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples": a CiliumNetworkPolicy is namespaced; its endpointSelector
        and its peer selectors only match endpoints of its own namespace, so the same policy in
        ``prod`` neither isolates ``dev/backend`` nor admits ``dev/frontend``. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#endpoints-based
        """
        policy = cnp(
            "prod",
            "l3-rule",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [{"fromEndpoints": [sel(role="frontend")]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        m = matrix(bp)
        assert m[("dev/frontend-0", "prod/backend-0", 8080)] is False
        assert _sources_allowed(bp, "dev/backend-0") == _others("dev/backend-0")

    def test_empty_endpoint_selector_is_all_pods_of_the_namespace(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Ingress allow all (``fromEndpoints: [{}]``): in a CNP the
        empty selector matches only the policy's namespace. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#ingress-allow-all
        """
        policy = cnp(
            "prod",
            "allow-namespace",
            {"endpointSelector": sel(role="backend"), "ingress": [{"fromEndpoints": [{}]}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == {"prod/frontend-0", "prod/other-0"}

    def test_ccnp_empty_selector_spans_every_namespace(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples": a CiliumClusterwideNetworkPolicy's selectors are not scoped
        to a namespace, so ``{}`` is every endpoint of the cluster and its endpointSelector picks
        ``role: backend`` in every namespace. Source: https://docs.cilium.io/en/stable/security/policy/language/#layer-3-examples
        """
        policy = ccnp(
            "backend-from-anyone",
            {"endpointSelector": sel(role="backend"), "ingress": [{"fromEndpoints": [{}]}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == _others("prod/backend-0")
        assert _sources_allowed(bp, "dev/backend-0") == _others("dev/backend-0")

    def test_ccnp_selector_scoped_by_namespace_label(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples": a clusterwide policy selects backends everywhere; a peer
        selector that names ``k8s:io.kubernetes.pod.namespace`` narrows it to that namespace."""
        policy = ccnp(
            "backend-from-prod-frontend",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [{"fromEndpoints": [sel("prod", role="frontend")]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == {"prod/frontend-0"}
        assert _sources_allowed(bp, "dev/backend-0") == {"prod/frontend-0"}

    def test_cross_namespace_via_namespace_label(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Namespace boundaries: a peer selector with
        ``k8s:io.kubernetes.pod.namespace: dev`` admits dev pods (and no longer the policy's own
        namespace). Source:
        https://docs.cilium.io/en/stable/security/policy/kubernetes/#namespaces
        """
        policy = cnp(
            "prod",
            "from-dev-frontend",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [{"fromEndpoints": [sel("dev", role="frontend")]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == {"dev/frontend-0"}

    def test_cross_namespace_via_match_expressions(self, tmp_path: Path) -> None:
        """Namespace label given as ``matchExpressions`` (In) also lifts the namespace scope, as
        Cilium checks ``HasKey`` over matchLabels and matchExpressions. Source: https://docs.cilium.io/en/stable/security/policy/language/#layer-3-examples
        """
        policy = cnp(
            "prod",
            "from-any-frontend",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [
                    {
                        "fromEndpoints": [
                            {
                                "matchLabels": {"role": "frontend"},
                                "matchExpressions": [
                                    {"key": NS_LABEL, "operator": "In", "values": ["prod", "dev"]}
                                ],
                            }
                        ]
                    }
                ],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == {"prod/frontend-0", "dev/frontend-0"}

    @pytest.mark.parametrize("entity", ["cluster", "all"])
    def test_from_entities_cluster_and_all_allow_every_pod(
        self, tmp_path: Path, entity: str
    ) -> None:
        """Cilium "Layer 3 Examples" / Entities Based: ``cluster`` is every endpoint of the local
        cluster and ``all`` is everything, so both admit every pod in every namespace. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#entities-based
        """
        policy = cnp(
            "prod",
            f"from-{entity}",
            {"endpointSelector": sel(role="backend"), "ingress": [{"fromEntities": [entity]}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == _others("prod/backend-0")

    def test_from_entities_world_allows_no_pod(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Entities Based: ``world`` is traffic from outside the
        cluster; it admits no pod, and the policy still makes the backend default-deny.
        Source: https://docs.cilium.io/en/stable/security/policy/language/#entities-based
        """
        policy = cnp(
            "prod",
            "from-world",
            {"endpointSelector": sel(role="backend"), "ingress": [{"fromEntities": ["world"]}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == set()
        exp = _lookup(bp)["prod/frontend-0->prod/backend-0:8080/TCP"]
        assert not exp.allowed
        assert "default-deny" in exp.reason

    def test_to_entities_world_gives_no_pod(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Access to/from outside cluster (``toEntities: [world]``):
        the selected pods may reach the outside world and no pod. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#access-to-from-outside-cluster
        """
        policy = cnp(
            "prod",
            "to-world",
            {"endpointSelector": sel(role="frontend"), "egress": [{"toEntities": ["world"]}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _destinations_allowed(bp, "prod/frontend-0") == set()
        assert _sources_allowed(bp, "prod/frontend-0") == _others("prod/frontend-0")

    def test_to_cidr_does_not_match_pods(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / IP/CIDR based: "CIDR rules do not apply to traffic where
        both sides of the connection are either managed by Cilium or use an IP belonging to a
        node in the cluster", so a CIDR covering every pod IP still admits no pod. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#ip-cidr-based
        """
        policy = cnp(
            "prod",
            "cidr-rule",
            {
                "endpointSelector": sel(role="frontend"),
                "egress": [
                    {"toCIDR": ["0.0.0.0/0"]},
                    {"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}]},
                ],
                "ingress": [{"fromCIDR": ["0.0.0.0/0"]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _destinations_allowed(bp, "prod/frontend-0") == set()
        assert _sources_allowed(bp, "prod/frontend-0") == set()


# --------------------------------------------------------------------------------------------
# Cilium: default deny per direction, enableDefaultDeny
# --------------------------------------------------------------------------------------------


class TestCiliumDefaultDeny:
    def test_ingress_default_deny(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Ingress default deny (``ingress: [{}]``): the selected
        endpoints deny all ingress; their egress stays open. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#ingress-default-deny
        """
        policy = cnp("prod", "deny-ingress", {"endpointSelector": {}, "ingress": [{}]})
        bp = load(tmp_path, _two_namespaces(policy))
        for pod in ("prod/backend-0", "prod/frontend-0", "prod/other-0"):
            assert _sources_allowed(bp, pod) == set(), pod
            assert _destinations_allowed(bp, pod) == {"dev/backend-0", "dev/frontend-0"}, pod
        # dev is untouched: the namespaced policy does not select it.
        assert _sources_allowed(bp, "dev/backend-0") == _others("dev/backend-0")

    def test_egress_default_deny(self, tmp_path: Path) -> None:
        """Cilium "Layer 3 Examples" / Egress default deny (``egress: [{}]``): the selected
        endpoints may not send anything; ingress to them stays open. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#egress-default-deny
        """
        policy = cnp("prod", "deny-egress", {"endpointSelector": {}, "egress": [{}]})
        bp = load(tmp_path, _two_namespaces(policy))
        for pod in ("prod/backend-0", "prod/frontend-0", "prod/other-0"):
            assert _destinations_allowed(bp, pod) == set(), pod
        assert _sources_allowed(bp, "prod/backend-0") == {"dev/backend-0", "dev/frontend-0"}
        assert _destinations_allowed(bp, "dev/frontend-0") == _others("dev/frontend-0")

    def test_enable_default_deny_false_keeps_unmatched_peers(self, tmp_path: Path) -> None:
        """Cilium Rule API ``enableDefaultDeny``: "If multiple policies apply to an endpoint, that
        endpoint's default deny will be enabled if any policy requests it"; with
        ``enableDefaultDeny: {ingress: false}`` an allow-policy does not make the endpoint
        default-deny, so pods its rule does not match stay reachable. Source:
        https://docs.cilium.io/en/stable/security/policy/intro/#endpoint-default-policy
        """
        policy = cnp(
            "prod",
            "allow-frontend-no-dd",
            {
                "endpointSelector": sel(role="backend"),
                "enableDefaultDeny": {"ingress": False},
                "ingress": [{"fromEndpoints": [sel(role="frontend")]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == _others("prod/backend-0")

    def test_enable_default_deny_false_still_adds_allows(self, tmp_path: Path) -> None:
        """Same page: the default-allow policy's rules still count as allows when another policy
        puts the endpoint into default-deny."""
        allow = cnp(
            "prod",
            "allow-frontend-no-dd",
            {
                "endpointSelector": sel(role="backend"),
                "enableDefaultDeny": {"ingress": False, "egress": False},
                "ingress": [{"fromEndpoints": [sel(role="frontend")]}],
            },
        )
        deny_all = cnp("prod", "deny-ingress", {"endpointSelector": {}, "ingress": [{}]})
        bp = load(tmp_path, _two_namespaces(allow, deny_all))
        assert _sources_allowed(bp, "prod/backend-0") == {"prod/frontend-0"}
        assert _sources_allowed(bp, "prod/other-0") == set()

    def test_enable_default_deny_true_without_rules_in_that_direction(self, tmp_path: Path) -> None:
        """Cilium ``Repository.computePolicyEnforcementAndRules`` (pkg/policy/repository.go):
        ``if len(r.Egress) > 0 || len(r.EgressDeny) > 0 { egress = true; if
        *r.EnableDefaultDeny.Egress { hasEgressDefaultDeny = true } }`` - the flag is read only
        for a direction the rule has rules for, so ``enableDefaultDeny: {egress: true}`` on an
        ingress-only policy leaves egress open. Source:
        https://github.com/cilium/cilium/blob/main/pkg/policy/repository.go
        """
        policy = cnp(
            "prod",
            "dd-egress",
            {
                "endpointSelector": sel(role="frontend"),
                "enableDefaultDeny": {"egress": True},
                "ingress": [{"fromEntities": ["all"]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/frontend-0") == _others("prod/frontend-0")
        assert _destinations_allowed(bp, "prod/frontend-0") == _others("prod/frontend-0")

    def test_allows_are_a_union_across_policies(self, tmp_path: Path) -> None:
        """Cilium "Policy Enforcement Modes": rules of every selecting policy are added up."""
        one = cnp(
            "prod",
            "from-frontend",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [{"fromEndpoints": [sel(role="frontend")]}],
            },
        )
        two = cnp(
            "prod",
            "from-other",
            {
                "endpointSelector": sel(role="backend"),
                "ingress": [{"fromEndpoints": [sel(role="other")]}],
            },
        )
        bp = load(tmp_path, _two_namespaces(one, two))
        assert _sources_allowed(bp, "prod/backend-0") == {"prod/frontend-0", "prod/other-0"}

    def test_cnp_endpoint_selector_cannot_select_another_namespace(self, tmp_path: Path) -> None:
        """Cilium ``ParseToCiliumRule``: "EndpointSelector always applies in namespace of the
        policy resource, removing illegal namespace match" - a CNP in ``dev`` whose
        endpointSelector names ``k8s:io.kubernetes.pod.namespace: prod`` can never isolate prod
        pods (otherwise one tenant could cut off another). Source:
        https://github.com/cilium/cilium/blob/main/pkg/k8s/apis/cilium.io/utils/utils.go
        """
        policy = cnp(
            "dev",
            "reach-into-prod",
            {"endpointSelector": sel("prod", role="backend"), "ingress": [{}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "prod/backend-0") == _others("prod/backend-0")

    def test_cnp_endpoint_selector_illegal_namespace_is_replaced(self, tmp_path: Path) -> None:
        """Cilium ``ParseToCiliumRule`` calls ``EndpointSelector.AddMatch(podPrefixLbl,
        namespace)``, which sets ``MatchLabels["k8s:io.kubernetes.pod.namespace"] = <policy
        namespace>`` - the user's other namespace is *replaced* ("removing illegal namespace
        match"), so the policy still applies to ``role: backend`` in its own namespace. Sources:
        https://github.com/cilium/cilium/blob/main/pkg/k8s/apis/cilium.io/utils/utils.go and
        https://github.com/cilium/cilium/blob/main/pkg/policy/api/selector.go
        """
        policy = cnp(
            "dev",
            "reach-into-prod",
            {"endpointSelector": sel("prod", role="backend"), "ingress": [{}]},
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "dev/backend-0") == set()

    def test_cnp_endpoint_selector_any_source_namespace_selects_nothing(
        self, tmp_path: Path
    ) -> None:
        """Without the ``k8s:`` prefix the key is ``any:io.kubernetes.pod.namespace``, which
        ``AddMatch`` does not replace: both namespace requirements must hold, nothing is
        selected. Source: https://github.com/cilium/cilium/blob/main/pkg/policy/api/selector.go
        """
        policy = cnp(
            "dev",
            "reach-into-prod",
            {
                "endpointSelector": {
                    "matchLabels": {"io.kubernetes.pod.namespace": "prod", "role": "backend"}
                },
                "ingress": [{}],
            },
        )
        bp = load(tmp_path, _two_namespaces(policy))
        assert _sources_allowed(bp, "dev/backend-0") == _others("dev/backend-0")
        assert _sources_allowed(bp, "prod/backend-0") == _others("prod/backend-0")


# --------------------------------------------------------------------------------------------
# Cilium: Layer 4 examples
# --------------------------------------------------------------------------------------------


def _l4_pods(*extra: Manifest) -> list[Manifest]:
    """ns ``l4``: a client, a server with 80/TCP, 81/TCP, 443/TCP, 444/TCP, 445/TCP and 53
    TCP+UDP, a second server whose named port ``http`` is 9000; ns ``far`` with one client."""
    server_ports = [
        (80, "TCP", "http"),
        (81, "TCP", "alt"),
        (443, "TCP", "https"),
        (444, "TCP", None),
        (445, "TCP", None),
        (53, "UDP", "dns"),
        (53, "TCP", "dns-tcp"),
        (9090, "TCP", "metrics"),
    ]
    return [
        namespace("l4"),
        namespace("far"),
        deployment("l4", "client", {"app": "client"}, ports=[(8080, "TCP", "http")]),
        deployment("l4", "server", {"app": "server"}, ports=server_ports),
        deployment(
            "l4", "server2", {"app": "server"}, ports=[(9000, "TCP", "http"), (80, "TCP", None)]
        ),
        deployment("far", "client", {"app": "client"}, ports=[(8080, "TCP", "http")]),
        *extra,
    ]


class TestCiliumLayer4:
    def test_to_ports_only_egress_allows_any_peer_on_that_port(self, tmp_path: Path) -> None:
        """Cilium "Layer 4 Examples" / Limit ingress/egress ports: ``app: myService`` may only
        emit TCP on port 80, "to any layer 3 destination". Source:
        https://docs.cilium.io/en/stable/security/policy/language/#limit-ingress-egress-ports
        """
        policy = cnp(
            "l4",
            "l4-rule",
            {"endpointSelector": sel(app="client"), "egress": [{"toPorts": ports((80, "TCP"))}]},
        )
        bp = load(tmp_path, _l4_pods(policy))
        m = matrix(bp)
        assert m[("l4/client-0", "l4/server-0", 80)] is True
        assert m[("l4/client-0", "l4/server2-0", 80)] is True
        assert m[("l4/client-0", "far/client-0", 8080)] is False
        assert m[("l4/client-0", "l4/server-0", 81)] is False
        assert m[("l4/client-0", "l4/server-0", "53/UDP")] is False
        # Other pods are not restricted.
        assert m[("far/client-0", "l4/server-0", 81)] is True

    def test_to_ports_only_ingress_admits_every_namespace(self, tmp_path: Path) -> None:
        """Cilium "Layer 4 Examples": a rule with toPorts and no L3 peer is an L3 wildcard, so
        every pod of every namespace may reach the port, and only that port."""
        policy = cnp(
            "l4",
            "server-80",
            {"endpointSelector": sel(app="server"), "ingress": [{"toPorts": ports(80)}]},
        )
        bp = load(tmp_path, _l4_pods(policy))
        m = matrix(bp)
        for src in ("l4/client-0", "far/client-0"):
            assert m[(src, "l4/server-0", 80)] is True
            assert m[(src, "l4/server-0", 81)] is False
            assert m[(src, "l4/server-0", "53/UDP")] is False
            assert m[(src, "l4/server2-0", 80)] is True
            assert m[(src, "l4/server2-0", 9000)] is False

    def test_labels_dependent_layer4_rule(self, tmp_path: Path) -> None:
        """Cilium "Layer 4 Examples" / Labels-dependent Layer 4 rule: ``role: backend`` accepts
        ``role: frontend`` on 80/TCP only. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#labels-dependent-layer-4-rule
        """
        policy = cnp(
            "l4",
            "l4-rule",
            {
                "endpointSelector": sel(app="server"),
                "ingress": [{"fromEndpoints": [sel(app="client")], "toPorts": ports(80)}],
            },
        )
        bp = load(tmp_path, _l4_pods(policy))
        m = matrix(bp)
        assert m[("l4/client-0", "l4/server-0", 80)] is True
        assert m[("l4/client-0", "l4/server-0", 81)] is False
        assert m[("far/client-0", "l4/server-0", 80)] is False
        assert m[("l4/server2-0", "l4/server-0", 80)] is False

    def test_protocol_any_covers_tcp_and_udp(self, tmp_path: Path) -> None:
        """Cilium "Layer 4 Examples": ``protocol: ANY`` (the default) matches TCP, UDP and SCTP;
        an explicit ``protocol: UDP`` matches only UDP. Source: https://docs.cilium.io/en/stable/security/policy/language/#layer-4-examples
        """
        any_proto = cnp(
            "l4",
            "dns-any",
            {
                "endpointSelector": sel(app="server"),
                "ingress": [{"toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}]}],
            },
        )
        bp = load(tmp_path / "any", _l4_pods(any_proto))
        m = matrix(bp)
        assert m[("l4/client-0", "l4/server-0", "53/UDP")] is True
        assert m[("l4/client-0", "l4/server-0", 53)] is True
        assert m[("l4/client-0", "l4/server-0", 80)] is False

        no_proto = cnp(
            "l4",
            "dns-default",
            {
                "endpointSelector": sel(app="server"),
                "ingress": [{"toPorts": [{"ports": [{"port": "53"}]}]}],
            },
        )
        m = matrix(load(tmp_path / "default", _l4_pods(no_proto)))
        assert m[("l4/client-0", "l4/server-0", "53/UDP")] is True
        assert m[("l4/client-0", "l4/server-0", 53)] is True

        udp_only = cnp(
            "l4",
            "dns-udp",
            {"endpointSelector": sel(app="server"), "ingress": [{"toPorts": ports((53, "UDP"))}]},
        )
        m = matrix(load(tmp_path / "udp", _l4_pods(udp_only)))
        assert m[("l4/client-0", "l4/server-0", "53/UDP")] is True
        assert m[("l4/client-0", "l4/server-0", 53)] is False

    def test_port_range(self, tmp_path: Path) -> None:
        """Cilium "Layer 4 Examples" / Limit ingress/egress ports (port ranges): ``port: 80``
        with ``endPort: 444`` covers 80..444 inclusive. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#limit-ingress-egress-ports
        """
        policy = cnp(
            "l4",
            "l4-port-range-rule",
            {
                "endpointSelector": sel(app="client"),
                "egress": [
                    {"toPorts": [{"ports": [{"port": "80", "endPort": 444, "protocol": "TCP"}]}]}
                ],
            },
        )
        bp = load(tmp_path, _l4_pods(policy))
        m = matrix(bp)
        for port in (80, 81, 443, 444):
            assert m[("l4/client-0", "l4/server-0", port)] is True, port
        for port in (445, 9090, 53):
            assert m[("l4/client-0", "l4/server-0", port)] is False, port
        assert m[("l4/client-0", "l4/server-0", "53/UDP")] is False

    def test_named_port_resolves_per_destination(self, tmp_path: Path) -> None:
        """Cilium "Layer 4 Examples" / named ports (``port: "http"``): a name resolves against the
        destination pod's containerPort names, so it is 80 on ``server`` and 9000 on
        ``server2``. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#layer-4-examples
        """
        ingress = cnp(
            "l4",
            "named-ingress",
            {
                "endpointSelector": sel(app="server"),
                "ingress": [
                    {
                        "fromEndpoints": [sel(app="client")],
                        "toPorts": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
                    }
                ],
            },
        )
        m = matrix(load(tmp_path / "ingress", _l4_pods(ingress)))
        assert m[("l4/client-0", "l4/server-0", 80)] is True
        assert m[("l4/client-0", "l4/server-0", 81)] is False
        assert m[("l4/client-0", "l4/server2-0", 9000)] is True
        assert m[("l4/client-0", "l4/server2-0", 80)] is False

        egress = cnp(
            "l4",
            "named-egress",
            {"endpointSelector": sel(app="client"), "egress": [{"toPorts": ports("https")}]},
        )
        m = matrix(load(tmp_path / "egress", _l4_pods(egress)))
        assert m[("l4/client-0", "l4/server-0", 443)] is True
        assert m[("l4/client-0", "l4/server-0", 80)] is False
        assert m[("l4/client-0", "l4/server2-0", 9000)] is False

    def test_l7_rules_are_reported_on_the_cell(self, tmp_path: Path) -> None:
        """Cilium "Layer 7 Examples" / HTTP: an allow with ``rules.http`` admits the connection
        and attaches the HTTP rules the proxy enforces. Source:
        https://docs.cilium.io/en/stable/security/policy/language/#http
        """
        policy = cnp(
            "l4",
            "rule1",
            {
                "endpointSelector": sel(app="server"),
                "ingress": [
                    {
                        "fromEndpoints": [sel(app="client")],
                        "toPorts": [
                            {
                                "ports": [{"port": "80", "protocol": "TCP"}],
                                "rules": {"http": [{"method": "GET", "path": "/public"}]},
                            }
                        ],
                    }
                ],
            },
        )
        lookup = _lookup(load(tmp_path, _l4_pods(policy)))
        exp = lookup["l4/client-0->l4/server-0:80/TCP"]
        assert exp.allowed
        assert exp.l7_proxied and exp.l7_egress is None and exp.l7_ingress is not None
        assert [(r.method, r.path) for r in exp.l7_ingress] == [("GET", "/public")]
        assert lookup["l4/client-0->l4/server-0:81/TCP"].allowed is False
        # Unrestricted cells carry no L7 rules.
        unrestricted = lookup["l4/server-0->l4/client-0:8080/TCP"]
        assert (unrestricted.l7_egress, unrestricted.l7_ingress) == (None, None)


# --------------------------------------------------------------------------------------------
# Cilium: deny policies
# --------------------------------------------------------------------------------------------


def _deny_pods(*extra: Manifest) -> list[Manifest]:
    """The Deny Policies page's setup: a ``client`` and a ``server`` (80/TCP, 81/TCP), plus a
    bystander pod."""
    web = [(80, "TCP", "http"), (81, "TCP", "alt")]
    return [
        namespace("deny"),
        deployment("deny", "client", {"app": "client"}, ports=web),
        deployment("deny", "server", {"app": "server"}, ports=web),
        deployment("deny", "bystander", {"app": "bystander"}, ports=web),
        *extra,
    ]


_ALLOW_ALL_LAYERS = cnp(
    "deny",
    "allow-all-layers",
    {
        "endpointSelector": sel(app="server"),
        "ingress": [
            # Layer 7 (HTTP) on 80
            {
                "fromEndpoints": [sel(app="client")],
                "toPorts": [
                    {"ports": [{"port": "80", "protocol": "TCP"}], "rules": {"http": [{}]}}
                ],
            },
            # Layer 4 (80/TCP) and (81/TCP)
            {"toPorts": ports(80)},
            {"toPorts": ports(81)},
            # Layer 3 (Pod: Client)
            {"fromEndpoints": [sel(app="client")]},
        ],
    },
)


class TestCiliumDeny:
    def test_table_column_1_allows_only(self, tmp_path: Path) -> None:
        """Cilium "Deny Policies" table, first column: allow policies at L7, L4 80/81 and L3 and
        no deny policy: curl server:80 and :81 are allowed. Source:
        https://docs.cilium.io/en/stable/security/policy/deny/
        """
        m = matrix(load(tmp_path, _deny_pods(_ALLOW_ALL_LAYERS)))
        assert m[("deny/client-0", "deny/server-0", 80)] is True
        assert m[("deny/client-0", "deny/server-0", 81)] is True

    def test_table_column_2_l4_deny_wins(self, tmp_path: Path) -> None:
        """Cilium "Deny Policies" table, second column: an ingressDeny on 80/TCP from the client
        wins over the allows on 80 (L3, L4 and L7); 81 stays allowed. Source:
        https://docs.cilium.io/en/stable/security/policy/deny/
        """
        deny = cnp(
            "deny",
            "deny-80",
            {
                "endpointSelector": sel(app="server"),
                "ingressDeny": [{"fromEndpoints": [sel(app="client")], "toPorts": ports(80)}],
            },
        )
        bp = load(tmp_path, _deny_pods(_ALLOW_ALL_LAYERS, deny))
        lookup = _lookup(bp)
        exp = lookup["deny/client-0->deny/server-0:80/TCP"]
        assert exp.allowed is False
        assert "denied by CiliumNetworkPolicy deny/deny-80 spec.ingressDeny[0]" in exp.reason
        assert lookup["deny/client-0->deny/server-0:81/TCP"].allowed is True
        # The deny names the client only; the L4 allow still admits the bystander on 80.
        assert lookup["deny/bystander-0->deny/server-0:80/TCP"].allowed is True

    def test_table_column_3_l3_deny_wins_on_every_port(self, tmp_path: Path) -> None:
        """Cilium "Deny Policies" table, third column: an L3 deny of the client (plus the 80/TCP
        deny) drops curl to 80 and to 81. Source:
        https://docs.cilium.io/en/stable/security/policy/deny/
        """
        deny = cnp(
            "deny",
            "deny-client",
            {
                "endpointSelector": sel(app="server"),
                "ingressDeny": [
                    {"fromEndpoints": [sel(app="client")], "toPorts": ports(80)},
                    {"fromEndpoints": [sel(app="client")]},
                ],
            },
        )
        m = matrix(load(tmp_path, _deny_pods(_ALLOW_ALL_LAYERS, deny)))
        assert m[("deny/client-0", "deny/server-0", 80)] is False
        assert m[("deny/client-0", "deny/server-0", 81)] is False
        assert m[("deny/bystander-0", "deny/server-0", 81)] is True

    def test_ccnp_deny_wins_over_cnp_allow(self, tmp_path: Path) -> None:
        """Cilium "Deny Policies": "Deny policies take precedence over allow policies, regardless
        of whether they are a Cilium Network Policy, a Clusterwide Cilium Network Policy or even
        a Kubernetes Network Policy." Source:
        https://docs.cilium.io/en/stable/security/policy/deny/
        """
        allow = cnp(
            "deny",
            "allow-client",
            {
                "endpointSelector": sel(app="server"),
                "ingress": [{"fromEndpoints": [sel(app="client")]}],
            },
        )
        deny = ccnp(
            "deny-client-everywhere",
            {
                "endpointSelector": sel(app="server"),
                "ingressDeny": [{"fromEndpoints": [sel(app="client")], "toPorts": ports(81)}],
            },
        )
        lookup = _lookup(load(tmp_path, _deny_pods(allow, deny)))
        exp = lookup["deny/client-0->deny/server-0:81/TCP"]
        assert exp.allowed is False
        assert "CiliumClusterwideNetworkPolicy deny-client-everywhere" in exp.reason
        assert lookup["deny/client-0->deny/server-0:80/TCP"].allowed is True

    def test_ingress_deny_only_policy_is_default_deny(self, tmp_path: Path) -> None:
        """Cilium Rule API (``enableDefaultDeny``): "if a policy only has Ingress or IngressDeny
        rules, then the default for ingress is true", so a deny-only policy also isolates the
        endpoint at ingress (and leaves egress open). Sources:
        https://docs.cilium.io/en/stable/security/policy/deny/ and the cilium.io/v2 Rule API.
        """
        deny = cnp(
            "deny",
            "deny-80-only",
            {
                "endpointSelector": sel(app="server"),
                "ingressDeny": [{"fromEndpoints": [sel(app="client")], "toPorts": ports(80)}],
            },
        )
        bp = load(tmp_path, _deny_pods(deny))
        m = matrix(bp)
        assert m[("deny/bystander-0", "deny/server-0", 80)] is False
        assert m[("deny/client-0", "deny/server-0", 81)] is False
        assert m[("deny/server-0", "deny/client-0", 80)] is True

    def test_deny_only_policy_with_default_deny_disabled(self, tmp_path: Path) -> None:
        """Cilium Deny Policies + ``enableDefaultDeny: {ingress: false}``: a deny that does not
        switch on default-deny only drops what it names."""
        deny = cnp(
            "deny",
            "deny-80-no-dd",
            {
                "endpointSelector": sel(app="server"),
                "enableDefaultDeny": {"ingress": False},
                "ingressDeny": [{"fromEndpoints": [sel(app="client")], "toPorts": ports(80)}],
            },
        )
        m = matrix(load(tmp_path, _deny_pods(deny)))
        assert m[("deny/client-0", "deny/server-0", 80)] is False
        assert m[("deny/client-0", "deny/server-0", 81)] is True
        assert m[("deny/bystander-0", "deny/server-0", 80)] is True

    def test_egress_deny(self, tmp_path: Path) -> None:
        """Cilium "Deny Policies" (egressDeny): with an egress allow to every pod of the
        namespace, an egressDeny to the server on 81/TCP drops exactly that. Source:
        https://docs.cilium.io/en/stable/security/policy/deny/
        """
        allow = cnp(
            "deny",
            "client-egress",
            {"endpointSelector": sel(app="client"), "egress": [{"toEndpoints": [{}]}]},
        )
        deny = cnp(
            "deny",
            "client-no-81",
            {
                "endpointSelector": sel(app="client"),
                "egressDeny": [{"toEndpoints": [sel(app="server")], "toPorts": ports(81)}],
            },
        )
        m = matrix(load(tmp_path, _deny_pods(allow, deny)))
        assert m[("deny/client-0", "deny/server-0", 81)] is False
        assert m[("deny/client-0", "deny/server-0", 80)] is True
        assert m[("deny/client-0", "deny/bystander-0", 81)] is True


# --------------------------------------------------------------------------------------------
# Kubernetes NetworkPolicy ("Network Policies" concept page)
# --------------------------------------------------------------------------------------------


def _k8s_pods(*extra: Manifest) -> list[Manifest]:
    """``default``: db (6379, 8080), frontend, backend. ``myproject`` (project=myproject):
    worker. ``other`` (no labels): frontend. ``alice`` (user=alice): client, server."""
    return [
        namespace("default"),
        namespace("myproject", {"project": "myproject"}),
        namespace("other"),
        namespace("alice", {"user": "alice"}),
        deployment(
            "default", "db", {"role": "db"}, ports=[(6379, "TCP", "redis"), (8080, "TCP", "http")]
        ),
        deployment("default", "frontend", {"role": "frontend"}),
        deployment("default", "backend", {"role": "backend"}),
        deployment("myproject", "worker", {"role": "worker"}),
        deployment("other", "frontend", {"role": "frontend"}),
        deployment("alice", "client", {"role": "client"}),
        deployment("alice", "server", {"role": "server"}),
        *extra,
    ]


K8S_PODS = [
    "default/db-0",
    "default/frontend-0",
    "default/backend-0",
    "myproject/worker-0",
    "other/frontend-0",
    "alice/client-0",
    "alice/server-0",
]


class TestKubernetesNetworkPolicy:
    def test_the_test_network_policy_example(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / The NetworkPolicy resource: ``test-network-policy``
        isolates ``role=db`` in ``default`` for ingress and egress; ingress on 6379/TCP from the
        ipBlock, from any pod in a namespace labelled ``project=myproject`` and from
        ``role=frontend`` pods of ``default``; egress only to 10.0.0.0/24:5978. Source:
        https://kubernetes.io/docs/concepts/services-networking/network-policies/#networkpolicy-resource
        """
        policy = netpol(
            "default",
            "test-network-policy",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                            {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                            {"podSelector": {"matchLabels": {"role": "frontend"}}},
                        ],
                        "ports": [{"protocol": "TCP", "port": 6379}],
                    }
                ],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                        "ports": [{"protocol": "TCP", "port": 5978}],
                    }
                ],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0", 6379) == {
            "default/frontend-0",
            "myproject/worker-0",
        }
        assert _sources_allowed(bp, "default/db-0", 8080) == set()
        # Egress: only the ipBlock, which holds no pod.
        assert {d for (s, d, _), ok in matrix(bp).items() if s == "default/db-0" and ok} == set()
        # Other pods are untouched (except that db itself may no longer send to them).
        assert _sources_allowed(bp, "default/backend-0") == set(K8S_PODS) - {
            "default/backend-0",
            "default/db-0",
        }

    def test_default_deny_all_ingress(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Default deny all ingress traffic (``podSelector: {}``,
        ``policyTypes: [Ingress]``): nothing reaches the namespace's pods, egress is open.
        Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-deny-all-ingress-traffic
        """
        policy = netpol(
            "default", "default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}
        )
        bp = load(tmp_path, _k8s_pods(policy))
        for pod in ("default/db-0", "default/frontend-0", "default/backend-0"):
            assert _sources_allowed(bp, pod) == set(), pod
        assert _destinations_allowed(bp, "default/frontend-0") == {
            "myproject/worker-0",
            "other/frontend-0",
            "alice/client-0",
            "alice/server-0",
        }

    def test_allow_all_ingress(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Allow all ingress traffic (``ingress: [{}]``), even
        next to the default-deny policy. Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/#allow-all-ingress-traffic
        """
        deny = netpol(
            "default", "default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}
        )
        allow = netpol(
            "default",
            "allow-all-ingress",
            {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]},
        )
        bp = load(tmp_path, _k8s_pods(deny, allow))
        assert all(matrix(bp).values())

    def test_default_deny_all_egress(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Default deny all egress traffic. Source:
        https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-deny-all-egress-traffic
        """
        policy = netpol(
            "default", "default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}
        )
        bp = load(tmp_path, _k8s_pods(policy))
        for pod in ("default/db-0", "default/frontend-0", "default/backend-0"):
            assert _destinations_allowed(bp, pod) == set(), pod
        assert _sources_allowed(bp, "default/frontend-0") == {
            "myproject/worker-0",
            "other/frontend-0",
            "alice/client-0",
            "alice/server-0",
        }

    def test_allow_all_egress(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Allow all egress traffic (``egress: [{}]``). Source:
        https://kubernetes.io/docs/concepts/services-networking/network-policies/#allow-all-egress-traffic
        """
        deny = netpol(
            "default", "default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}
        )
        allow = netpol(
            "default",
            "allow-all-egress",
            {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]},
        )
        assert all(matrix(load(tmp_path, _k8s_pods(deny, allow))).values())

    def test_namespace_and_pod_selector_in_one_peer_is_and(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Behavior of to and from selectors: one element with
        ``namespaceSelector`` and ``podSelector`` admits ``role=client`` pods in namespaces with
        ``user=alice`` only. Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors
        """
        policy = netpol(
            "default",
            "and-peer",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"user": "alice"}},
                                "podSelector": {"matchLabels": {"role": "client"}},
                            }
                        ]
                    }
                ],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0") == {"alice/client-0"}

    def test_namespace_or_pod_selector_in_two_peers_is_or(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Behavior of to and from selectors: two elements are
        ORed: any pod in an ``user=alice`` namespace, or ``role=client`` pods in the policy's own
        namespace (there are none). Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors
        """
        policy = netpol(
            "default",
            "or-peers",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"user": "alice"}}},
                            {"podSelector": {"matchLabels": {"role": "frontend"}}},
                        ]
                    }
                ],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0") == {
            "alice/client-0",
            "alice/server-0",
            "default/frontend-0",
        }

    def test_policy_types_default_is_ingress_only_without_egress_rules(
        self, tmp_path: Path
    ) -> None:
        """Kubernetes NetworkPolicySpec.policyTypes: "If this field is not specified, it will
        default based on the existence of ingress or egress rules; policies that contain an
        egress section are assumed to affect egress, and all policies ... are assumed to affect
        ingress". Source (NetworkPolicySpec):
        https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
        """
        ingress_only = netpol(
            "default",
            "ingress-only",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}],
            },
        )
        bp = load(tmp_path / "a", _k8s_pods(ingress_only))
        assert _sources_allowed(bp, "default/db-0") == {"default/frontend-0"}
        assert _destinations_allowed(bp, "default/db-0") == set(K8S_PODS) - {"default/db-0"}

        with_egress = netpol(
            "default",
            "with-egress",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "backend"}}}]}],
            },
        )
        bp = load(tmp_path / "b", _k8s_pods(with_egress))
        # Egress is isolated (section present); ingress is isolated too (always implied).
        assert _destinations_allowed(bp, "default/db-0") == {"default/backend-0"}
        assert _sources_allowed(bp, "default/db-0", 6379) == set()

    def test_policy_types_default_ignores_an_empty_egress_list(self, tmp_path: Path) -> None:
        """kubernetes/kubernetes pkg/apis/networking/v1/defaults.go ``SetDefaults_NetworkPolicy``:
        ``if len(obj.Spec.PolicyTypes) == 0 { types = [Ingress]; if len(obj.Spec.Egress) != 0
        { append Egress } }`` - an empty ``egress: []`` does not add Egress. Source: https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/networking/v1/defaults.go
        """
        policy = netpol(
            "default",
            "empty-egress",
            {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{}], "egress": []},
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _destinations_allowed(bp, "default/db-0") == set(K8S_PODS) - {"default/db-0"}

    def test_empty_policy_types_defaults_to_ingress(self, tmp_path: Path) -> None:
        """kubernetes/kubernetes ``SetDefaults_NetworkPolicy``: ``len(PolicyTypes) == 0`` is
        defaulted, so ``policyTypes: []`` with no rules is a default-deny-ingress policy."""
        policy = netpol(
            "default",
            "empty-types",
            {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": []},
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0") == set()

    def test_egress_rule_without_to_allows_all_destinations_on_ports(self, tmp_path: Path) -> None:
        """Kubernetes NetworkPolicyEgressRule.to: "If this field is empty or missing, this rule
        matches all destinations"; the ports list still restricts. Source:
        https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
        """
        policy = netpol(
            "default",
            "egress-6379",
            {
                "podSelector": {"matchLabels": {"role": "frontend"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": 6379}]}],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        m = matrix(bp)
        assert m[("default/frontend-0", "default/db-0", 6379)] is True
        assert m[("default/frontend-0", "default/db-0", 8080)] is False
        assert _destinations_allowed(bp, "default/frontend-0", 8080) == set()

    def test_kubernetes_metadata_name_namespace_label(self, tmp_path: Path) -> None:
        """Kubernetes "Network Policies" / Targeting a Namespace by its name: the control plane
        sets the immutable label ``kubernetes.io/metadata.name`` on every namespace. Source:
        https://kubernetes.io/docs/concepts/services-networking/network-policies/#targeting-a-namespace-by-its-name
        """
        policy = netpol(
            "default",
            "from-other",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "other"}
                                }
                            }
                        ]
                    }
                ],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0") == {"other/frontend-0"}

    def test_empty_namespace_selector_is_every_namespace(self, tmp_path: Path) -> None:
        """Kubernetes NetworkPolicyPeer: an empty ``namespaceSelector: {}`` selects all
        namespaces; with a podSelector it selects matching pods in every namespace."""
        policy = netpol(
            "default",
            "frontends-anywhere",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"role": "frontend"}},
                            }
                        ]
                    }
                ],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0") == {"default/frontend-0", "other/frontend-0"}

    def test_named_port_and_port_range(self, tmp_path: Path) -> None:
        """Kubernetes NetworkPolicyPort: ``port`` may be a named container port; ``endPort``
        makes a range. Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/#targeting-a-range-of-ports
        """
        policy = netpol(
            "default",
            "named",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {"ports": [{"port": "redis"}]},
                    {
                        "from": [{"namespaceSelector": {}}],
                        "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8080}],
                    },
                ],
            },
        )
        m = matrix(load(tmp_path, _k8s_pods(policy)))
        assert m[("alice/client-0", "default/db-0", 6379)] is True
        assert m[("alice/client-0", "default/db-0", 8080)] is True

    def test_port_protocol_defaults_to_tcp(self, tmp_path: Path) -> None:
        """Kubernetes NetworkPolicyPort.protocol: "If not specified, this field defaults to TCP"
        (``SetDefaults_NetworkPolicyPort``), so ``port: 53`` does not open 53/UDP. Source:
        https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
        """
        dns = deployment(
            "default", "dns", {"role": "dns"}, ports=[(53, "UDP", "dns"), (53, "TCP", "dns-tcp")]
        )
        policy = netpol(
            "default",
            "dns-53",
            {
                "podSelector": {"matchLabels": {"role": "dns"}},
                "ingress": [{"ports": [{"port": 53}]}],
            },
        )
        m = matrix(load(tmp_path, _k8s_pods(dns, policy)))
        assert m[("default/frontend-0", "default/dns-0", 53)] is True
        assert m[("default/frontend-0", "default/dns-0", "53/UDP")] is False

    def test_policy_types_egress_only_ignores_ingress_rules(self, tmp_path: Path) -> None:
        """Kubernetes NetworkPolicySpec.policyTypes: with ``[Egress]`` the policy does not affect
        ingress, whatever its ingress section says."""
        policy = netpol(
            "default",
            "egress-typed",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "policyTypes": ["Egress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}],
                "egress": [{}],
            },
        )
        bp = load(tmp_path, _k8s_pods(policy))
        assert _sources_allowed(bp, "default/db-0") == set(K8S_PODS) - {"default/db-0"}


# --------------------------------------------------------------------------------------------
# Combinations
# --------------------------------------------------------------------------------------------


class TestCombinations:
    def test_networkpolicy_allow_and_cnp_deny(self, tmp_path: Path) -> None:
        """Cilium "Deny Policies": deny rules win over Kubernetes NetworkPolicy allows too.
        Source: https://docs.cilium.io/en/stable/security/policy/deny/
        """
        allow = netpol("default", "allow-all", {"podSelector": {}, "ingress": [{}]})
        deny = cnp(
            "default",
            "deny-frontend",
            {
                "endpointSelector": sel(role="db"),
                "ingressDeny": [{"fromEndpoints": [sel(role="frontend")], "toPorts": ports(6379)}],
            },
        )
        bp = load(tmp_path, _k8s_pods(allow, deny))
        m = matrix(bp)
        assert m[("default/frontend-0", "default/db-0", 6379)] is False
        assert m[("default/frontend-0", "default/db-0", 8080)] is True
        assert m[("default/backend-0", "default/db-0", 6379)] is True

    def test_egress_deny_on_source_blocks_despite_ingress_allow(self, tmp_path: Path) -> None:
        """A connection needs the source's egress and the destination's ingress; an egressDeny on
        the source drops it even though the destination's ingress allows it (Cilium enforces
        both ends: "Policy Enforcement Modes"). Source:
        https://docs.cilium.io/en/stable/security/policy/intro/
        """
        allow = netpol(
            "default",
            "db-from-frontend",
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}],
            },
        )
        deny = cnp(
            "default",
            "frontend-not-db",
            {
                "endpointSelector": sel(role="frontend"),
                "enableDefaultDeny": {"egress": False},
                "egressDeny": [{"toEndpoints": [sel(role="db")]}],
            },
        )
        lookup = _lookup(load(tmp_path, _k8s_pods(allow, deny)))
        exp = lookup["default/frontend-0->default/db-0:6379/TCP"]
        assert exp.allowed is False
        assert exp.reason.startswith("egress denied by CiliumNetworkPolicy default/frontend-not-db")
        assert exp.ingress_reason.startswith("allowed by NetworkPolicy default/db-from-frontend")
        assert lookup["default/frontend-0->default/backend-0:8080/TCP"].allowed is True

    def test_both_egress_and_ingress_must_allow(self, tmp_path: Path) -> None:
        """Cilium "Policy Enforcement Modes": default-deny is per direction and per endpoint; an
        ingress allow on the destination is not enough when the source is egress default-deny.
        Source: https://docs.cilium.io/en/stable/security/policy/intro/
        """
        ingress_allow = cnp(
            "default",
            "db-from-frontend",
            {
                "endpointSelector": sel(role="db"),
                "ingress": [{"fromEndpoints": [sel(role="frontend")], "toPorts": ports(6379)}],
            },
        )
        egress_dd = cnp(
            "default",
            "frontend-egress-dd",
            {"endpointSelector": sel(role="frontend"), "egress": [{}]},
        )
        bp = load(tmp_path / "one-side", _k8s_pods(ingress_allow, egress_dd))
        exp = _lookup(bp)["default/frontend-0->default/db-0:6379/TCP"]
        assert exp.allowed is False
        assert exp.reason.startswith("egress denied: default-deny")

        egress_allow = cnp(
            "default",
            "frontend-to-db",
            {
                "endpointSelector": sel(role="frontend"),
                "egress": [{"toEndpoints": [sel(role="db")], "toPorts": ports(6379)}],
            },
        )
        bp = load(tmp_path / "both", _k8s_pods(ingress_allow, egress_dd, egress_allow))
        m = matrix(bp)
        assert m[("default/frontend-0", "default/db-0", 6379)] is True
        assert m[("default/frontend-0", "default/db-0", 8080)] is False
        assert m[("default/frontend-0", "default/backend-0", 8080)] is False

    def test_no_cell_for_a_pod_to_itself(self, tmp_path: Path) -> None:
        """The oracle's cells exclude a pod to itself; replicas of one Deployment get cells."""
        bp = load(
            tmp_path,
            [namespace("solo"), deployment("solo", "api", {"app": "api"}, replicas=2)],
        )
        assert set(matrix(bp)) == {
            ("solo/api-0", "solo/api-1", 8080),
            ("solo/api-1", "solo/api-0", 8080),
        }

    def test_specs_list_origin_names_the_right_spec(self, tmp_path: Path) -> None:
        """A CNP with ``spec`` and ``specs``: reasons point at the rule that decided the cell."""
        policy = cnp(
            "default",
            "multi",
            {
                "endpointSelector": sel(role="db"),
                "ingress": [{"fromEndpoints": [sel(role="frontend")]}],
            },
        )
        policy["specs"] = [
            {
                "endpointSelector": sel(role="db"),
                "ingress": [{"fromEndpoints": [sel(role="backend")]}],
            }
        ]
        lookup = _lookup(load(tmp_path, _k8s_pods(policy)))
        front = lookup["default/frontend-0->default/db-0:6379/TCP"]
        back = lookup["default/backend-0->default/db-0:6379/TCP"]
        assert front.allowed and back.allowed
        assert "CiliumNetworkPolicy default/multi spec.ingress[0]" in front.reason
        assert "CiliumNetworkPolicy default/multi specs[0].ingress[0]" in back.reason


# --------------------------------------------------------------------------------------------
# The reference blueprint (fixtures/platform)
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (REFERENCE / "tenants").is_dir(), reason="reference blueprint fixtures/platform missing"
)
class TestReferenceBlueprint:
    @pytest.fixture(scope="class")
    def bp(self) -> Blueprint:
        return load_blueprint(REFERENCE)

    @pytest.fixture(scope="class")
    def m(self, bp: Blueprint) -> dict[Any, bool]:
        return matrix(bp)

    @staticmethod
    def _pods(bp: Blueprint, ns: str, deployment_name: str) -> list[str]:
        pods = [p.key for p in bp.pods() if p.namespace == ns and p.deployment == deployment_name]
        assert pods, f"{ns}/{deployment_name} has no pods"
        return pods

    def test_tenant_client_reaches_own_api(self, bp: Blueprint, m: dict[Any, bool]) -> None:
        for api in self._pods(bp, "team-alpha", "api"):
            assert m[("team-alpha/client-0", api, 8080)] is True, api

    def test_tenant_client_cannot_reach_other_tenant(
        self, bp: Blueprint, m: dict[Any, bool]
    ) -> None:
        for api in self._pods(bp, "team-beta", "api"):
            assert m[("team-alpha/client-0", api, 8080)] is False, api
        for api in self._pods(bp, "team-gamma", "api"):
            assert m[("team-alpha/client-0", api, 8080)] is False, api

    def test_declared_cross_tenant_flow(self, bp: Blueprint, m: dict[Any, bool]) -> None:
        for api in self._pods(bp, "team-alpha", "api"):
            assert m[("team-beta/client-0", api, 8080)] is True, api
            assert m[("team-beta/client-0", api, 9090)] is False, api

    def test_gateway_reaches_every_tenant_api(self, bp: Blueprint, m: dict[Any, bool]) -> None:
        gateway = self._pods(bp, "ingress", "ingress-gateway")[0]
        for tenant in bp.tenants():
            for api in self._pods(bp, tenant, "api"):
                assert m[(gateway, api, 8080)] is True, api
                assert m[(gateway, api, 9090)] is False, api

    def test_only_prometheus_reaches_metrics(self, bp: Blueprint, m: dict[Any, bool]) -> None:
        prometheus = self._pods(bp, "monitoring", "prometheus")[0]
        metrics_sources = {
            src for (src, dst, port), ok in m.items() if ok and port == 9090 and "/api-" in dst
        }
        assert metrics_sources == {prometheus}
        for tenant in bp.tenants():
            for api in self._pods(bp, tenant, "api"):
                assert m[(prometheus, api, 9090)] is True, api

    def test_every_pod_resolves_names(self, bp: Blueprint, m: dict[Any, bool]) -> None:
        dns = self._pods(bp, "kube-system", "coredns")
        for pod in bp.pods():
            if pod.key in dns:
                continue
            for server in dns:
                assert m[(pod.key, server, "53/UDP")] is True, (pod.key, server)
                assert m[(pod.key, server, 53)] is True, (pod.key, server)
                assert m[(pod.key, server, 9153)] is False, (pod.key, server)

    def test_nothing_else_reaches_tenant_clients(self, bp: Blueprint, m: dict[Any, bool]) -> None:
        assert not {key for key, ok in m.items() if ok and "/client-" in key[1]}

    def test_truth_table_is_mostly_deny(self, bp: Blueprint) -> None:
        allowed = allowed_set(bp)
        assert 0 < len(allowed) < len(matrix(bp)) / 2
