"""Properties of the connectivity oracle over random small blueprints (hypothesis).

Blueprints have 2-3 namespaces, 2-5 pods with labels from a small alphabet, 1-2 ports each, and
0-4 random CiliumNetworkPolicies, CiliumClusterwideNetworkPolicies and NetworkPolicies. The
properties are the algebra every correct oracle obeys: allows only add, denies only remove, no
policy means all open, one cell per (source, destination, declared port), determinism.

Where a property needs to know which pods a policy selects, the test computes it with its own
tiny selector matcher (not the oracle's), so the property checks the oracle rather than itself.
Cilium confines a CNP's endpointSelector to the policy's namespace whatever namespace label it
names; the matcher here ignores such labels, which over-approximates the selected pods (that is
all property (b) needs).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.oracle import TruthTable, compute_truth_table
from policytables import (
    NS_LABEL,
    Manifest,
    allowed_set,
    ccnp,
    cnp,
    deployment,
    namespace,
    netpol,
    write_blueprint,
)

SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)

NAMESPACES = ("ns-a", "ns-b", "ns-c")
LABEL_KEYS = ("app", "tier")
LABEL_VALUES = ("x", "y", "z")
NS_LABEL_VALUES = ("prod", "dev")
PORTS = ((80, "TCP", "web"), (8080, "TCP", "http"), (53, "UDP", "dns"), (53, "TCP", "dns-tcp"))
EXTRA = "zz-extra"  # name of the policy a property adds

# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

# Pools drawn with one choice each: the space stays the same small alphabet, and generating
# 150 blueprints per property stays cheap (the whole file must run in a few seconds).
LABEL_SETS: tuple[dict[str, str], ...] = (
    {},
    *({k: v} for k in LABEL_KEYS for v in LABEL_VALUES),
    *({"app": a, "tier": t} for a in LABEL_VALUES for t in LABEL_VALUES),
)
REQUIREMENTS: tuple[dict[str, Any], ...] = tuple(
    [{"key": k, "operator": op} for k in LABEL_KEYS for op in ("Exists", "DoesNotExist")]
    + [
        {"key": k, "operator": op, "values": list(values)}
        for k in LABEL_KEYS
        for op in ("In", "NotIn")
        for values in (("x",), ("y",), ("x", "z"))
    ]
)

PORT_SETS: tuple[tuple[tuple[int, str, str], ...], ...] = tuple(
    [(p,) for p in PORTS] + [(a, b) for i, a in enumerate(PORTS) for b in PORTS[i + 1 :]]
)

NAMESPACE_SETS = (NAMESPACES[:2], NAMESPACES[1:], (NAMESPACES[0], NAMESPACES[2]), NAMESPACES)
NS_LABEL_SETS: tuple[dict[str, str], ...] = ({}, *({"env": v} for v in NS_LABEL_VALUES))

labels_st = st.sampled_from(LABEL_SETS)
requirement_st = st.sampled_from(REQUIREMENTS)


@st.composite
def selector_st(draw: st.DrawFn, *, with_namespace: bool, prefixed: bool = False) -> dict[str, Any]:
    """A label selector on the pod alphabet; optionally pinned to namespaces by label."""
    match = dict(draw(labels_st))
    if prefixed and match and draw(st.booleans()):
        match = {f"k8s:{k}": v for k, v in match.items()}
    out: dict[str, Any] = {}
    exprs = [dict(draw(requirement_st))] if draw(st.integers(0, 3)) == 0 else []
    if with_namespace and draw(st.booleans()):
        if draw(st.booleans()):
            match[NS_LABEL] = draw(st.sampled_from(NAMESPACES))
        else:
            values = draw(st.lists(st.sampled_from(NAMESPACES), min_size=1, max_size=2))
            exprs.append({"key": NS_LABEL, "operator": "In", "values": values})
    if match:
        out["matchLabels"] = match
    if exprs:
        out["matchExpressions"] = exprs
    return out


def _with_protocol(entry: dict[str, Any], protocol: str | None) -> dict[str, Any]:
    return {**entry, "protocol": protocol} if protocol else dict(entry)


# Cilium toPorts entries: numbers, names (one unknown), a range, port 0 (= all), each protocol.
CILIUM_PORTS: tuple[dict[str, Any], ...] = tuple(
    _with_protocol(entry, protocol)
    for entry in (
        *({"port": p} for p in ("80", "8080", "53", "9999", "0")),
        *({"port": n} for n in ("web", "http", "dns", "dns-tcp", "nope")),
        {"port": "53", "endPort": 80},
        {"port": "53", "endPort": 8080},
    )
    for protocol in (None, "TCP", "UDP", "ANY")
)
# NetworkPolicy ports: numbers, names, a range, protocol only.
NETPOL_PORTS: tuple[dict[str, Any], ...] = tuple(
    _with_protocol(entry, protocol)
    for entry in (
        *({"port": p} for p in (80, 8080, 53)),
        *({"port": n} for n in ("web", "http", "dns")),
        {"port": 53, "endPort": 8080},
        {},
    )
    for protocol in (None, "TCP", "UDP")
)


@st.composite
def cilium_port_rule_st(draw: st.DrawFn, *, l7: bool) -> list[dict[str, Any]]:
    rule: dict[str, Any] = {
        "ports": draw(st.lists(st.sampled_from(CILIUM_PORTS), min_size=1, max_size=2))
    }
    if l7 and draw(st.integers(0, 4)) == 0:
        rule["rules"] = {"http": [{"method": "GET", "path": "/public"}]}
    return [rule]


@st.composite
def cilium_rule_st(draw: st.DrawFn, *, ingress: bool, deny: bool) -> dict[str, Any]:
    side = "from" if ingress else "to"
    shape = draw(st.sampled_from(("empty", "endpoints", "entities", "ports", "cidr")))
    rule: dict[str, Any] = {}
    if shape == "endpoints":
        rule[f"{side}Endpoints"] = draw(
            st.lists(selector_st(with_namespace=True, prefixed=True), min_size=1, max_size=2)
        )
    elif shape == "entities":
        rule[f"{side}Entities"] = draw(
            st.lists(st.sampled_from(("cluster", "world", "all", "host")), min_size=1, max_size=2)
        )
    elif shape == "cidr":
        rule[f"{side}CIDR"] = ["10.0.0.0/8"]
    if shape == "ports" or (shape != "empty" and draw(st.booleans())):
        rule["toPorts"] = draw(cilium_port_rule_st(l7=not deny))
    return rule


@st.composite
def cilium_spec_st(
    draw: st.DrawFn,
    *,
    clusterwide: bool,
    allow_only: bool = False,
    deny_only: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"endpointSelector": draw(selector_st(with_namespace=True))}
    sections = []
    if not deny_only:
        sections += [("ingress", True, False), ("egress", False, False)]
    if not allow_only:
        sections += [("ingressDeny", True, True), ("egressDeny", False, True)]
    for name, ingress, deny in sections:
        if draw(st.booleans()):
            rules = st.lists(cilium_rule_st(ingress=ingress, deny=deny), min_size=1, max_size=2)
            spec[name] = draw(rules)
    if allow_only:
        spec["enableDefaultDeny"] = {"ingress": False, "egress": False}
    elif draw(st.integers(0, 3)) == 0:
        spec["enableDefaultDeny"] = {
            "ingress": draw(st.booleans()),
            "egress": draw(st.booleans()),
        }
    return spec


@st.composite
def netpol_peer_st(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(("pod", "ns", "both", "ipblock")))
    peer: dict[str, Any] = {}
    if shape in ("pod", "both"):
        peer["podSelector"] = draw(selector_st(with_namespace=False))
    if shape in ("ns", "both"):
        ns_sel = draw(
            st.sampled_from(
                (
                    {},
                    {"matchLabels": {"env": "prod"}},
                    {"matchLabels": {"kubernetes.io/metadata.name": "ns-a"}},
                    {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]},
                )
            )
        )
        peer["namespaceSelector"] = ns_sel
    if shape == "ipblock":
        peer["ipBlock"] = {"cidr": "10.0.0.0/8"}
    return peer


@st.composite
def netpol_rule_st(draw: st.DrawFn, *, ingress: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule["from" if ingress else "to"] = draw(st.lists(netpol_peer_st(), max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(st.lists(st.sampled_from(NETPOL_PORTS), min_size=1, max_size=2))
    return rule


@st.composite
def netpol_spec_st(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selector_st(with_namespace=False))}
    types = draw(st.sampled_from((None, ["Ingress"], ["Egress"], ["Ingress", "Egress"])))
    if types is not None:
        spec["policyTypes"] = types
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(netpol_rule_st(ingress=True), max_size=2))
    if draw(st.booleans()):
        spec["egress"] = draw(st.lists(netpol_rule_st(ingress=False), max_size=2))
    return spec


@dataclass(frozen=True)
class PodSpec:
    namespace: str
    deployment: str
    labels: Mapping[str, str]
    ports: tuple[tuple[int, str, str], ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.deployment}-0"


@dataclass(frozen=True)
class Scenario:
    namespaces: dict[str, dict[str, str]]
    pods: tuple[PodSpec, ...]
    policies: tuple[Manifest, ...]

    def manifests(self, *extra: Manifest) -> list[Manifest]:
        objs = [namespace(ns, labels) for ns, labels in self.namespaces.items()]
        objs += [deployment(p.namespace, p.deployment, p.labels, ports=p.ports) for p in self.pods]
        return objs + list(self.policies) + list(extra)


@st.composite
def policy_st(draw: st.DrawFn, namespaces: list[str], index: int) -> Manifest:
    kind = draw(st.sampled_from(("cnp", "cnp", "ccnp", "netpol")))
    name = f"p{index}"
    if kind == "ccnp":
        return ccnp(name, draw(cilium_spec_st(clusterwide=True)))
    ns = draw(st.sampled_from(namespaces))
    if kind == "cnp":
        return cnp(ns, name, draw(cilium_spec_st(clusterwide=False)))
    return netpol(ns, name, draw(netpol_spec_st()))


@st.composite
def scenario_st(draw: st.DrawFn, *, max_policies: int = 4) -> Scenario:
    ns_names = list(draw(st.sampled_from(NAMESPACE_SETS)))
    ns_labels = {ns: dict(draw(st.sampled_from(NS_LABEL_SETS))) for ns in ns_names}
    pods = []
    for i in range(draw(st.integers(2, 5))):
        ports = draw(st.sampled_from(PORT_SETS))
        pods.append(
            PodSpec(
                namespace=draw(st.sampled_from(ns_names)),
                deployment=f"d{i}",
                labels=draw(labels_st),
                ports=tuple(ports),
            )
        )
    n_policies = draw(st.integers(0, max_policies))
    policies = tuple(draw(policy_st(ns_names, i)) for i in range(n_policies))
    return Scenario(ns_labels, tuple(pods), policies)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _load(objs: list[Manifest]) -> Blueprint:
    with tempfile.TemporaryDirectory(prefix="gauntlet-prop-") as tmp:
        return load_blueprint(write_blueprint(Path(tmp), objs))


def _without_policy(bp: Blueprint, name: str) -> Blueprint:
    return dataclasses.replace(
        bp,
        cilium_policies=[p for p in bp.cilium_policies if p.metadata.name != name],
        network_policies=[p for p in bp.network_policies if p.metadata.name != name],
    )


def _strip(key: str) -> str:
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """matchLabels AND matchExpressions, per apimachinery (NotIn/DoesNotExist match absence)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(_strip(key)) != value:
            return False
    for req in selector.get("matchExpressions", []):
        key, op = _strip(req["key"]), req["operator"]
        present = key in labels
        value = labels.get(key)
        ok = {
            "In": present and value in req.get("values", []),
            "NotIn": not present or value not in req.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def _without_namespace_label(selector: Mapping[str, Any]) -> dict[str, Any]:
    ns_key = _strip(NS_LABEL)
    return {
        "matchLabels": {
            k: v for k, v in selector.get("matchLabels", {}).items() if _strip(k) != ns_key
        },
        "matchExpressions": [
            r for r in selector.get("matchExpressions", []) if _strip(r["key"]) != ns_key
        ],
    }


def _selected_pods(policy: Manifest, pods: tuple[PodSpec, ...]) -> set[str]:
    """Pods a policy may select (for a CNP: a superset, namespace labels ignored)."""
    kind, spec = policy["kind"], policy["spec"]
    if kind == "CiliumClusterwideNetworkPolicy":
        return {
            p.key
            for p in pods
            if _selects(spec["endpointSelector"], {**p.labels, _strip(NS_LABEL): p.namespace})
        }
    ns = policy["metadata"]["namespace"]
    if kind == "CiliumNetworkPolicy":
        selector = _without_namespace_label(spec["endpointSelector"])
    else:
        selector = spec["podSelector"]
    return {p.key for p in pods if p.namespace == ns and _selects(selector, p.labels)}


def _mentions_egress(policy: Manifest) -> bool:
    """Could this policy restrict its subjects' egress? (Deliberately generous.)"""
    spec = policy["spec"]
    if policy["kind"] == "NetworkPolicy":
        return "egress" in spec or "Egress" in spec.get("policyTypes", [])
    dd = spec.get("enableDefaultDeny", {})
    return "egress" in spec or "egressDeny" in spec or bool(dd.get("egress"))


def _signature(table: TruthTable) -> list[tuple[str, bool, str, Any]]:
    return [
        (e.cell.id, e.allowed, e.reason, e.l7_egress, e.l7_ingress, e.l7_proxied)
        for e in table.expectations
    ]


def _check_with_extra(
    scenario: Scenario, extra: Manifest, relation: Callable[[set[Any], set[Any]], bool]
) -> None:
    extended = _load(scenario.manifests(extra))
    before = allowed_set(compute_truth_table(_without_policy(extended, EXTRA)))
    after = allowed_set(compute_truth_table(extended))
    assert relation(before, after), (sorted(before - after), sorted(after - before))


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@st.composite
def extra_allow_st(draw: st.DrawFn, namespaces: list[str]) -> Manifest:
    """A policy with allow rules only and enableDefaultDeny false in both directions."""
    if draw(st.booleans()):
        return ccnp(EXTRA, draw(cilium_spec_st(clusterwide=True, allow_only=True)))
    ns = draw(st.sampled_from(namespaces))
    return cnp(ns, EXTRA, draw(cilium_spec_st(clusterwide=False, allow_only=True)))


@st.composite
def extra_deny_st(draw: st.DrawFn, namespaces: list[str]) -> Manifest:
    """A policy with deny rules only (its enableDefaultDeny is random)."""
    clusterwide = draw(st.booleans())
    spec = draw(cilium_spec_st(clusterwide=clusterwide, deny_only=True))
    if "ingressDeny" not in spec and "egressDeny" not in spec:
        spec["ingressDeny"] = [draw(cilium_rule_st(ingress=True, deny=True))]
    if clusterwide:
        return ccnp(EXTRA, spec)
    return cnp(draw(st.sampled_from(namespaces)), EXTRA, spec)


@SETTINGS
@given(data=st.data())
def test_adding_an_allow_policy_never_removes_an_allowed_cell(data: st.DataObject) -> None:
    """(a) Allows are unions: a default-allow policy with allow rules only can only add cells."""
    scenario = data.draw(scenario_st())
    extra = data.draw(extra_allow_st(list(scenario.namespaces)))
    _check_with_extra(scenario, extra, lambda before, after: before <= after)


@SETTINGS
@given(scenario=scenario_st())
def test_unselected_pod_is_reachable_from_every_unrestricted_source(scenario: Scenario) -> None:
    """(b) A pod no policy selects accepts every port from every pod whose egress no policy
    restricts."""
    bp = _load(scenario.manifests())
    selected: set[str] = set()
    egress_restricted: set[str] = set()
    for policy in scenario.policies:
        subjects = _selected_pods(policy, scenario.pods)
        selected |= subjects
        if _mentions_egress(policy):
            egress_restricted |= subjects
    lookup = compute_truth_table(bp).lookup()
    for dst in scenario.pods:
        if dst.key in selected:
            continue
        for src in scenario.pods:
            if src.key == dst.key or src.key in egress_restricted:
                continue
            for port, protocol, _ in dst.ports:
                exp = lookup[f"{src.key}->{dst.key}:{port}/{protocol}"]
                assert exp.allowed, exp.reason


@SETTINGS
@given(data=st.data())
def test_adding_a_deny_policy_never_adds_an_allowed_cell(data: st.DataObject) -> None:
    """(c) Deny rules only ever remove cells (deny wins; a deny-only policy may also switch on
    default-deny, which removes more)."""
    scenario = data.draw(scenario_st())
    extra = data.draw(extra_deny_st(list(scenario.namespaces)))
    _check_with_extra(scenario, extra, lambda before, after: after <= before)


@SETTINGS
@given(scenario=scenario_st())
def test_without_policies_every_cell_is_allowed(scenario: Scenario) -> None:
    """(d) No policy selects anything: Cilium's default mode allows all traffic."""
    bp = _load(scenario.manifests())
    bare = dataclasses.replace(bp, cilium_policies=[], network_policies=[])
    table = compute_truth_table(bare)
    assert table.expectations
    assert all(e.allowed for e in table.expectations)
    assert all(
        e.l7_egress is None and e.l7_ingress is None and not e.l7_proxied
        for e in table.expectations
    )


@SETTINGS
@given(scenario=scenario_st())
def test_matrix_has_one_cell_per_source_destination_and_declared_port(
    scenario: Scenario,
) -> None:
    """(e) Cells = sum over ordered pairs (src != dst) of dst's distinct (port, protocol)."""
    table = compute_truth_table(_load(scenario.manifests()))
    n = len(scenario.pods)
    expected = sum(len({(port, proto) for port, proto, _ in dst.ports}) for dst in scenario.pods)
    assert len(table.expectations) == expected * (n - 1)
    ids = [e.cell.id for e in table.expectations]
    assert len(set(ids)) == len(ids)
    assert {e.cell.src for e in table.expectations} <= {p.key for p in scenario.pods}
    assert all(e.cell.src != e.cell.dst for e in table.expectations)


@SETTINGS
@given(scenario=scenario_st())
def test_truth_table_is_deterministic(scenario: Scenario) -> None:
    """(f) Same blueprint, same table when computed twice; and the verdicts do not depend on
    the order in which the policies were declared."""
    bp = _load(scenario.manifests())
    table = compute_truth_table(bp)
    assert _signature(table) == _signature(compute_truth_table(bp))
    shuffled = dataclasses.replace(
        bp,
        cilium_policies=bp.cilium_policies[::-1],
        network_policies=bp.network_policies[::-1],
    )
    assert allowed_set(compute_truth_table(shuffled)) == allowed_set(table)


# Not one of the core algebraic properties above; fewer examples keep the file fast.
@settings(derandomize=True, max_examples=60, deadline=None)
@given(data=st.data())
def test_clusterwide_deny_all_isolates_its_subjects(data: st.DataObject) -> None:
    """Deny wins over every allow of every kind: a CCNP ``ingressDeny: [{fromEntities: [all]}]``
    leaves no allowed cell into the pods it selects, whatever else the blueprint says."""
    scenario = data.draw(scenario_st())
    selector = data.draw(selector_st(with_namespace=True))
    extra = ccnp(EXTRA, {"endpointSelector": selector, "ingressDeny": [{"fromEntities": ["all"]}]})
    bp = _load(scenario.manifests(extra))
    subjects = _selected_pods(extra, scenario.pods)
    for exp in compute_truth_table(bp).expectations:
        if exp.cell.dst in subjects:
            assert not exp.allowed, exp.cell.id
            assert exp.ingress_reason.startswith("denied by "), exp.cell.id
