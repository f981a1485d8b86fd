"""The Gauntlet pytest plugin (registered through the ``pytest11`` entry point).

It is inert for ordinary test runs: everything hangs off the ``gauntlet_*`` fixtures and the
checks suites record. Suites get the blueprint, the truth table and a deployed ``Target`` as
session fixtures, record three-valued verdicts through ``gauntlet_check``, and the plugin turns
them into ``scorecard.json`` and ``junit.xml`` (one result model for every report) and into the
process exit code (``gauntlet.ExitCode``).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gauntlet import progress
from gauntlet.blueprint import Blueprint, BlueprintError, load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.exitcodes import ExitCode
from gauntlet.oracle import TruthTable, compute_truth_table
from gauntlet.report.html import write_html
from gauntlet.report.junit import write_junit
from gauntlet.report.scorecard import (
    Check,
    Distribution,
    Evidence,
    Verdict,
    build_scorecard,
    write_scorecard,
)
from gauntlet.targets.base import PlantedFault, Target, TargetError

REFERENCE_PLATFORM = Path(__file__).resolve().parents[2] / "fixtures" / "platform"
TARGETS = ("local", "kind", "kubeconfig")


@dataclass
class RunState:
    """Everything the plugin keeps for one pytest session (under ``config.stash``)."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    checks: list[Check] = field(default_factory=list)
    recorded: dict[str, Check] = field(default_factory=dict)
    distribution: Distribution | None = None
    target_error: str | None = None


STATE_KEY = pytest.StashKey[RunState]()


class Inconclusive(Exception):
    """Raised by a suite when it could not observe what a check claims."""


@dataclass
class CheckRecorder:
    """Handed to a test by the ``gauntlet_check`` fixture to record its verdict and evidence."""

    suite: str
    id: str
    title: str
    evidence: list[Evidence] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    verdict: Verdict | None = None
    message: str = ""

    def attach(self, title: str, content: str, kind: str = "text") -> None:
        self.evidence.append(Evidence(kind=kind, title=title, content=content))

    def conclude(self, verdict: Verdict, message: str = "") -> None:
        self.verdict = verdict
        self.message = message
        if verdict is Verdict.FAIL:
            pytest.fail(message, pytrace=False)
        if verdict is Verdict.INCONCLUSIVE:
            raise Inconclusive(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gauntlet", "CaaS Gauntlet")
    group.addoption(
        "--target",
        choices=TARGETS,
        default=None,
        help="platform to verify (default: local sandbox when running suites)",
    )
    group.addoption("--platform", default=None, help="blueprint directory (default: reference)")
    group.addoption("--report-dir", default=None, help="write scorecard.json and junit.xml here")
    group.addoption(
        "--context",
        dest="gauntlet_context",
        default=None,
        help="kubeconfig context (Kubernetes targets)",
    )
    group.addoption(
        "--profile",
        dest="gauntlet_profile",
        default="smoke",
        choices=("smoke", "nightly", "gameday"),
    )
    group.addoption(
        "--gauntlet-plant",
        action="append",
        default=[],
        help="selfcheck: plant a fault, ID[:key=value;key=value] (sandbox only)",
    )
    group.addoption("--gauntlet-progress", action="store_true", help="print phase progress")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STATE_KEY] = RunState()
    progress.enable(bool(config.getoption("gauntlet_progress")))
    config.addinivalue_line("markers", "gauntlet_suite(name): a Gauntlet conformance suite")


def _platform_dir(config: pytest.Config) -> Path:
    value = config.getoption("platform")
    return Path(value) if value else REFERENCE_PLATFORM


@pytest.fixture(scope="session")
def gauntlet_blueprint(pytestconfig: pytest.Config) -> Blueprint:
    """The blueprint under test plus Gauntlet's outsider probe workload."""
    try:
        return with_outsider(load_blueprint(_platform_dir(pytestconfig)))
    except BlueprintError as exc:
        raise pytest.UsageError(f"blueprint error: {exc}") from None


@pytest.fixture(scope="session")
def gauntlet_truth_table(gauntlet_blueprint: Blueprint) -> TruthTable:
    return compute_truth_table(gauntlet_blueprint)


