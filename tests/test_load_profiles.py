"""The shipped load profiles: plain locustfiles whose shapes give the advertised phases, scale
with the GAUNTLET_LOAD_* variables, send only what the reference blueprint's L7 rules allow,
and run under plain ``locust --headless`` too.

Locust monkey-patches the process it is imported in, so everything that imports it runs in a
subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gauntlet.load.profiles import (
    LOAD_PROFILES,
    RUN_PROFILE_LOAD,
    SCENARIOS_DIR,
    UnknownProfile,
    load_profile,
)
from test_agent import RunningAgent, start_agent, stop_agent

TIMELINE = """
import json, sys
from locust.util.load_locustfile import load_locustfile

out = {}
for path in sys.argv[1:]:
    users, shapes = load_locustfile(path)
    (shape,) = shapes
    points, t = [], 0.0
    while True:
        shape.get_run_time = lambda t=t: t
        tick = shape.tick()
        if tick is None:
            break
        points.append([t, shape.phase_at(t), tick[0], tick[1]])
        t += 0.5
    out[path.rsplit("/", 1)[-1][:-3]] = {"users": sorted(users), "points": points, "end_s": t}
print(json.dumps(out))
"""


def _timelines(env: dict[str, str] | None = None) -> dict[str, Any]:
    paths = [str(SCENARIOS_DIR / f"{p}.py") for p in LOAD_PROFILES]
    proc = subprocess.run(
        [sys.executable, "-c", TIMELINE, *paths],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _phases(points: list[list[Any]]) -> list[str]:
    return list(dict.fromkeys(p[1] for p in points))


def test_profiles_have_their_phases_and_lengths() -> None:
    timelines = _timelines()
    for name, tl in timelines.items():
        assert tl["users"] == ["TenantApiUser"], name
    smoke, spike = timelines["smoke"], timelines["spike"]
    assert smoke["end_s"] <= 20 and _phases(smoke["points"]) == ["ramp", "steady"]
    assert _phases(timelines["steady"]["points"]) == ["ramp", "steady"]
    assert _phases(timelines["ramp"]["points"]) == ["ramp", "steady"]
    assert _phases(spike["points"]) == ["ramp", "steady", "spike", "recovery"]
    peak = {
        phase: max(u for _, ph, u, _ in spike["points"] if ph == phase)
        for phase in ("steady", "spike")
    }
    assert peak == {"steady": 10, "spike": 50}
    # The ramp profile's ramp spreads its users over the whole phase.
    ramp_rates = {rate for _, ph, _, rate in timelines["ramp"]["points"] if ph == "ramp"}
    assert ramp_rates == {40 / 150}


def test_profiles_scale_with_the_environment() -> None:
    timelines = _timelines({"GAUNTLET_LOAD_USERS": "4", "GAUNTLET_LOAD_DURATION_S": "6"})
    for tl in timelines.values():
        assert tl["end_s"] == 6.0
        assert max(u for _, _, u, _ in tl["points"]) == 4


def test_profiles_request_only_what_the_gateway_may_send() -> None:
    source = (SCENARIOS_DIR / "tenant_api.py").read_text()
    paths = {
        line.split('"')[1].split("{")[0] for line in source.splitlines() if "client.get(" in line
    }
    assert paths == {"/api/v1/health", "/api/v1/items/"}


def test_run_profiles_map_to_load_profiles() -> None:
    assert {load_profile(p).name for p in RUN_PROFILE_LOAD} == {"smoke", "ramp", "spike"}
    assert load_profile("steady").locustfile == SCENARIOS_DIR / "steady.py"
    with pytest.raises(UnknownProfile, match="known: smoke"):
        load_profile("soak")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path, tcp="0", udp="")
    yield running
    stop_agent(running)


def test_smoke_profile_runs_under_plain_locust(agent: RunningAgent, tmp_path: Path) -> None:
    env = {**os.environ, "GAUNTLET_LOAD_DURATION_S": "2", "GAUNTLET_LOAD_USERS": "2"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(SCENARIOS_DIR / "smoke.py"),
            "--headless",
            "--only-summary",
            "--host",
            f"http://127.0.0.1:{agent.tcp_ports[0]}",
            "--csv",
            str(tmp_path / "plain"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = (tmp_path / "plain_stats.csv").read_text()
    assert "GET,/api/v1/items/[n]," in stats and "GET,/api/v1/health," in stats
