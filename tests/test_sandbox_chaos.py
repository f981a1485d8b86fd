"""Chaos faults on the local sandbox: node placement and the chaos nftables rules (unit), then
each fault injected into a real sandbox, its effect observed with probes, reverted, and the
recovery observed (e2e, one sandbox for the module; planted selfcheck faults on a second one).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.base import (
    HttpRequest,
    NotSupportedByTarget,
    Outcome,
    PlantedFault,
    PodStatus,
    ProbeMode,
    ProbeRequest,
    Target,
    TargetError,
)
from gauntlet.targets.local.chaos import SandboxChaos
from gauntlet.targets.local.nftables import (
    CHAOS_PRIORITY,
    chaos_table,
    delete_table_ruleset,
    loss_ruleset,
    partition_ruleset,
)
from gauntlet.targets.local.plan import NODES, assign_nodes, make_plan
from gauntlet.targets.local.sandbox import LocalSandbox
from policytables import cnp, deployment, load, namespace, ports, sel
from test_admission_chain import DEPLOYER, pod
from test_e2e_sandbox import _REASON


def fault(fault_id: str, **params: str) -> PlantedFault:
    return PlantedFault(fault_id, "", tuple(params.items()))


# -- unit: node placement ---------------------------------------------------------------------


def test_replicas_of_a_workload_go_to_different_nodes_then_the_least_loaded() -> None:
    placed = assign_nodes(["a/web", "a/web", "a/web", "a/db", "b/web", "b/web"])
    assert placed[:3] == list(NODES)
    # a/db: every node holds one pod; the first by name wins the tie.
    assert placed[3] == NODES[0]
    # b/web: the least loaded nodes first.
    assert placed[4:] == [NODES[1], NODES[2]]
    assert assign_nodes(["a/web"] * 7) == [*NODES, *NODES, NODES[0]]


def test_the_reference_platform_spreads_every_workload_deterministically() -> None:
    bp = with_outsider(load_blueprint(REFERENCE_PLATFORM))
    plan = make_plan(bp)
    assert plan == make_plan(bp)
    by_workload: dict[str, list[str]] = {}
    for ep, p in zip(plan.endpoints, plan.pods, strict=True):
        by_workload.setdefault(f"{p.namespace}/{ep.pod.deployment}", []).append(p.node)
    for workload, nodes in by_workload.items():
        assert len(set(nodes)) == len(nodes), workload
    load_per_node = Counter(p.node for p in plan.pods)
    assert set(load_per_node) == set(NODES)
    assert max(load_per_node.values()) - min(load_per_node.values()) <= 1


# -- unit: chaos rules --------------------------------------------------------------------------


def test_partition_drops_both_ways_in_a_table_of_its_own_before_the_policy() -> None:
    ruleset = partition_ruleset(chaos_table(3), ["10.244.0.2", "10.244.0.3"], ["10.244.0.9"])
    assert ruleset.startswith(
        "table inet gauntlet_chaos_3 {}\ndelete table inet gauntlet_chaos_3\n"
    )
    assert "elements = { 10.244.0.2, 10.244.0.3 }" in ruleset
    assert "ip saddr @side_a ip daddr @side_b drop" in ruleset
    assert "ip saddr @side_b ip daddr @side_a drop" in ruleset
    # The policy table's forward chain runs at priority filter (0): the partition runs first.
    assert f"type filter hook forward priority {CHAOS_PRIORITY};" in ruleset
    assert CHAOS_PRIORITY < 0
    assert "table inet gauntlet " not in ruleset


def test_loss_draws_once_per_packet_to_or_from_the_pods() -> None:
    ruleset = loss_ruleset(chaos_table(1), ["10.244.0.5"], 12.5)
    assert "ip saddr @lossy goto loss" in ruleset
    assert "ip daddr @lossy goto loss" in ruleset
    assert "numgen random mod 1000 < 125 drop" in ruleset
    # numgen draws 0..999: all and nothing are written without it.
    assert '    drop comment "packet-loss"' in loss_ruleset(chaos_table(1), ["10.244.0.5"], 100)
    assert "drop" not in loss_ruleset(chaos_table(1), ["10.244.0.5"], 0)


@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft")
def test_chaos_rulesets_are_valid_nft() -> None:
    for ruleset in (
        partition_ruleset("gauntlet_chaos_1", ["10.244.0.2"], ["10.244.0.3"]),
        loss_ruleset("gauntlet_chaos_2", ["10.244.0.2", "10.244.0.7"], 30),
        loss_ruleset("gauntlet_chaos_2", ["10.244.0.2"], 100),
        loss_ruleset("gauntlet_chaos_2", ["10.244.0.2"], 0),
        delete_table_ruleset("gauntlet_chaos_3"),
    ):
        check = subprocess.run(
            ["nft", "-c", "-f", "-"], input=ruleset, capture_output=True, text=True
        )
        if check.returncode != 0 and "Operation not permitted" in check.stderr:
            pytest.skip("nft -c needs CAP_NET_ADMIN here")
        assert check.returncode == 0, (ruleset, check.stderr)


# -- unit: parameters, support, half-applied faults (no sandbox process) ----------------------


class _Recorder(LocalSandbox):
    """A sandbox whose supervisor calls are recorded (and may be made to fail)."""

    def __init__(self) -> None:
        super().__init__(sandbox_name="unit-chaos")
        self.plan = make_plan(with_outsider(load_blueprint(REFERENCE_PLATFORM)))
        self.proc = object()  # type: ignore[assignment]
        self.calls: list[dict[str, Any]] = []
        self.interrupt_on: str | None = None

    def call(self, request: dict[str, Any], *, timeout_s: float = 120.0) -> dict[str, Any]:
        self.calls.append(request)
        if self.interrupt_on and request["op"] == self.interrupt_on and not request.get("revert"):
            raise KeyboardInterrupt
        return {"ok": True, "ms": 1.0}


@pytest.mark.parametrize(
    ("injected", "message"),
    [
        (fault("pod-kill"), r"fault pod-kill: missing parameter\(s\) pods"),
        (fault("pod-kill", pods="x/y"), r"fault pod-kill: parameter pods: unknown pod\(s\) x/y"),
        (fault("node-failure", node="n9"), r"fault node-failure: parameter node: unknown node"),
        (fault("node-failure", node="x", zone="z"), r"unknown parameter\(s\) zone"),
        (
            fault("packet-loss", pods="team-alpha/api-0", percent="150"),
            r"fault packet-loss: parameter percent: 150 is outside 0..100",
        ),
        (
            fault("packet-loss", pods="team-alpha/api-0", percent="lots"),
            r"parameter percent: 'lots' is not a number",
        ),
        (fault("network-partition", a="team-alpha"), r"fault network-partition: parameter b:"),
        (
            fault("network-partition", a="team-alpha", b="nope"),
            r"parameter b: unknown namespace\(s\) nope",
        ),
        (
            fault("network-partition", a="team-alpha", b_nodes=NODES[0]),
            r"parameters a/b: pods on both sides: team-alpha/api-1",
        ),
        (
            fault("slow-responses", pods="team-alpha/api-0", latency_ms="-1"),
            r"fault slow-responses: parameter latency_ms: -1 is outside",
        ),
        (
            fault("policy-engine-restart", duration_ms="soon"),
            r"fault policy-engine-restart: parameter duration_ms: 'soon' is not a number",
        ),
    ],
)
def test_parameter_errors_name_the_fault_and_parameter_and_leave_nothing(
    injected: PlantedFault, message: str
) -> None:
    sb = _Recorder()
    with pytest.raises(TargetError, match=message):
        sb.inject(injected)
    assert sb.active_faults() == [] and sb.calls == []


def test_kubernetes_only_faults_are_not_supported_with_a_reason() -> None:
    sb = _Recorder()
    with pytest.raises(NotSupportedByTarget, match="registry-outage: not on the local sandbox"):
        sb.inject(fault("registry-outage", namespace="a", deployment="b"))
    with pytest.raises(NotSupportedByTarget, match="no control-plane node"):
        sb.inject(fault("control-plane-degradation"))


def test_an_interrupted_inject_stays_active_and_its_revert_removes_the_table() -> None:
    sb = _Recorder()
    sb.interrupt_on = "chaos_nft"
    with pytest.raises(KeyboardInterrupt):
        sb.inject(fault("network-partition", a="team-alpha", b="team-beta"))
    assert sb.active_faults() == ["network-partition#1"]
    sb.interrupt_on = None
    sb.revert("network-partition#1")
    apply, remove = sb.calls
    assert apply["handle"] == remove["handle"] == "network-partition#1"
    assert remove["revert"] is True
    assert remove["ruleset"] == delete_table_ruleset("gauntlet_chaos_1")
    assert sb.active_faults() == []
    sb.revert("network-partition#1")
    assert len(sb.calls) == 2, "a second revert is a no-op"


def test_handles_count_up_and_revert_after_teardown_only_forgets() -> None:
    sb = _Recorder()
    first = sb.inject(fault("node-failure", node=NODES[1]))
    second = sb.inject(fault("pod-kill", pods="team-alpha/api-0"))
    assert (first, second) == ("node-failure#1", "pod-kill#2")
    assert sb.active_faults() == [first, second]
    sb.proc = None
    sb.chaos.forget_all()
    sb.revert(first)
    assert sb.active_faults() == []
    assert [c["op"] for c in sb.calls] == ["node", "kill_pod"]
    assert isinstance(sb.chaos, SandboxChaos)
    assert isinstance(sb, Target)


# -- e2e: one sandbox on the reference platform ----------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalSandbox]:
    sb = LocalSandbox(sandbox_name=f"chaos-{id(object())}"[:24])
    try:
        sb.deploy(with_outsider(load_blueprint(REFERENCE_PLATFORM)))
        assert sb.wait_policy_converged(timeout_s=30)
        yield sb
    finally:
        sb.teardown()


def probe(
    sb: LocalSandbox,
    cells: list[tuple[str, str, int]],
    *,
    timeout_s: float = 0.5,
    mode: ProbeMode = ProbeMode.TCP,
    protocol: str = "TCP",
) -> list[Outcome]:
    requests = [
        ProbeRequest(
            id=f"{i}",
            src=src,
            dst=dst,
            port=port,
            protocol=protocol,
            mode=mode,
            timeout_s=timeout_s,
            http=HttpRequest(path="/api/v1/health") if mode is ProbeMode.HTTP else None,
        )
        for i, (src, dst, port) in enumerate(cells)
    ]
    return [r.outcome for r in sb.probe(requests)]


def statuses(sb: LocalSandbox) -> dict[str, PodStatus]:
    return {p.key: p for p in sb.pod_statuses()}


def wait_for(what: str, cond: Any, *, timeout_s: float = 8.0) -> float:
    started = time.monotonic()
    while not cond():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s}s: {what}"
        time.sleep(0.02)
    return time.monotonic() - started


# Allowed cells of the reference platform (fixtures/platform): a client to its own api, every
# tenant pod to DNS.
ALPHA_API = ("team-alpha/client-0", "team-alpha/api-0", 8080)
ALPHA_DNS = ("team-alpha/client-0", "kube-system/coredns-0", 53)
BETA_API = ("team-beta/client-0", "team-beta/api-1", 8080)
DENIED = ("team-gamma/client-0", "team-alpha/api-0", 8080)


@pytest.mark.e2e
@pytest.mark.skipif(_REASON is not None, reason=_REASON or "")
class TestFaults:
    def test_pods_report_their_nodes(self, sandbox: LocalSandbox) -> None:
        pods = statuses(sandbox)
        assert sandbox.plan is not None
        assert {k: p.node for k, p in pods.items()} == sandbox.plan.node_of()
        assert pods["team-alpha/api-0"].node != pods["team-alpha/api-1"].node

    def test_network_partition_between_namespaces_and_its_revert(
        self, sandbox: LocalSandbox
    ) -> None:
        assert probe(sandbox, [ALPHA_API, ALPHA_DNS, BETA_API]) == [Outcome.CONNECTED] * 3
        handle = sandbox.inject(fault("network-partition", a="team-alpha", b="kube-system"))
        assert sandbox.active_faults() == [handle]
        # The policy allows alpha -> DNS; the partition wins. Within alpha all still flows.
        assert probe(sandbox, [ALPHA_DNS, ALPHA_API, BETA_API]) == [
            Outcome.TIMEOUT,
            Outcome.CONNECTED,
            Outcome.CONNECTED,
        ]
        sandbox.revert(handle)
        assert sandbox.active_faults() == []
        assert probe(sandbox, [ALPHA_DNS]) == [Outcome.CONNECTED]
        timings = sandbox.chaos.timings_ms
        assert timings["network-partition applied"] < 1000
        assert timings["network-partition removed"] < 1000

    def test_network_partition_between_nodes(self, sandbox: LocalSandbox) -> None:
        nodes = statuses(sandbox)
        a, b = nodes[ALPHA_API[0]].node, nodes[ALPHA_API[1]].node
        assert a != b
        handle = sandbox.inject(fault("network-partition", a_nodes=a, b_nodes=b))
        try:
            assert probe(sandbox, [ALPHA_API]) == [Outcome.TIMEOUT]
        finally:
            sandbox.revert(handle)
        assert probe(sandbox, [ALPHA_API]) == [Outcome.CONNECTED]

    def test_packet_loss_fails_a_share_of_connections(self, sandbox: LocalSandbox) -> None:
        # 50 % of the packets to and from the api pod: a connect needs its SYN and the SYN-ACK,
        # so about a quarter of the attempts get through within one SYN's timeout.
        handle = sandbox.inject(fault("packet-loss", pods=ALPHA_API[1], percent="50"))
        try:
            outcomes = probe(sandbox, [ALPHA_API] * 60, timeout_s=0.5)
        finally:
            sandbox.revert(handle)
        connected = outcomes.count(Outcome.CONNECTED)
        assert 3 <= connected <= 35, outcomes
        assert outcomes.count(Outcome.TIMEOUT) == 60 - connected
        assert set(probe(sandbox, [ALPHA_API] * 20)) == {Outcome.CONNECTED}

    def test_pod_kill_is_restarted_by_the_controller(self, sandbox: LocalSandbox) -> None:
        key = "team-beta/api-0"
        before = statuses(sandbox)[key]
        handle = sandbox.inject(fault("pod-kill", pods=key))
        recovery_s = wait_for(
            "pod restarted",
            lambda: (p := statuses(sandbox)[key]).ready and p.restarts == before.restarts + 1,
        )
        after = statuses(sandbox)[key]
        assert after.start_latency_ms is not None and 0 < after.start_latency_ms < 5000
        assert after.start_latency_ms != before.start_latency_ms
        assert recovery_s < 5
        sandbox.revert(handle)
        assert sandbox.active_faults() == []
        assert probe(sandbox, [("team-beta/client-0", key, 8080)]) == [Outcome.CONNECTED]

    def test_node_failure_holds_the_nodes_pods_until_it_returns(
        self, sandbox: LocalSandbox
    ) -> None:
        node = statuses(sandbox)[ALPHA_API[1]].node
        on_node = {k for k, p in statuses(sandbox).items() if p.node == node}
        before = {k: statuses(sandbox)[k].restarts for k in on_node}
        handle = sandbox.inject(fault("node-failure", node=node))
        try:
            wait_for("pods down", lambda: not any(statuses(sandbox)[k].ready for k in on_node))
            # Well past the controller's restart backoff: still down, nothing restarted.
            time.sleep(1.0)
            now = statuses(sandbox)
            assert not any(now[k].ready for k in on_node)
            assert {k: now[k].restarts for k in on_node} == before
            assert all(now[k].ready for k in now if k not in on_node)
            assert probe(sandbox, [ALPHA_API]) != [Outcome.CONNECTED]
        finally:
            sandbox.revert(handle)
        wait_for("node back", lambda: all(statuses(sandbox)[k].ready for k in on_node))
        now = statuses(sandbox)
        assert {k: now[k].restarts for k in on_node} == {k: r + 1 for k, r in before.items()}
        assert probe(sandbox, [ALPHA_API]) == [Outcome.CONNECTED]

    def test_slow_and_error_responses_and_their_revert_after_a_restart(
        self, sandbox: LocalSandbox
    ) -> None:
        cell = ("team-gamma/client-0", "team-gamma/api-0", 8080)
        slow = sandbox.inject(fault("slow-responses", pods=cell[1], latency_ms="300"))
        failing = sandbox.inject(fault("error-responses", pods=cell[1], ratio="1"))
        (result,) = sandbox.probe(
            [
                ProbeRequest(
                    "s",
                    *cell,
                    mode=ProbeMode.HTTP,
                    timeout_s=3,
                    http=HttpRequest(path="/api/v1/health"),
                )
            ]
        )
        assert result.http_status == 503 and result.latency_ms >= 300, result
        sandbox.revert(slow)
        sandbox.revert(failing)
        (result,) = sandbox.probe(
            [
                ProbeRequest(
                    "f",
                    *cell,
                    mode=ProbeMode.HTTP,
                    timeout_s=3,
                    http=HttpRequest(path="/api/v1/health"),
                )
            ]
        )
        assert result.http_status == 200 and result.latency_ms < 250, result
        # Reverting after the pod restarted (its new incarnation is clean) works too.
        slow = sandbox.inject(fault("slow-responses", pods=cell[1], latency_ms="300"))
        restarts = statuses(sandbox)[cell[1]].restarts
        sandbox.kill_pod(cell[1])
        wait_for(
            "restart",
            lambda: (p := statuses(sandbox)[cell[1]]).ready and p.restarts == restarts + 1,
        )
        sandbox.revert(slow)
        assert sandbox.active_faults() == []

    def test_admission_webhook_outage_follows_gatekeepers_default_ignore(
        self, sandbox: LocalSandbox
    ) -> None:
        bad = pod(image="nginx:latest")
        assert not sandbox.admit(bad, as_user=DEPLOYER).allowed
        handle = sandbox.inject(fault("admission-webhook-outage"))
        assert sandbox.admit(bad, as_user=DEPLOYER).allowed
        sandbox.revert(handle)
        assert sandbox.admit(bad, as_user=DEPLOYER).status_code == 403

    def test_policy_engine_restart_reprograms_and_keeps_enforcing(
        self, sandbox: LocalSandbox
    ) -> None:
        before = _policy_table_handle(sandbox)
        leaks, rounds = _probe_during(
            sandbox,
            DENIED,
            lambda: sandbox.inject(fault("policy-engine-restart", duration_ms="600")),
        )
        assert rounds >= 3
        assert leaks == 0
        # Programmed from scratch: the table was deleted and created again.
        assert _policy_table_handle(sandbox) != before
        assert sandbox.chaos.timings_ms["policy-engine-restart away"] >= 600
        assert probe(sandbox, [ALPHA_API, DENIED]) == [Outcome.CONNECTED, Outcome.TIMEOUT]
        for handle in sandbox.active_faults():
            sandbox.revert(handle)

    def test_a_late_apply_of_a_reverted_handle_is_ignored(self, sandbox: LocalSandbox) -> None:
        ruleset = partition_ruleset(chaos_table(999), ["10.244.0.2"], ["10.244.0.3"])
        sandbox.call(
            {
                "op": "chaos_nft",
                "handle": "x#999",
                "ruleset": delete_table_ruleset(chaos_table(999)),
                "revert": True,
            }
        )
        late = sandbox.call({"op": "chaos_nft", "handle": "x#999", "ruleset": ruleset})
        assert late["applied"] is False
        assert chaos_table(999) not in sandbox.call({"op": "nft_list"})["ruleset"]


def _policy_table_handle(sb: LocalSandbox) -> int:
    listing = sb.call({"op": "nft_list", "handles": True})["ruleset"]
    found = re.search(r"^table inet gauntlet \{ # handle (\d+)", listing, re.M)
    assert found, listing
    return int(found.group(1))


def _probe_during(sb: LocalSandbox, denied: tuple[str, str, int], action: Any) -> tuple[int, int]:
    """Probe a denied cell in back-to-back rounds while ``action`` runs; (leaks, rounds)."""
    done = threading.Event()
    leaks = rounds = 0

    def prober() -> None:
        nonlocal leaks, rounds
        while not done.is_set():
            outcomes = probe(sb, [denied] * 4, timeout_s=0.15)
            leaks += sum(o is Outcome.CONNECTED for o in outcomes)
            rounds += 1

    thread = threading.Thread(target=prober)
    thread.start()
    try:
        time.sleep(0.2)
        action()
    finally:
        done.set()
        thread.join()
    return leaks, rounds


# -- e2e: planted selfcheck faults (they change the sandbox for the rest of its run) -----------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Blueprint:
    """Two namespaces; a's client may reach a's api, nothing reaches b's pods."""
    objs = [
        namespace("a"),
        namespace("b"),
        deployment("a", "client", {"app": "client"}),
        deployment("a", "api", {"app": "api"}),
        deployment("b", "api", {"app": "api"}),
        deployment("b", "db", {"app": "db"}),
        cnp(
            "a",
            "api",
            {
                "endpointSelector": sel(app="api"),
                "ingress": [{"fromEndpoints": [sel(app="client")], "toPorts": ports(8080)}],
            },
        ),
        cnp("b", "deny", {"endpointSelector": {}, "ingress": [{}]}),
    ]
    return load(tmp_path_factory.mktemp("small"), objs)