def _parse_plant(spec: str) -> PlantedFault:
    fault_id, _, rest = spec.partition(":")
    params = tuple(tuple(kv.split("=", 1)) for kv in rest.split(";") if kv)
    return PlantedFault(id=fault_id, description=spec, params=params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def gauntlet_target(pytestconfig: pytest.Config, gauntlet_blueprint: Blueprint) -> Iterator[Target]:
    """The platform under test, with the blueprint deployed; torn down at session end."""
    state = pytestconfig.stash[STATE_KEY]
    kind = pytestconfig.getoption("target") or "local"
    if kind != "local":
        raise pytest.UsageError(
            f"--target {kind}: the Kubernetes drivers are not available in this version; "
            "use --target local"
        )
    from gauntlet.targets.local.sandbox import LocalSandbox

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    sandbox = LocalSandbox(sandbox_name=f"run-{os.getpid()}-{worker}")
    atexit.register(sandbox.teardown)  # Ctrl-C or an error in a later fixture
    state.distribution = sandbox.distribution()
    try:
        progress.say(f"deploying {len(gauntlet_blueprint.pods())} pods into the local sandbox")
        report = sandbox.deploy(gauntlet_blueprint)
        progress.say(
            f"deployed in {report.duration_s:.1f}s (policy revision {report.policy_revision})"
        )
        for spec in pytestconfig.getoption("gauntlet_plant"):
            fault = _parse_plant(spec)
            progress.say(f"planting fault {fault.id}")
            sandbox.plant(fault)
    except TargetError as exc:
        state.target_error = str(exc)
        sandbox.teardown()
        raise
    yield sandbox
    progress.say("tearing down the sandbox")
    sandbox.teardown()


@pytest.fixture
def gauntlet_check(request: pytest.FixtureRequest) -> CheckRecorder:
    marker = request.node.get_closest_marker("gauntlet_suite")
    suite = str(marker.args[0]) if marker else request.node.module.__name__.split(".")[-1]
    cid = getattr(request.node, "callspec", None)
    check_id = f"{suite}/{cid.id}" if cid else f"{suite}/{request.node.name}"
    recorder = CheckRecorder(suite=suite, id=check_id, title=request.node.name)
    request.node.stash[_RECORDER_KEY] = recorder
    return recorder


_RECORDER_KEY = pytest.StashKey[CheckRecorder]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    recorder = item.stash.get(_RECORDER_KEY, None)
    if recorder is None:
        return report
    state = item.config.stash[STATE_KEY]
    if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
        if call.excinfo is not None and call.excinfo.errisinstance(Inconclusive):
            verdict = Verdict.INCONCLUSIVE
            report.outcome = "skipped"
            report.longrepr = (
                str(item.path),
                item.location[1] or 0,
                f"inconclusive: {call.excinfo.value}",
            )
        elif report.outcome == "passed":
            verdict = recorder.verdict or Verdict.PASS
        elif report.outcome == "skipped":
            verdict = Verdict.SKIP
        elif recorder.verdict is Verdict.FAIL:
            verdict = Verdict.FAIL
        else:
            # An error outside the comparison (target, agent): nothing was proven either way.
            verdict = Verdict.INCONCLUSIVE if call.when == "setup" else Verdict.FAIL
        message = recorder.message or (str(report.longrepr)[-4000:] if report.failed else "")
        state.recorded[item.nodeid] = Check(
            suite=recorder.suite,
            id=recorder.id,
            title=recorder.title,
            verdict=verdict,
            message=message,
            duration_s=report.duration,
            evidence=recorder.evidence,
            counts=recorder.counts,
        )
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.recorded:
        return
    checks = list(state.recorded.values())
    scorecard = build_scorecard(
        checks=checks,
        slos=[],
        target=config.getoption("target") or "local",
        profile=config.getoption("gauntlet_profile"),
        platform=str(_platform_dir(config)),
        distribution=state.distribution or Distribution(name="unknown"),
        started_at=state.started_at,
        finished_at=datetime.now(UTC),
    )
    report_dir = config.getoption("report_dir")
    if report_dir:
        write_scorecard(scorecard, Path(report_dir) / "scorecard.json")
        write_junit(scorecard, Path(report_dir) / "junit.xml")
        write_html(scorecard, Path(report_dir) / "report.html")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = int(scorecard.exit_code)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE_KEY, None)
    if state is None or not state.recorded:
        return
    counts: dict[str, int] = {}
    for check in state.recorded.values():
        counts[check.verdict.value] = counts.get(check.verdict.value, 0) + 1
    line = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    terminalreporter.write_sep("=", f"gauntlet verdicts: {line}")
    for check in state.recorded.values():
        if check.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
            terminalreporter.write_line(f"{check.verdict.value.upper():>12}  {check.id}")
            for ev in check.evidence:
                terminalreporter.write_line(f"--- {ev.title}")
                terminalreporter.write_line(ev.content)


__all__ = ["CheckRecorder", "ExitCode", "Inconclusive"]
