"""The load faults selfcheck plants: the agent's error ratio and latency, planting them on a
sandbox pod, and how selfcheck picks and judges them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gauntlet.exitcodes import ExitCode
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.selfcheck import FAULT_SUITES, SLO_FAULTS, _detected, planted_faults
from gauntlet.targets.base import PlantedFault, TargetError
from gauntlet.targets.local.faults import FAULTS, plant_fault
from test_agent import RunningAgent, control, get, http_exchange, start_agent, stop_agent


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path)
    yield running
    stop_agent(running)


def _statuses(agent: RunningAgent, n: int) -> list[int]:
    port = agent.tcp_ports[0]
    return [http_exchange(port, get("/api/v1/items/7"))[0] for _ in range(n)]


def test_error_ratio_fails_exactly_that_share_evenly_spaced(agent: RunningAgent) -> None:
    assert control(agent.control, {"op": "set_error_ratio", "error_ratio": 0.25}) == [{"ok": True}]
    statuses = _statuses(agent, 40)
    assert [i for i, s in enumerate(statuses) if s == 503] == list(range(3, 40, 4))
    _, _, body = http_exchange(agent.tcp_ports[0], get("/api/v1/health"))
    assert body["pod"] == "tenant-a/web-0"
    assert control(agent.control, {"op": "set_error_ratio", "error_ratio": 0}) == [{"ok": True}]
    assert set(_statuses(agent, 10)) == {200}


def test_error_ratio_one_fails_everything_and_bad_values_are_refused(
    agent: RunningAgent,
) -> None:
    control(agent.control, {"op": "set_error_ratio", "error_ratio": 1})
    assert set(_statuses(agent, 5)) == {503}
    for bad in (-0.1, 1.5, "0.2", True, None, float("nan")):
        (resp,) = control(agent.control, {"op": "set_error_ratio", "error_ratio": bad})
        assert resp == {"ok": False, "error": "'error_ratio' must be a number in 0..1"}, bad
    (resp,) = control(agent.control, {"op": "nope"})
    assert "set_error_ratio" in resp["error"]


class _FakeSandbox(SimpleNamespace):
    def agent_control(self, key: str, request: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((key, request))
        return {"ok": True}


def _sandbox() -> _FakeSandbox:
    return _FakeSandbox(
        policies=object(),
        plan=object(),
        control=object(),
        sockets={"team-alpha/api-0": "/x.sock", "team-alpha/api-1": "/y.sock"},
        sent=[],
    )


@pytest.mark.parametrize(
    ("spec", "request_sent"),
    [
        (("slow-responses", ()), {"op": "set_latency", "latency_ms": 500.0}),
        (("slow-responses", (("latency_ms", "250"),)), {"op": "set_latency", "latency_ms": 250.0}),
        (("error-responses", ()), {"op": "set_error_ratio", "error_ratio": 0.1}),
        (("error-responses", (("ratio", "0.5"),)), {"op": "set_error_ratio", "error_ratio": 0.5}),
    ],
)
def test_planting_sets_the_fault_on_every_pods_agent(
    spec: tuple[str, tuple[tuple[str, str], ...]], request_sent: dict[str, Any]
) -> None:
    sandbox = _sandbox()
    fault_id, params = spec
    pods = ("pods", "team-alpha/api-0,team-alpha/api-1")
    plant_fault(sandbox, PlantedFault(fault_id, fault_id, (pods, *params)))  # type: ignore[arg-type]
    assert sandbox.sent == [("team-alpha/api-0", request_sent), ("team-alpha/api-1", request_sent)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ((), "pods= must name pods"),
        ((("pods", "team-alpha/api-0,team-alpha/nope-0"),), "unknown: team-alpha/nope-0"),
        ((("pods", "team-alpha/api-0"), ("ratio", "x")), "could not convert"),
    ],
)
def test_planting_on_an_unknown_pod_or_with_a_bad_value_says_so(
    params: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(TargetError, match=f"cannot plant error-responses: .*{message}"):
        plant_fault(_sandbox(), PlantedFault("error-responses", "", params))  # type: ignore[arg-type]


def test_selfcheck_plants_the_load_faults_behind_the_loaded_service() -> None:
    faults = dict(planted_faults(REFERENCE_PLATFORM, ["load"]))
    assert faults == {
        "slow-responses": "slow-responses:pods=team-alpha/api-0,team-alpha/api-1;latency_ms=500",
        "error-responses": "error-responses:pods=team-alpha/api-0,team-alpha/api-1;ratio=0.1",
    }
    assert {FAULT_SUITES[f] for f in faults} == {"load"}
    assert set(SLO_FAULTS) <= set(FAULTS)


def test_load_faults_are_detected_by_breached_slos_not_failed_checks() -> None:
    assert _detected("slow-responses", ExitCode.SLO_BREACHED, [], ["latency-p95"])
    assert _detected("slow-responses", ExitCode.SLO_BREACHED, [], ["latency-p95"], 2)
    # A gate that lets the slow run through against a clean baseline has missed it.
    assert not _detected("slow-responses", ExitCode.SLO_BREACHED, [], ["latency-p95"], 0)
    assert not _detected("slow-responses", ExitCode.SLO_BREACHED, [], [])
    assert not _detected("error-responses", ExitCode.OK, [], ["availability"])
    assert _detected("default-deny-removed", ExitCode.CONFORMANCE_FAILED, ["isolation/x"], [])
    assert not _detected("default-deny-removed", ExitCode.SLO_BREACHED, [], ["availability"])