@pytest.fixture(scope="module")
def broken(small: Blueprint) -> Iterator[LocalSandbox]:
    sb = LocalSandbox(sandbox_name=f"chaos-broken-{id(object())}"[:24])
    try:
        sb.deploy(small)
        assert sb.wait_policy_converged(timeout_s=30)
        for planted in (
            "controller-no-restart",
            "engine-restart-fail-open",
            "rollback-keeps-partition",
        ):
            sb.plant(PlantedFault(planted, ""))
        yield sb
    finally:
        sb.teardown()


SMALL_ALLOWED = ("a/client-0", "a/api-0", 8080)
SMALL_DENIED = ("a/client-0", "b/api-0", 8080)


@pytest.mark.e2e
@pytest.mark.skipif(_REASON is not None, reason=_REASON or "")
class TestPlantedFaults:
    def test_controller_no_restart_leaves_a_killed_pod_down(self, broken: LocalSandbox) -> None:
        handle = broken.inject(fault("pod-kill", pods="b/db-0"))
        wait_for("killed", lambda: not statuses(broken)["b/db-0"].ready)
        time.sleep(1.0)
        down = statuses(broken)["b/db-0"]
        assert (down.ready, down.restarts) == (False, 0)
        broken.revert(handle)

    def test_engine_restart_fail_open_leaks_while_the_engine_is_away(
        self, broken: LocalSandbox
    ) -> None:
        leaks, _ = _probe_during(
            broken,
            SMALL_DENIED,
            lambda: broken.inject(fault("policy-engine-restart", duration_ms="600")),
        )
        assert leaks > 0
        assert probe(broken, [SMALL_ALLOWED, SMALL_DENIED]) == [Outcome.CONNECTED, Outcome.TIMEOUT]
        (handle,) = [h for h in broken.active_faults() if h.startswith("policy-engine-restart#")]
        broken.revert(handle)

    def test_rollback_keeps_partition_reports_success_and_keeps_dropping(
        self, broken: LocalSandbox
    ) -> None:
        client, api = SMALL_ALLOWED[0], SMALL_ALLOWED[1]
        handle = broken.inject(
            fault(
                "network-partition", a_nodes=_node_of(broken, client), b_nodes=_node_of(broken, api)
            )
        )
        broken.revert(handle)
        assert handle not in broken.active_faults()
        assert probe(broken, [SMALL_ALLOWED]) == [Outcome.TIMEOUT]

    def test_after_teardown_nothing_is_active_and_revert_is_a_no_op(self, small: Blueprint) -> None:
        sb = LocalSandbox(sandbox_name=f"chaos-down-{id(object())}"[:24])
        with contextlib.ExitStack() as stack:
            stack.callback(sb.teardown)
            sb.deploy(small)
            handle = sb.inject(fault("packet-loss", pods="a/api-0", percent="100"))
            assert sb.active_faults() == [handle]
        assert sb.active_faults() == []
        sb.revert(handle)
        assert not Path(sb.state_dir).exists()


def _node_of(sb: LocalSandbox, key: str) -> str:
    return statuses(sb)[key].node
