"""``gauntlet gameday``: input checks before anything is deployed, outputs and exit codes with the
chaos runner replaced by a canned report, Ctrl-C; plus the end-to-end run on the sandbox (e2e)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import gauntlet.chaos.gameday as gameday
from gauntlet.chaos import experiment as experiments
from gauntlet.chaos import runner
from gauntlet.chaos.live import ChaosSnapshot
from gauntlet.cli import main
from gauntlet.exitcodes import ExitCode
from gauntlet.report.scorecard import ChaosExperimentReport, IsolationLeak, Verdict
from gauntlet.targets.base import DeployReport, TargetError

EXPERIMENT = """\
version: 1.0.0
title: api survives a pod kill
description: kill one api pod under load
method:
  - type: action
    name: revert
    provider: {type: python, module: gauntlet.chaos.actions, func: revert_faults}
"""


@pytest.fixture
def scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "scenarios"
    directory.mkdir()
    (directory / "pod-kill.yaml").write_text(EXPERIMENT)
    (directory / "partition.yaml").write_text(EXPERIMENT.replace("api survives", "partition"))
    (directory / "notes.txt").write_text("not a scenario")
    monkeypatch.setattr(experiments, "SCENARIOS", directory)
    return directory


class FakeTarget:
    def __init__(self) -> None:
        self.deployed = False
        self.torn_down = False

    def deploy(self, blueprint: object) -> DeployReport:
        self.deployed = True
        return DeployReport(pods=(), duration_s=0.5, policy_revision=1)

    def teardown(self) -> None:
        self.torn_down = True


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> FakeTarget:
    fake = FakeTarget()
    monkeypatch.setattr(gameday, "make_target", lambda kind, **kwargs: fake)
    return fake


def canned(verdict: Verdict = Verdict.PASS, *, leaks: int = 0) -> ChaosExperimentReport:
    return ChaosExperimentReport(
        title="api survives a pod kill",
        file="scenarios/chaos/pod-kill.yaml",
        faults=["pod-kill"],
        status="completed",
        steady_state_before=True,
        steady_state_after=verdict is Verdict.PASS,
        deviated=verdict is not Verdict.PASS,
        verdict=verdict,
        started_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
        duration_s=20.0,
        fault_start_s=5.0,
        fault_end_s=8.0,
        recovery_time_s=1.5,
        isolation_rounds=10,
        leaks=[
            IsolationLeak(
                src="team-beta/client-0",
                dst="team-alpha/api-0",
                port=8080,
                protocol="TCP",
                start_s=6.0,
                end_s=7.0,
                rounds=2,
                during_fault=True,
            )
        ]
        * leaks,
    )


Calls = list[dict[str, Any]]


def fake_runner(
    monkeypatch: pytest.MonkeyPatch, result: Callable[[], ChaosExperimentReport]
) -> Calls:
    calls: Calls = []

    def run_chaos(target: Any, experiment: Path, **kwargs: Any) -> ChaosExperimentReport:
        calls.append({"target": target, "experiment": experiment, **kwargs})
        kwargs["on_snapshot"](
            ChaosSnapshot(
                experiment="api survives a pod kill",
                phase="method",
                elapsed_s=1.0,
                time_left_s=19.0,
                rps=10.0,
                requests=10,
                errors=0,
                p95_ms=3.0,
                steady_state=True,
                fault_active=True,
                leaks=0,
                isolation_rounds=1,
            )
        )
        return result()

    monkeypatch.setattr(runner, "run_chaos", run_chaos)
    return calls


def _must_not_deploy(kind: str, **kwargs: Any) -> Any:
    raise AssertionError("bad input must be refused before a target is built")


# --- scenario resolution -------------------------------------------------------------------------


def test_scenarios_are_found_by_name_or_path(scenarios: Path, tmp_path: Path) -> None:
    found = gameday.load_scenario("pod-kill")
    assert found.path == scenarios / "pod-kill.yaml"
    assert found.title == "api survives a pod kill"
    elsewhere = tmp_path / "mine.yml"
    elsewhere.write_text(EXPERIMENT)
    assert gameday.load_scenario(str(elsewhere)).path == elsewhere


def test_unknown_scenario_lists_the_available_ones(scenarios: Path) -> None:
    with pytest.raises(gameday.GamedayError) as exc:
        gameday.load_scenario("pod-kil")
    assert str(exc.value) == "pod-kil: no such chaos scenario; available: partition, pod-kill"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("- just\n- a list\n", "an experiment is a mapping"),
        ("title: t\ndescription: d\n", "not a valid Chaos Toolkit experiment"),
        ("title: [unclosed\n", "cannot read"),
    ],
)
def test_files_that_are_not_experiments(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(gameday.GamedayError, match=reason) as exc:
        gameday.load_scenario(str(path))
    assert str(exc.value).startswith(f"{path}: ")


# --- options -------------------------------------------------------------------------------------


def test_phases() -> None:
    assert gameday.parse_phases(None) == frozenset(runner.PHASES)
    assert gameday.parse_phases(["all"]) == frozenset(runner.PHASES)
    assert gameday.parse_phases(["hypothesis,inject"]) == {"hypothesis", "inject"}
    assert gameday.parse_phases(["rollback", " inject "]) == {"rollback", "inject"}
    assert gameday.parse_phases(["inject", "all"]) == frozenset(runner.PHASES)
    with pytest.raises(gameday.GamedayError, match="unknown --phase bogus; choose from"):
        gameday.parse_phases(["inject,bogus"])


def test_burn_rate() -> None:
    assert gameday.parse_burn_rate(None) is None
    assert gameday.parse_burn_rate("14.4") == 14.4
    for bad in ("0", "-2", "fast", "nan", "inf"):
        with pytest.raises(gameday.GamedayError, match="positive number"):
            gameday.parse_burn_rate(bad)


def test_default_report_dir_is_timestamped() -> None:
    now = datetime(2024, 5, 1, 12, 3, 4, tzinfo=UTC)
    assert gameday.default_report_dir(now) == Path("reports/gameday-20240501T120304Z")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gameday", "nope"], "nope: no such chaos scenario; available: partition, pod-kill"),
        (["gameday", "pod-kill", "--phase", "chaos"], "unknown --phase chaos"),
        (["gameday", "pod-kill", "--profile", "huge"], "no load profile 'huge'"),
        (["gameday", "pod-kill", "--max-burn-rate", "x"], "--max-burn-rate x"),
        (["gameday", "pod-kill", "--platform", "/nonexistent"], "blueprint error"),
        (["gameday", "notes.txt"], "notes.txt: no such chaos scenario; available:"),
    ],
)
def test_bad_input_is_a_usage_error_before_deploying(
    scenarios: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(gameday, "make_target", _must_not_deploy)
    assert main(argv) == ExitCode.USAGE_ERROR
    assert message in capsys.readouterr().err


def test_kubernetes_targets_need_their_driver(
    scenarios: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "gauntlet.targets.kubernetes", None)  # not importable
    assert main(["gameday", "pod-kill", "--target", "kind"]) == ExitCode.USAGE_ERROR
    assert "--target kind: the Kubernetes driver cannot be loaded" in capsys.readouterr().err
    assert main(["gameday", "pod-kill", "--target", "eks"]) == ExitCode.USAGE_ERROR
    assert "--target eks: choose from local, kind, kubeconfig" in capsys.readouterr().err


def _driver(monkeypatch: pytest.MonkeyPatch, make_target: Callable[..., Any]) -> None:
    import gauntlet.targets.kubernetes as kubernetes

    monkeypatch.setattr(kubernetes, "make_target", make_target)


def test_kubernetes_targets_come_from_the_driver(
    scenarios: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[tuple[str, str | None, list[str]]] = []
    fake = FakeTarget()

    def make_target(kind: str, *, context: str | None, allow_contexts: list[str]) -> FakeTarget:
        made.append((kind, context, list(allow_contexts)))
        return fake

    _driver(monkeypatch, make_target)
    fake_runner(monkeypatch, canned)
    argv = ["gameday", "pod-kill", "--target", "kubeconfig", "--context", "eks-prod"]
    argv += ["--allow-context", "eks-*", "--report-dir", str(tmp_path / "r")]
    assert main(argv) == ExitCode.OK
    assert made == [("kubeconfig", "eks-prod", ["eks-*"])]
    assert fake.deployed and fake.torn_down


def test_unreachable_cluster_is_inconclusive(
    scenarios: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def make_target(kind: str, **kwargs: Any) -> Any:
        raise TargetError("context 'x' not in kubeconfig")

    _driver(monkeypatch, make_target)
    assert main(["gameday", "pod-kill", "--target", "kind"]) == ExitCode.INCONCLUSIVE
    assert "target error: context 'x' not in kubeconfig" in capsys.readouterr().err


# --- the command with a canned runner -------------------------------------------------------------


def test_gameday_writes_chaos_json_and_timeline(
    scenarios: Path,
    target: FakeTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    calls = fake_runner(monkeypatch, canned)
    report_dir = tmp_path / "out"
    argv = ["gameday", "pod-kill", "--phase", "hypothesis", "--phase", "inject,rollback"]
    argv += ["--profile", "gameday", "--max-burn-rate", "14.4", "--report-dir", str(report_dir)]

    assert main(argv) == ExitCode.OK

    (call,) = calls
    assert call["target"] is target and call["experiment"] == scenarios / "pod-kill.yaml"
    assert call["options"] == runner.ChaosOptions(
        profile="spike",  # the gameday run profile's load
        phases=frozenset(runner.PHASES),
        max_burn_rate=14.4,
        report_dir=report_dir,
    )
    assert call["blueprint"].pods()  # the reference blueprint, with the outsider probe pod
    assert any(p.namespace == "gauntlet-probe" for p in call["blueprint"].pods())
    assert target.deployed and target.torn_down
    back = ChaosExperimentReport.model_validate_json((report_dir / "chaos.json").read_text())
    assert back == canned()
    html = (report_dir / "timeline.html").read_text()
    assert "<title>Game day: api survives a pod kill</title>" in html
    assert "requests and errors per second" not in html  # canned report has no series
    out = capsys.readouterr().out
    assert "gameday 'api survives a pod kill': PASS, status completed, recovered in 1.50 s" in out
    assert f"reports in {report_dir}/ (chaos.json, timeline.html); exit 0 (OK)" in out


@pytest.mark.parametrize(
    ("verdict", "leaks", "code"),
    [
        (Verdict.PASS, 0, ExitCode.OK),
        (Verdict.FAIL, 0, ExitCode.SLO_BREACHED),
        (Verdict.FAIL, 1, ExitCode.CONFORMANCE_FAILED),
        (Verdict.INCONCLUSIVE, 0, ExitCode.INCONCLUSIVE),
        (Verdict.SKIP, 0, ExitCode.INCONCLUSIVE),
    ],
)
def test_verdicts_map_to_exit_codes(
    scenarios: Path,
    target: FakeTarget,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    verdict: Verdict,
    leaks: int,
    code: ExitCode,
) -> None:
    assert gameday.exit_code_for(canned(verdict, leaks=leaks)) is code
    fake_runner(monkeypatch, lambda: canned(verdict, leaks=leaks))
    assert main(["gameday", "pod-kill", "--report-dir", str(tmp_path)]) == code
    assert (tmp_path / "chaos.json").exists() and (tmp_path / "timeline.html").exists()


def test_ctrl_c_tears_down_and_exits_interrupted(
    scenarios: Path,
    target: FakeTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    def interrupted() -> ChaosExperimentReport:
        raise KeyboardInterrupt

    fake_runner(monkeypatch, interrupted)
    assert main(["gameday", "pod-kill", "--report-dir", str(tmp_path)]) == gameday.INTERRUPTED
    assert target.torn_down
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "chaos.json").exists()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NotImplementedError("the chaos runner is being written"), "chaos runner is not available"),
        (TargetError("supervisor died"), "target error: supervisor died"),
    ],
)
def test_runner_and_target_errors_are_inconclusive(
    scenarios: Path,
    target: FakeTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    error: Exception,
    message: str,
) -> None:
    def broken() -> ChaosExperimentReport:
        raise error

    fake_runner(monkeypatch, broken)
    assert main(["gameday", "pod-kill", "--report-dir", str(tmp_path)]) == ExitCode.INCONCLUSIVE
    assert message in capsys.readouterr().err
    assert target.torn_down


# --- end to end on the local sandbox --------------------------------------------------------------


def _e2e_skip_reason() -> str | None:
    from test_e2e_sandbox import _skip_reason

    reason: str | None = _skip_reason()
    if reason is None and not experiments.available():
        reason = f"no chaos scenario in {experiments.SCENARIOS} yet"
    return reason


@pytest.mark.e2e
def test_gameday_end_to_end_on_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = _e2e_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    default = "pod-kill" if "pod-kill" in experiments.available() else experiments.available()[0]
    scenario = os.environ.get("GAUNTLET_GAMEDAY_SCENARIO", default)
    report_dir = tmp_path / "gameday"
    code = main(["gameday", scenario, "--report-dir", str(report_dir)])
    captured = capsys.readouterr()
    if "chaos runner is not available" in captured.err:
        pytest.skip("run_chaos raises NotImplementedError in this tree")
    assert code in (ExitCode.OK, ExitCode.SLO_BREACHED, ExitCode.CONFORMANCE_FAILED), captured.err
    report = ChaosExperimentReport.model_validate_json((report_dir / "chaos.json").read_text())
    assert report.series and report.events
    assert gameday.exit_code_for(report) == code
    html = (report_dir / "timeline.html").read_text()
    assert f"{report.title}: fault, leaks and events" in html
    assert "exit " in captured.out
