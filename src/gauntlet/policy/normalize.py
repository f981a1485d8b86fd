"""Translate Cilium and Kubernetes policies into ``PolicySet`` (Cilium's semantics).

Facts mirrored from Cilium (docs: "Policy Enforcement Modes", "Layer 3 Examples",
"Deny Policies", the cilium.io/v2 Rule API):
- A CiliumNetworkPolicy only selects endpoints of its own namespace; its peer selectors that do
  not name ``io.kubernetes.pod.namespace`` (the empty selector ``{}`` included) match only its
  own namespace. A CiliumClusterwideNetworkPolicy's selectors span every namespace.
- ``enableDefaultDeny`` defaults to true for each direction that has (allow or deny) rules.
- A rule with no L3 peer fields but ``toPorts`` allows every peer on those ports; an empty rule
  ``{}`` allows nothing; a rule with only ``icmps`` allows no TCP/UDP traffic.
- CIDR peers never match endpoints managed by Cilium ("CIDR rules do not apply to traffic where
  both sides of the connection are ... managed by Cilium").
- Kubernetes NetworkPolicy: ``policyTypes`` (default Ingress, plus Egress when egress rules are
  present) isolate the selected pods; a rule without ``from``/``to`` admits every peer; a peer with
  ``podSelector`` only is scoped to the policy's namespace; ``namespaceSelector`` +
  ``podSelector`` in one peer are ANDed; ``ipBlock`` never matches pods (Cilium maps it to CIDR).
"""

from __future__ import annotations

from collections.abc import Sequence

from gauntlet.blueprint.cilium import (
    CiliumNetworkPolicy,
    CiliumPolicySpec,
    Entity,
    PeerRule,
    PortRule,
)
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.netpol import NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort
from gauntlet.blueprint.selectors import LabelSelector, matches
from gauntlet.policy.endpoints import NAMESPACE_LABEL, Endpoint, endpoints_of
from gauntlet.policy.ir import Direction, PeerSet, PolicySet, PortMatch, Rule, SelectedPolicy

# Entities that cover every pod endpoint in the cluster; the others name non-pod identities.
_POD_ENTITIES = {Entity.ALL, Entity.CLUSTER}


def _strip_source(key: str) -> str:
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _normalise_selector(selector: LabelSelector) -> LabelSelector:
    return LabelSelector(
        match_labels={_strip_source(k): v for k, v in selector.match_labels.items()},
        match_expressions=tuple(
            r.model_copy(update={"key": _strip_source(r.key)}) for r in selector.match_expressions
        ),
    )


def _select(
    endpoints: Sequence[Endpoint],
    selector: LabelSelector,
    namespace: str | None,
    *,
    subjects: bool = False,
) -> frozenset[int]:
    """Endpoints matched by a Cilium selector, scoped to ``namespace`` unless it names one.

    A CNP's endpointSelector (``subjects``) is always confined to the policy's namespace.
    """
    if subjects and namespace is not None:
        # Cilium's ParseToCiliumRule: EndpointSelector.AddMatch sets the ``k8s:``-prefixed
        # namespace label to the policy's namespace, replacing any other ("removing illegal
        # namespace match"); an ``any:`` or unprefixed key is left to AND with it.
        key = f"k8s:{NAMESPACE_LABEL}"
        if key in selector.match_labels:
            selector = LabelSelector(
                match_labels={k: v for k, v in selector.match_labels.items() if k != key},
                match_expressions=selector.match_expressions,
            )
    sel = _normalise_selector(selector)
    scoped = namespace is not None and (subjects or NAMESPACE_LABEL not in sel.label_keys())
    return frozenset(
        ep.index
        for ep in endpoints
        if (not scoped or ep.namespace == namespace) and matches(sel, ep.labels)
    )


