"""Unit tests for the sandbox plan and the nftables compiler (``gauntlet.targets.local``).

Blueprints are written as YAML into ``tmp_path`` and loaded through ``load_blueprint``, so the
tests go through the same path as a real GitOps directory. The compiled rulesets are checked
line by line, and (when ``nft`` is installed and we are root) syntax-checked by the kernel with
``nft -c`` inside a throwaway network namespace, which never touches the host's ruleset.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.policy import PolicySet, normalize
from gauntlet.targets.local.nftables import (
    CompileOptions,
    compile_policy,
    compile_services,
)
from gauntlet.targets.local.plan import SandboxPlan, make_plan
from policytables import cnp, deployment, namespace, netpol

NS_LABEL = "k8s:io.kubernetes.pod.namespace"
EGRESS_MARK = "meta mark set meta mark or 0x00000001"
INGRESS_MARK = "meta mark set meta mark or 0x00000002"

# -- blueprint builders --------------------------------------------------------------------

Manifest = dict[str, Any]
Port = tuple[int, str, str | None]  # (number, protocol, name)


def service(
    ns: str, name: str, selector: Mapping[str, str], ports: Sequence[Mapping[str, Any]]
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": dict(selector), "ports": [dict(p) for p in ports]},
    }


def to_ports(*items: tuple[int | str, str]) -> list[dict[str, Any]]:
    return [{"ports": [{"port": str(port), "protocol": proto} for port, proto in items]}]


def load(root: Path, objs: Iterable[Manifest]) -> Blueprint:
    root.mkdir(parents=True, exist_ok=True)
    (root / "blueprint.yaml").write_text(yaml.safe_dump_all(list(objs), sort_keys=False))
    return load_blueprint(root)


def compiled(bp: Blueprint) -> tuple[SandboxPlan, PolicySet]:
    plan = make_plan(bp)
    return plan, normalize(bp, plan.endpoints)


# -- ruleset readers -----------------------------------------------------------------------


def chain(ruleset: str, name: str) -> list[str]:
    """The rule lines of ``chain NAME { ... }`` (stripped)."""
    lines = ruleset.splitlines()
    start = lines.index(f"  chain {name} {{")
    body = []
    for line in lines[start + 1 :]:
        if line == "  }":
            return body
        body.append(line.strip())
    raise AssertionError(f"chain {name} is not closed")


def set_elements(ruleset: str, name: str) -> set[str]:
    match = re.search(
        rf"set {name} {{ type ipv4_addr;\n(?:\s*elements = {{ (?P<el>[^}}]*) }}\n)?\s*}}",
        ruleset,
    )
    assert match, f"set {name} not found in ruleset"
    return {e.strip() for e in (match.group("el") or "").split(",") if e.strip()}


def ipset(*ips: str) -> str:
    return "{ " + ", ".join(sorted(ips)) + " }"


# -- the small blueprint most tests use ----------------------------------------------------
#
#   a/client-0  10.244.0.2  8080 (unnamed)
#   a/web-0     10.244.0.3  8080 "http", 9090 "metrics"
#   a/web-1     10.244.0.4  8080 "http", 9090 "metrics"
#   b/other-0   10.244.0.5  8080 (unnamed)
#   c/free-0    10.244.0.6  7070 "http"   (no policy selects namespace c)

CLIENT, WEB0, WEB1, OTHER, FREE = (f"10.244.0.{i}" for i in range(2, 7))


def small_objects() -> list[Manifest]:
    return [
        namespace("a"),
        namespace("b"),
        namespace("c"),
        deployment(
            "a", "web", {"app": "web"}, [(8080, "TCP", "http"), (9090, "TCP", "metrics")], 2
        ),
        deployment("a", "client", {"app": "client"}, [(8080, "TCP", None)]),
        deployment("b", "other", {"app": "other"}, [(8080, "TCP", None)]),
        deployment("c", "free", {"app": "free"}, [(7070, "TCP", "http")]),
        cnp("a", "default-deny", {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}),
        cnp(
            "a",
            "web-ingress",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [
                    {
                        "fromEndpoints": [{"matchLabels": {"app": "client"}}],
                        "toPorts": to_ports((8080, "TCP")),
                    }
                ],
                "ingressDeny": [{"fromEndpoints": [{"matchLabels": {NS_LABEL: "b"}}]}],
            },
        ),
        cnp(
            "a",
            "client-egress",
            {
                "endpointSelector": {"matchLabels": {"app": "client"}},
                "egress": [
                    {
                        "toEndpoints": [{"matchLabels": {"app": "web"}}],
                        "toPorts": to_ports(("http", "TCP")),
                    }
                ],
                "egressDeny": [
                    {
                        "toEndpoints": [{"matchLabels": {NS_LABEL: "c"}}],
                        "toPorts": to_ports((7070, "TCP")),
                    }
                ],
            },
        ),
        service("a", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}]),
        service("a", "metrics", {"app": "web"}, [{"port": 9100, "targetPort": "metrics"}]),
        service("a", "orphan", {"app": "nobody"}, [{"port": 80, "targetPort": 8080}]),
    ]


@pytest.fixture
def small(tmp_path: Path) -> tuple[SandboxPlan, PolicySet]:
    return compiled(load(tmp_path / "small", small_objects()))


# -- plan ----------------------------------------------------------------------------------


def test_plan_assigns_addresses_in_endpoint_order(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, _ = small
    assert [(p.key, p.ip) for p in plan.pods] == [
        ("a/client-0", CLIENT),
        ("a/web-0", WEB0),
        ("a/web-1", WEB1),
        ("b/other-0", OTHER),
        ("c/free-0", FREE),
    ]
    assert plan.pod("a/web-1").tcp_ports == (8080, 9090)
    assert plan.pod("a/web-1").udp_ports == ()
    assert plan.ip_of()["b/other-0"] == OTHER
    with pytest.raises(KeyError):
        plan.pod("a/nope-0")


def test_plan_gives_services_vips_in_sorted_order(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, _ = small
    assert [(s.key, s.vip, s.port) for s in plan.services] == [
        ("a/metrics", "10.96.0.10", 9100),
        ("a/orphan", "10.96.0.11", 80),
        ("a/web", "10.96.0.12", 80),
    ]


def test_plan_resolves_named_target_port_per_backend(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, _ = small
    by_key = {s.key: s for s in plan.services}
    assert [(b.ip, b.port) for b in by_key["a/web"].backends] == [(WEB0, 8080), (WEB1, 8080)]
    assert [(b.ip, b.port) for b in by_key["a/metrics"].backends] == [(WEB0, 9090), (WEB1, 9090)]
    assert by_key["a/orphan"].backends == ()


def test_plan_is_deterministic(tmp_path: Path) -> None:
    one = make_plan(load(tmp_path / "one", small_objects()))
    two = make_plan(load(tmp_path / "two", list(reversed(small_objects()))))
    assert one.pods == two.pods
    assert one.services == two.services


# -- policy compiler -----------------------------------------------------------------------


def test_default_deny_subjects_land_in_enforced_sets(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(small[1], small[0])
    assert set_elements(ruleset, "enforced_in") == {CLIENT, WEB0, WEB1}
    assert set_elements(ruleset, "enforced_out") == {CLIENT, WEB0, WEB1}


def test_ingress_only_policy_enforces_ingress_only(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "web", {"app": "web"}, [(8080, "TCP", None)]),
        deployment("a", "client", {"app": "client"}, [(8080, "TCP", None)]),
        cnp(
            "a",
            "web-in",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}]}],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path, objs))
    ruleset = compile_policy(pset, plan)
    web = plan.pod("a/web-0").ip
    assert set_elements(ruleset, "enforced_in") == {web}
    assert set_elements(ruleset, "enforced_out") == set()
    # An L3-only allow (no toPorts): no port expression at all.
    assert chain(ruleset, "ingress_allow") == [
        f"ip daddr {{ {web} }} ip saddr {{ {plan.pod('a/client-0').ip} }} {INGRESS_MARK}"
    ]


def test_ingress_allow_rule_has_subject_peer_and_port(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(small[1], small[0])
    assert chain(ruleset, "ingress_allow") == [
        f"ip daddr {ipset(WEB0, WEB1)} ip saddr {ipset(CLIENT)} "
        f"meta l4proto tcp th dport 8080 {INGRESS_MARK}"
    ]


def test_egress_allow_rule_has_subject_as_saddr(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(small[1], small[0])
    (line,) = chain(ruleset, "egress_allow")
    assert line.startswith(f"ip saddr {ipset(CLIENT)} ip daddr {ipset(WEB0, WEB1)} ")
    assert line.endswith(EGRESS_MARK)


def test_named_port_resolves_to_address_port_pairs(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(small[1], small[0])
    (line,) = chain(ruleset, "egress_allow")
    # "http" is 8080 on both web pods: one (ip . port) pair per pod that owns the name.
    assert (
        f"meta l4proto tcp ip daddr . th dport {{ {WEB0} . 8080, {WEB1} . 8080 }} {EGRESS_MARK}"
        in line
    )


def test_named_port_resolves_per_pod_to_different_numbers(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "x", {"app": "srv", "v": "1"}, [(8080, "TCP", "web")]),
        deployment("a", "y", {"app": "srv", "v": "2"}, [(9000, "TCP", "web")]),
        deployment("a", "z", {"app": "srv", "v": "3"}, [(9000, "TCP", None)]),
        cnp(
            "a",
            "srv",
            {
                "endpointSelector": {"matchLabels": {"app": "srv"}},
                "ingress": [{"toPorts": to_ports(("web", "TCP"))}],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path, objs))
    x, y, z = (plan.pod(f"a/{n}-0").ip for n in "xyz")
    (line,) = chain(compile_policy(pset, plan), "ingress_allow")
    # Ingress toPorts without peers: any source, so no saddr; z has no port named "web".
    assert line == (
        f"ip daddr {ipset(x, y, z)} meta l4proto tcp "
        f"ip daddr . th dport {{ {x} . 8080, {y} . 9000 }} {INGRESS_MARK}"
    )


def test_named_port_nobody_owns_emits_no_rule(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "web", {"app": "web"}, [(8080, "TCP", "http")]),
        cnp(
            "a",
            "web",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"toPorts": to_ports(("grpc", "TCP"))}],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path, objs))
    ruleset = compile_policy(pset, plan)
    assert chain(ruleset, "ingress_allow") == []
    # The pod is still default-deny on ingress: nothing may reach it.
    assert set_elements(ruleset, "enforced_in") == {plan.pod("a/web-0").ip}


def test_deny_rules_go_to_deny_chains_with_drop(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(small[1], small[0])
    assert chain(ruleset, "ingress_deny") == [
        f"ip daddr {ipset(WEB0, WEB1)} ip saddr {ipset(OTHER)} "
        'drop comment "CiliumNetworkPolicy a/web-ingress spec.ingressDeny[0]"'
    ]
    assert chain(ruleset, "egress_deny") == [
        f"ip saddr {ipset(CLIENT)} ip daddr {ipset(FREE)} meta l4proto tcp th dport 7070 "
        'drop comment "CiliumNetworkPolicy a/client-egress spec.egressDeny[0]"'
    ]
    for name in ("ingress_allow", "egress_allow"):
        assert not any("drop" in line for line in chain(ruleset, name))
    for name in ("ingress_deny", "egress_deny"):
        assert not any("meta mark set" in line for line in chain(ruleset, name))


def test_forward_chain_checks_denies_before_allows(small: tuple[SandboxPlan, PolicySet]) -> None:
    forward = chain(compile_policy(small[1], small[0]), "forward")
    assert forward[0].startswith("type filter hook forward")
    assert forward[1] == "ct state established,related accept"
    order = [
        "jump egress_deny",
        "jump ingress_deny",
        "ip saddr @enforced_out jump egress_allow",
        "ip saddr @enforced_out meta mark and 0x00000001 == 0x0 drop",
        "ip daddr @enforced_in jump ingress_allow",
        "ip daddr @enforced_in meta mark and 0x00000002 == 0x0 drop",
    ]
    assert [line for line in forward if line in order] == order


def test_ruleset_replaces_previous_table_atomically(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(small[1], small[0])
    assert ruleset.splitlines()[:3] == [
        "table inet gauntlet {}",
        "delete table inet gauntlet",
        "table inet gauntlet {",
    ]
    assert ruleset.endswith("}\n")
    assert compile_policy(small[1], small[0]) == ruleset  # deterministic


def test_port_ranges_any_protocol_and_all_ports(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "web", {"app": "web"}, [(8080, "TCP", None), (53, "UDP", None)]),
        cnp(
            "a",
            "web",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [
                    {
                        "toPorts": [
                            {
                                "ports": [
                                    {"port": "8000", "endPort": 8100, "protocol": "TCP"},
                                    {"port": "53"},  # protocol defaults to ANY
                                    {"port": "0", "protocol": "SCTP"},  # 0: every port
                                ]
                            }
                        ]
                    }
                ],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path, objs))
    web = plan.pod("a/web-0").ip
    assert chain(compile_policy(pset, plan), "ingress_allow") == [
        f"ip daddr {{ {web} }} meta l4proto tcp th dport 8000-8100 {INGRESS_MARK}",
        f"ip daddr {{ {web} }} meta l4proto {{ sctp, tcp, udp }} th dport 53 {INGRESS_MARK}",
        f"ip daddr {{ {web} }} meta l4proto sctp {INGRESS_MARK}",
    ]


def test_kubernetes_networkpolicy_compiles(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "web", {"app": "web"}, [(8080, "TCP", "http")]),
        deployment("a", "client", {"app": "client"}, [(8080, "TCP", None)]),
        netpol(
            "a",
            "web",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
            },
        ),
        netpol(
            "a",
            "client",
            {
                "podSelector": {"matchLabels": {"app": "client"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path, objs))
    web, client = plan.pod("a/web-0").ip, plan.pod("a/client-0").ip
    ruleset = compile_policy(pset, plan)
    assert set_elements(ruleset, "enforced_in") == {web}
    assert set_elements(ruleset, "enforced_out") == {client}
    assert chain(ruleset, "ingress_allow") == [
        f"ip daddr {{ {web} }} meta l4proto tcp ip daddr . th dport {{ {web} . 8080 }} "
        f"{INGRESS_MARK}"
    ]
    assert chain(ruleset, "egress_allow") == [
        f"ip saddr {{ {client} }} ip daddr {{ {web} }} {EGRESS_MARK}"
    ]


def test_rules_with_no_pod_peers_emit_nothing(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "web", {"app": "web"}, [(8080, "TCP", None)]),
        cnp(
            "a",
            "web",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [
                    {"fromEntities": ["world"], "toPorts": to_ports((8080, "TCP"))},
                    {"fromEndpoints": [{"matchLabels": {"app": "nobody"}}]},
                ],
                "egress": [{"toCIDR": ["192.0.2.0/24"]}],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path, objs))
    ruleset = compile_policy(pset, plan)
    web = plan.pod("a/web-0").ip
    assert set_elements(ruleset, "enforced_in") == {web}
    assert set_elements(ruleset, "enforced_out") == {web}
    for name in ("ingress_allow", "egress_allow", "ingress_deny", "egress_deny"):
        assert chain(ruleset, name) == []


# -- compile options (selfcheck faults) ----------------------------------------------------


def test_unenforced_pod_leaves_sets_and_rule_subjects(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, pset = small
    ruleset = compile_policy(pset, plan, CompileOptions(unenforced=frozenset({"a/web-0"})))
    assert set_elements(ruleset, "enforced_in") == {CLIENT, WEB1}
    assert set_elements(ruleset, "enforced_out") == {CLIENT, WEB1}
    # web-0 is gone as a subject (daddr of its own ingress rules) ...
    assert chain(ruleset, "ingress_allow") == [
        f"ip daddr {ipset(WEB1)} ip saddr {ipset(CLIENT)} meta l4proto tcp th dport 8080 "
        f"{INGRESS_MARK}"
    ]
    assert chain(ruleset, "ingress_deny")[0].startswith(f"ip daddr {ipset(WEB1)} ip saddr ")
    # ... but other pods' rules still name it as a peer.
    (egress,) = chain(ruleset, "egress_allow")
    assert f"ip daddr {ipset(WEB0, WEB1)}" in egress


def test_unenforced_only_subject_drops_the_rule(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, pset = small
    ruleset = compile_policy(pset, plan, CompileOptions(unenforced=frozenset({"a/client-0"})))
    assert CLIENT not in set_elements(ruleset, "enforced_in")
    assert CLIENT not in set_elements(ruleset, "enforced_out")
    assert chain(ruleset, "egress_allow") == []
    assert chain(ruleset, "egress_deny") == []
    assert len(chain(ruleset, "ingress_allow")) == 1  # web's ingress allow from client stays


def test_disabled_yields_empty_sets_and_chains(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, pset = small
    ruleset = compile_policy(pset, plan, CompileOptions(disabled=True))
    assert set_elements(ruleset, "enforced_in") == set()
    assert set_elements(ruleset, "enforced_out") == set()
    for name in ("ingress_allow", "egress_allow", "ingress_deny", "egress_deny"):
        assert chain(ruleset, name) == []
    assert "elements" not in ruleset


def test_no_policies_means_nothing_enforced(small: tuple[SandboxPlan, PolicySet]) -> None:
    ruleset = compile_policy(PolicySet(()), small[0])
    assert set_elements(ruleset, "enforced_in") == set()
    assert set_elements(ruleset, "enforced_out") == set()


# -- service translation -------------------------------------------------------------------


def test_services_translate_vip_to_backends(small: tuple[SandboxPlan, PolicySet]) -> None:
    plan, _ = small
    ruleset = compile_services(plan.services)
    lines = ruleset.splitlines()
    assert lines[:3] == [
        "table ip gauntlet_svc {}",
        "delete table ip gauntlet_svc",
        "table ip gauntlet_svc {",
    ]
    assert "    type nat hook output priority -100; policy accept;" in lines
    dnat = [line.strip() for line in lines if "dnat" in line]
    assert dnat == [
        "ip daddr 10.96.0.10 tcp dport 9100 dnat ip to numgen random mod 2 "
        f"map {{ 0 : {WEB0} . 9090, 1 : {WEB1} . 9090 }}",
        "ip daddr 10.96.0.12 tcp dport 80 dnat ip to numgen random mod 2 "
        f"map {{ 0 : {WEB0} . 8080, 1 : {WEB1} . 8080 }}",
    ]
    # The orphan service (10.96.0.11) has no backends and gets no rule.
    assert "10.96.0.11" not in ruleset


def test_service_named_target_port_differs_per_backend(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment("a", "v1", {"app": "web", "v": "1"}, [(8080, "TCP", "http")]),
        deployment("a", "v2", {"app": "web", "v": "2"}, [(8443, "TCP", "http")]),
        deployment("a", "v3", {"app": "web", "v": "3"}, [(8080, "TCP", None)]),
        deployment("a", "dns", {"app": "dns"}, [(5353, "UDP", "dns"), (5353, "TCP", "dns-tcp")]),
        service("a", "web", {"app": "web"}, [{"port": 80, "targetPort": "http"}]),
        service("a", "dns", {"app": "dns"}, [{"port": 53, "targetPort": "dns", "protocol": "UDP"}]),
    ]
    plan = make_plan(load(tmp_path, objs))
    web = next(s for s in plan.services if s.key == "a/web")
    # v3 has no port named "http": it is not a backend of the named target port.
    assert [(b.ip, b.port) for b in web.backends] == [
        (plan.pod("a/v1-0").ip, 8080),
        (plan.pod("a/v2-0").ip, 8443),
    ]
    dns = next(s for s in plan.services if s.key == "a/dns")
    assert dns.protocol == "UDP"
    assert [(b.ip, b.port) for b in dns.backends] == [(plan.pod("a/dns-0").ip, 5353)]
    ruleset = compile_services(plan.services)
    assert f"ip daddr {dns.vip} udp dport 53 dnat ip to numgen random mod 1 " in ruleset


def test_services_without_any_backend_compile_to_an_empty_chain() -> None:
    ruleset = compile_services([])
    assert "dnat" not in ruleset
    assert ruleset.endswith("  }\n}\n")


# -- known bug -----------------------------------------------------------------------------


def any_protocol_named_port_objects() -> list[Manifest]:
    """CoreDNS-shaped pod: UDP 53 named "dns", TCP 53 named "dns-tcp".

    The policy allows ``port: dns`` with the protocol left out (Cilium's default ANY). Cilium
    expands ANY per protocol and resolves the name per protocol, and so does the oracle: UDP 53
    is allowed, TCP 53 (named "dns-tcp") is not.
    """
    return [
        namespace("a"),
        deployment("a", "dns", {"app": "dns"}, [(53, "UDP", "dns"), (53, "TCP", "dns-tcp")]),
        deployment("a", "client", {"app": "client"}, [(8080, "TCP", None)]),
        cnp(
            "a",
            "dns",
            {
                "endpointSelector": {"matchLabels": {"app": "dns"}},
                "ingress": [
                    {
                        "fromEndpoints": [{"matchLabels": {"app": "client"}}],
                        "toPorts": [{"ports": [{"port": "dns"}]}],
                    }
                ],
            },
        ),
    ]


def test_oracle_allows_any_protocol_named_port_only_on_its_protocol(tmp_path: Path) -> None:
    from gauntlet.oracle import compute_truth_table

    table = compute_truth_table(load(tmp_path, any_protocol_named_port_objects()))
    allowed = {e.cell.id: e.allowed for e in table.expectations}
    assert allowed["a/client-0->a/dns-0:53/UDP"] is True
    assert allowed["a/client-0->a/dns-0:53/TCP"] is False


def test_any_protocol_named_port_opens_only_the_named_protocol(tmp_path: Path) -> None:
    plan, pset = compiled(load(tmp_path, any_protocol_named_port_objects()))
    dns = plan.pod("a/dns-0").ip
    lines = [line for line in chain(compile_policy(pset, plan), "ingress_allow") if dns in line]
    assert lines, "the UDP 53 allow must be compiled"
    for line in lines:
        assert "tcp" not in line, f"TCP 53 is not named 'dns' but this rule opens it: {line}"


# -- kernel syntax check (nft -c in a throwaway network namespace) -------------------------

needs_nft = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None,
    reason="nft -c needs root, nft and unshare",
)


def nft_check(tmp_path: Path, ruleset: str, name: str = "ruleset.nft") -> None:
    path = tmp_path / name
    path.write_text(ruleset)
    proc = subprocess.run(
        ["unshare", "-n", "nft", "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, f"nft -c rejected {name}:\n{proc.stderr}\n---\n{ruleset}"


@needs_nft
def test_nft_check_has_teeth(tmp_path: Path, small: tuple[SandboxPlan, PolicySet]) -> None:
    broken = compile_policy(small[1], small[0]).replace(" drop comment", " dorp comment")
    with pytest.raises(AssertionError, match="syntax error"):
        nft_check(tmp_path, broken)


@needs_nft
@pytest.mark.parametrize(
    "options",
    [
        CompileOptions(),
        CompileOptions(unenforced=frozenset({"a/web-0", "a/client-0"})),
        CompileOptions(disabled=True),
    ],
    ids=["default", "unenforced", "disabled"],
)
def test_nft_accepts_small_policy(
    tmp_path: Path, small: tuple[SandboxPlan, PolicySet], options: CompileOptions
) -> None:
    nft_check(tmp_path, compile_policy(small[1], small[0], options))


@needs_nft
def test_nft_accepts_small_services(tmp_path: Path, small: tuple[SandboxPlan, PolicySet]) -> None:
    nft_check(tmp_path, compile_services(small[0].services))
    nft_check(tmp_path, compile_services([]), "empty.nft")


@needs_nft
def test_nft_accepts_ranges_any_and_sctp(tmp_path: Path) -> None:
    objs = [
        namespace("a"),
        deployment(
            "a",
            "web",
            {"app": "web"},
            [(8080, "TCP", "http"), (53, "UDP", "dns"), (5000, "SCTP", "sc")],
        ),
        deployment("a", "client", {"app": "client"}, [(8080, "TCP", None)]),
        cnp(
            "a",
            "web",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [
                    {
                        "toPorts": [
                            {
                                "ports": [
                                    {"port": "8000", "endPort": 8100, "protocol": "TCP"},
                                    {"port": "dns", "protocol": "ANY"},
                                    {"port": "0", "protocol": "SCTP"},
                                ]
                            }
                        ]
                    }
                ],
                "ingressDeny": [{"toPorts": to_ports((9999, "UDP"))}],
                "egress": [{"toPorts": [{"ports": [{"port": "http"}]}]}],
                "egressDeny": [{"toEndpoints": [{"matchLabels": {"app": "client"}}]}],
            },
        ),
    ]
    plan, pset = compiled(load(tmp_path / "bp", objs))
    nft_check(tmp_path, compile_policy(pset, plan))


@pytest.fixture(scope="module")
def reference() -> tuple[SandboxPlan, PolicySet]:
    return compiled(with_outsider(load_blueprint(REFERENCE_PLATFORM)))


def test_reference_blueprint_compiles(reference: tuple[SandboxPlan, PolicySet]) -> None:
    plan, pset = reference
    ruleset = compile_policy(pset, plan)
    ips = plan.ip_of()
    everyone = set(ips.values())
    outsider = ips["gauntlet-probe/outsider-0"]
    # Every pod except Gauntlet's outsider is default-deny in both directions.
    assert set_elements(ruleset, "enforced_in") == everyone - {outsider}
    assert set_elements(ruleset, "enforced_out") == everyone - {outsider}
    # The one cross-tenant flow: team-beta's client into team-alpha's api on 8080.
    alpha_api = ipset(ips["team-alpha/api-0"], ips["team-alpha/api-1"])
    assert (
        f"ip daddr {alpha_api} ip saddr {ipset(ips['team-beta/client-0'])} "
        f"meta l4proto tcp th dport 8080 {INGRESS_MARK}"
    ) in chain(ruleset, "ingress_allow")
    services = compile_services(plan.services)
    assert services.count("dnat") == sum(1 for s in plan.services if s.backends)


@needs_nft
def test_nft_accepts_reference_blueprint(
    tmp_path: Path, reference: tuple[SandboxPlan, PolicySet]
) -> None:
    plan, pset = reference
    nft_check(tmp_path, compile_policy(pset, plan), "policy.nft")
    nft_check(tmp_path, compile_services(plan.services), "services.nft")
    first_pod = sorted(k for k in plan.ip_of() if k.startswith("team-alpha/"))[0]
    nft_check(
        tmp_path, compile_policy(pset, plan, CompileOptions(unenforced=frozenset({first_pod})))
    )
    nft_check(tmp_path, compile_policy(pset, plan, CompileOptions(disabled=True)), "off.nft")
