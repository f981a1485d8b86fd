"""The chaos runner's own logic against an in-memory target (tests/chaos_fakes.py): journal
reading, recovery measurement, leaks, cleanup, phases. The sandbox e2e tests show the real thing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from chaos_fakes import FakeTarget
from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.chaos.results import chaos_slos
from gauntlet.chaos.runner import ChaosOptions, run_outcome
from gauntlet.chaos.watch import IsolationProber
from gauntlet.oracle import compute_truth_table
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.report.scorecard import Verdict
from gauntlet.slo import load_specs
from gauntlet.targets.base import (
    Outcome,
    PodStatus,
    ProbeRequest,
    ProbeResult,
    TargetError,
)

BP = with_outsider(load_blueprint(REFERENCE_PLATFORM))
FAST = ChaosOptions(load=False, warmup_s=0.1, tail_s=0.1, stable_s=0.3, recovery_timeout_s=3)


def probe(name: str, func: str, **arguments: object) -> dict[str, object]:
    return {
        "type": "probe",
        "name": name,
        "tolerance": True,
        "provider": {
            "type": "python",
            "module": "gauntlet.chaos.probes",
            "func": func,
            "arguments": arguments,
        },
    }


def action(name: str, func: str, **arguments: object) -> dict[str, object]:
    return {
        "type": "action",
        "name": name,
        "provider": {
            "type": "python",
            "module": "gauntlet.chaos.actions",
            "func": func,
            "arguments": arguments,
        },
    }


def experiment(tmp_path: Path, method: list[dict[str, object]], **gauntlet: object) -> Path:
    doc = {
        "version": "1.0.0",
        "title": "test experiment",
        "description": "unit test",
        "extensions": [{"name": "gauntlet", "recovery_timeout_s": 3, **gauntlet}],
        "steady-state-hypothesis": {
            "title": "pods ready",
            "probes": [probe("ready", "all_pods_ready", namespaces=["team-alpha"])],
        },
        "method": method,
        "rollbacks": [action("revert", "revert_faults")],
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


KILL = [
    action("kill", "kill_pods", namespace="team-alpha", pods=["api-0"]),
    action("wait", "wait_for_recovery", timeout_s=3, stable_s=0.3),
]


def test_recovery_time_is_measured_from_the_kill_within_100_ms(tmp_path: Path) -> None:
    target = FakeTarget(BP, restart_after_s=0.5)
    out = run_outcome(target, experiment(tmp_path, KILL), blueprint=BP, options=FAST)
    r = out.report
    assert r is not None
    assert r.steady_state_before is True and r.steady_state_after is True
    assert r.recovery_time_s is not None
    assert 0.5 <= r.recovery_time_s <= 0.6
    assert r.recovery_resolution_s <= 0.1
    assert r.faults == ["pod-kill"]
    # Without load the claim "under load" is unproven: never a pass.
    assert r.verdict is Verdict.INCONCLUSIVE and "no load" in r.message


def test_a_pod_never_restarted_fails_recovery_and_the_after_hypothesis(tmp_path: Path) -> None:
    target = FakeTarget(BP, restart_after_s=None)
    r = run_outcome(target, experiment(tmp_path, KILL), blueprint=BP, options=FAST).report
    assert r is not None
    assert r.recovery_time_s is None
    assert r.steady_state_after is False
    assert r.verdict is Verdict.FAIL
    assert "did not recover" in r.message


def test_a_leak_during_the_fault_fails_with_its_cell_and_window(tmp_path: Path) -> None:
    target = FakeTarget(BP, leak_while_faulted=True)
    method = [
        action("part", "partition_namespaces", a=["team-alpha"], b=["team-beta"], duration_s=1.0)
    ]
    r = run_outcome(target, experiment(tmp_path, method), blueprint=BP, options=FAST).report
    assert r is not None
    assert r.verdict is Verdict.FAIL
    assert r.leaks and all(lk.during_fault for lk in r.leaks)
    fs, fe = r.fault_start_s, r.fault_end_s
    assert fs is not None and fe is not None and fe - fs >= 1.0
    assert all(fs - 0.5 <= lk.start_s <= fe for lk in r.leaks)


def test_every_fault_is_reverted_even_without_rollbacks(tmp_path: Path) -> None:
    target = FakeTarget(BP)
    method = [
        action(
            "part",
            "inject_fault",
            fault="network-partition",
            params={"a": "team-alpha", "b": "team-beta"},
        )
    ]
    out = run_outcome(
        target,
        experiment(tmp_path, method),
        blueprint=BP,
        options=ChaosOptions(
            load=False,
            warmup_s=0.1,
            tail_s=0.1,
            stable_s=0.3,
            recovery_timeout_s=1,
            phases=frozenset({"hypothesis", "inject"}),
        ),
    )
    assert target.injected == ["network-partition#1"]
    assert target.active_faults() == []
    assert out.report is not None and out.report.rollbacks_ok is None


def test_a_fault_the_target_cannot_undergo_is_skipped(tmp_path: Path) -> None:
    target = FakeTarget(BP, unsupported=frozenset({"network-partition"}))
    method = [
        action("part", "partition_namespaces", a=["team-alpha"], b=["team-beta"], duration_s=0.5)
    ]
    r = run_outcome(target, experiment(tmp_path, method), blueprint=BP, options=FAST).report
    assert r is not None and r.verdict is Verdict.SKIP


def test_a_broken_steady_state_before_the_fault_is_inconclusive(tmp_path: Path) -> None:
    target = FakeTarget(BP, restart_after_s=30)
    target.killed_at["team-alpha/api-1"] = 10**12  # down for good
    r = run_outcome(target, experiment(tmp_path, KILL), blueprint=BP, options=FAST).report
    assert r is not None
    assert r.steady_state_before is False
    assert r.verdict is Verdict.INCONCLUSIVE
    assert target.injected == []  # Chaos Toolkit stops before the method


def test_hypothesis_phase_only_injects_nothing(tmp_path: Path) -> None:
    target = FakeTarget(BP)
    opts = ChaosOptions(load=False, warmup_s=0.1, tail_s=0.1, phases=frozenset({"hypothesis"}))
    r = run_outcome(target, experiment(tmp_path, KILL), blueprint=BP, options=opts).report
    assert r is not None
    assert target.injected == []
    assert r.steady_state_before is True and r.verdict is Verdict.PASS


@pytest.mark.parametrize(
    "bad", [{"recovery_timeout_s": -1}, {"canaries": [{"src": "x"}]}, {"smok": True}]
)
def test_bad_gauntlet_settings_name_the_file_and_field(
    tmp_path: Path, bad: dict[str, object]
) -> None:
    from gauntlet.chaos.experiment import ExperimentError, load_experiment

    path = experiment(tmp_path, KILL, **bad)
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and "extensions[gauntlet]" in str(err.value)


class _BlindAfterKill(FakeTarget):
    """The target stops answering pod status once a pod was killed."""

    def pod_statuses(self) -> list[PodStatus]:
        if self.killed_at:
            raise TargetError("API server unreachable")
        return super().pod_statuses()


class _NoProbes(FakeTarget):
    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        raise TargetError("agents unreachable")


def test_a_watcher_that_could_not_ask_makes_no_recovery_claim(tmp_path: Path) -> None:
    target = _BlindAfterKill(BP)
    method = [action("kill", "kill_pods", namespace="team-alpha", pods=["api-0"])]
    out = run_outcome(target, experiment(tmp_path, method), blueprint=BP, options=FAST)
    r = out.report
    assert r is not None and r.recovery_time_s is None
    assert r.verdict is Verdict.INCONCLUSIVE and "could not observe" in r.message
    specs = [s for s in load_specs() if s.name == "recovery-time"]
    assert chaos_slos(out, specs, distribution="local-sandbox") == []


def test_isolation_never_probed_is_not_a_pass(tmp_path: Path) -> None:
    target = _NoProbes(BP)
    r = run_outcome(target, experiment(tmp_path, KILL), blueprint=BP, options=FAST).report
    assert r is not None and r.isolation_rounds == 0
    assert r.verdict is Verdict.INCONCLUSIVE and "never probed" in r.message


def test_denied_drops_count_only_with_a_positive_control() -> None:
    """A source whose allowed cells all failed in a round proves nothing by its drops."""
    table = compute_truth_table(BP)
    isolated = "team-gamma/client-0"

    class Cut(FakeTarget):
        def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
            return [
                ProbeResult(r.id, Outcome.TIMEOUT, 1.0) if isolated in (r.src, r.dst) else res
                for r, res in zip(requests, super().probe(requests), strict=True)
            ]

    class Clock:
        def now_s(self) -> float:
            return 0.0

    prober = IsolationProber(Cut(BP), table, clock=Clock())
    prober.one_round()
    denied_from_isolated = sum(
        1 for e in table.expectations if not e.allowed and e.cell.src == isolated
    )
    all_denied = sum(1 for e in table.expectations if not e.allowed)
    assert denied_from_isolated > 0
    assert prober.denied_observed == all_denied - denied_from_isolated
    assert prober.leaks == {}