def _cilium_ports(port_rules: tuple[PortRule, ...] | None) -> tuple[PortMatch, ...] | None:
    if port_rules is None:
        return None
    out: list[PortMatch] = []
    for pr in port_rules:
        http = pr.rules.http if pr.rules and pr.rules.http is not None else None
        ports = pr.ports or ()
        if not ports:
            # toPorts with rules but no ports applies the L7 rules to every port.
            out.append(PortMatch(protocol="ANY", http=http))
        for pp in ports:
            if pp.port.isdigit():
                number = int(pp.port)
                out.append(
                    PortMatch(
                        protocol=pp.protocol.value,
                        port=number or None,  # Cilium: port 0 means every port
                        end_port=pp.end_port,
                        http=http,
                    )
                )
            else:
                out.append(PortMatch(protocol=pp.protocol.value, name=pp.port, http=http))
    return tuple(out)


def _cilium_peers(
    rule: PeerRule, direction: Direction, endpoints: Sequence[Endpoint], namespace: str | None
) -> PeerSet:
    ingress = direction is Direction.INGRESS
    selectors = rule.from_endpoints if ingress else rule.to_endpoints
    entities = rule.from_entities if ingress else rule.to_entities
    cidrs = rule.from_cidr if ingress else rule.to_cidr
    cidr_sets = rule.from_cidr_set if ingress else rule.to_cidr_set
    l3_given = any(x is not None for x in (selectors, entities, cidrs, cidr_sets))
    if not l3_given:
        if rule.to_ports is not None:
            return PeerSet(any_peer=True, endpoints=frozenset())
        # An empty rule ({}) or an icmps-only rule adds no TCP/UDP peer.
        return PeerSet(any_peer=False, endpoints=frozenset())
    matched: set[int] = set()
    external: list[str] = []
    for sel in selectors or ():
        matched |= _select(endpoints, sel, namespace)
    for entity in entities or ():
        if entity in _POD_ENTITIES:
            matched |= {ep.index for ep in endpoints}
            if entity is Entity.ALL:
                external.append("entity:all")
        else:
            external.append(f"entity:{entity.value}")
    external += [f"cidr:{c}" for c in cidrs or ()]
    external += [f"cidr:{c.cidr}" for c in cidr_sets or ()]
    return PeerSet(any_peer=False, endpoints=frozenset(matched), external=tuple(external))


def _cilium_policy(
    cnp: CiliumNetworkPolicy, spec: CiliumPolicySpec, s_index: int, endpoints: Sequence[Endpoint]
) -> SelectedPolicy:
    namespace = None if cnp.clusterwide else cnp.metadata.namespace
    ref_name = f"{namespace}/{cnp.metadata.name}" if namespace else cnp.metadata.name
    ref = f"{cnp.kind} {ref_name}"
    prefix = "spec" if cnp.spec is spec else f"specs[{s_index - (1 if cnp.spec else 0)}]"
    assert spec.endpoint_selector is not None  # the loader rejects policies without one
    subjects = _select(endpoints, spec.endpoint_selector, namespace, subjects=True)
    rules: list[Rule] = []
    sections = (
        ("ingress", spec.ingress, Direction.INGRESS, False),
        ("ingressDeny", spec.ingress_deny, Direction.INGRESS, True),
        ("egress", spec.egress, Direction.EGRESS, False),
        ("egressDeny", spec.egress_deny, Direction.EGRESS, True),
    )
    for field, section, direction, deny in sections:
        for i, rule in enumerate(section or ()):
            rules.append(
                Rule(
                    direction=direction,
                    deny=deny,
                    peers=_cilium_peers(rule, direction, endpoints, namespace),
                    ports=_cilium_ports(rule.to_ports)
                    if rule.icmps is None or rule.to_ports
                    else (),
                    origin=f"{ref} {prefix}.{field}[{i}]",
                )
            )
    has_ingress = bool(spec.ingress) or bool(spec.ingress_deny)
    has_egress = bool(spec.egress) or bool(spec.egress_deny)
    dd = spec.enable_default_deny
    # enableDefaultDeny only changes a direction the policy has rules for.
    dd_in = has_ingress and (dd is None or dd.ingress is None or dd.ingress)
    dd_out = has_egress and (dd is None or dd.egress is None or dd.egress)
    return SelectedPolicy(
        ref=ref if len(cnp.all_specs()) == 1 else f"{ref} {prefix}",
        subjects=subjects,
        default_deny_ingress=dd_in,
        default_deny_egress=dd_out,
        rules=tuple(rules),
    )


def _k8s_ports(ports: tuple[NetworkPolicyPort, ...] | None) -> tuple[PortMatch, ...] | None:
    if not ports:
        return None
    out = []
    for p in ports:
        if isinstance(p.port, str) and not p.port.isdigit():
            out.append(PortMatch(protocol=p.protocol.value, name=p.port))
        else:
            number = int(p.port) if p.port is not None else None
            out.append(PortMatch(protocol=p.protocol.value, port=number, end_port=p.end_port))
    return tuple(out)


def _k8s_peers(
    peers: tuple[NetworkPolicyPeer, ...] | None,
    bp: Blueprint,
    endpoints: Sequence[Endpoint],
    namespace: str,
) -> PeerSet:
    if not peers:
        return PeerSet(any_peer=True, endpoints=frozenset())
    matched: set[int] = set()
    external: list[str] = []
    for peer in peers:
        if peer.ip_block is not None:
            external.append(f"cidr:{peer.ip_block.cidr}")
            continue
        for ep in endpoints:
            if peer.namespace_selector is None:
                in_scope = ep.namespace == namespace
            else:
                in_scope = matches(peer.namespace_selector, bp.namespace_labels(ep.namespace))
            pod_ok = peer.pod_selector is None or matches(peer.pod_selector, ep.pod.labels)
            if in_scope and pod_ok:
                matched.add(ep.index)
    return PeerSet(any_peer=False, endpoints=frozenset(matched), external=tuple(external))


def _k8s_policy(np: NetworkPolicy, bp: Blueprint, endpoints: Sequence[Endpoint]) -> SelectedPolicy:
    namespace = np.metadata.namespace or "default"
    ref = f"NetworkPolicy {namespace}/{np.metadata.name}"
    subjects = frozenset(
        ep.index
        for ep in endpoints
        if ep.namespace == namespace and matches(np.spec.pod_selector, ep.pod.labels)
    )
    isolate_in, isolate_out = np.directions()
    rules: list[Rule] = []
    if isolate_in:
        for i, ing in enumerate(np.spec.ingress or ()):
            rules.append(
                Rule(
                    direction=Direction.INGRESS,
                    deny=False,
                    peers=_k8s_peers(ing.from_, bp, endpoints, namespace),
                    ports=_k8s_ports(ing.ports),
                    origin=f"{ref} spec.ingress[{i}]",
                )
            )
    if isolate_out:
        for i, eg in enumerate(np.spec.egress or ()):
            rules.append(
                Rule(
                    direction=Direction.EGRESS,
                    deny=False,
                    peers=_k8s_peers(eg.to, bp, endpoints, namespace),
                    ports=_k8s_ports(eg.ports),
                    origin=f"{ref} spec.egress[{i}]",
                )
            )
    return SelectedPolicy(
        ref=ref,
        subjects=subjects,
        default_deny_ingress=isolate_in,
        default_deny_egress=isolate_out,
        rules=tuple(rules),
    )


def normalize(bp: Blueprint, endpoints: Sequence[Endpoint] | None = None) -> PolicySet:
    """All NetworkPolicies and Cilium policies of ``bp``, resolved against its endpoints."""
    eps = list(endpoints) if endpoints is not None else endpoints_of(bp)
    policies: list[SelectedPolicy] = []
    for cnp in bp.cilium_policies:
        for s_index, spec in enumerate(cnp.all_specs()):
            policies.append(_cilium_policy(cnp, spec, s_index, eps))
    for np in bp.network_policies:
        policies.append(_k8s_policy(np, bp, eps))
    return PolicySet(tuple(policies))
