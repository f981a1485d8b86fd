"""The Gauntlet pytest plugin (registered through the ``pytest11`` entry point).

It is inert for ordinary test runs: everything hangs off the ``gauntlet_*`` fixtures and the
checks suites record. Suites get the blueprint, the truth table and a deployed ``Target`` as
session fixtures, record three-valued verdicts through ``gauntlet_check``, and the plugin turns
them into ``scorecard.json`` and ``junit.xml`` (one result model for every report) and into the
process exit code (``gauntlet.ExitCode``).

Design notes:

- What a check records (its ``Check``, and whatever it published: SLO results, the load report,
  matrix cells, tenant resources) travels in its test report's ``user_properties`` as one JSON
  entry. pytest-xdist serializes those to the controller, so the scorecard is assembled in one
  place (``pytest_runtest_logreport``) whether the run has workers or not; workers write nothing.
- Run-level SLOs (isolation integrity, admission correctness, pod start latency, Prometheus SLIs)
  are evaluated at the end of the session (``gauntlet.slo.run``) from what the suites that ran
  recorded. Suites publish the SLOs they evaluate themselves (the load suite's).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel, ConfigDict, Field

from gauntlet import progress
from gauntlet.blueprint import Blueprint, BlueprintError, load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.exitcodes import ExitCode
from gauntlet.oracle import TruthTable, compute_truth_table
from gauntlet.report.allure_results import alluredir, attach_check, write_run_results
from gauntlet.report.html import write_html
from gauntlet.report.junit import write_junit
from gauntlet.report.scorecard import (
    ChaosExperimentReport,
    Check,
    Distribution,
    Evidence,
    LoadReport,
    MatrixCell,
    Scorecard,
    SloResult,
    TenantResources,
    Verdict,
    build_scorecard,
    write_scorecard,
)
from gauntlet.slo import PrometheusSource, SloSpec, SloSpecError, load_specs
from gauntlet.slo.run import evaluate_run, merge
from gauntlet.targets.base import PlantedFault, Target, TargetError

if TYPE_CHECKING:
    from gauntlet.targets.kind.provision import KindOptions

REFERENCE_PLATFORM = Path(__file__).resolve().parents[2] / "fixtures" / "platform"
TARGETS = ("local", "kind", "kubeconfig")


class _Payload(BaseModel):
    """What one test report carries to the process that writes the scorecard."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: Check
    slos: list[SloResult] = Field(default_factory=list)
    load: LoadReport | None = None
    matrix: list[MatrixCell] = Field(default_factory=list)
    tenants: list[TenantResources] = Field(default_factory=list)
    chaos: list[ChaosExperimentReport] = Field(default_factory=list)
    distribution: Distribution | None = None
    pod_start_latencies_ms: list[float] | None = None
    """Sent once per process that deployed a target (each xdist worker deploys its own)."""


_PROPERTY = "gauntlet"
"""Name of the ``user_properties`` entry holding a ``_Payload`` as JSON."""


@dataclass
class RunState:
    """Everything the plugin keeps for one pytest session (under ``config.stash``)."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    recorded: dict[str, Check] = field(default_factory=dict)
    """Checks by test node id (filled from test reports, in arrival order)."""
    slos: list[SloResult] = field(default_factory=list)
    """SLO results suites published, in arrival order."""
    loads: list[tuple[str, LoadReport]] = field(default_factory=list)
    """(check id, load report) per published load report; the scorecard keeps the last."""
    matrix: list[MatrixCell] = field(default_factory=list)
    tenants: dict[str, TenantResources] = field(default_factory=dict)
    chaos: list[ChaosExperimentReport] = field(default_factory=list)
    pod_start_latencies_ms: list[float] | None = None
    distribution: Distribution | None = None
    target_error: str | None = None
    # This process's deployment, not yet sent with a report:
    unsent_pod_starts: list[float] | None = None
    slo_specs: list[SloSpec] = field(default_factory=list)
    kube_target: Target | None = None
    """The Kubernetes driver of this process (--target kind/kubeconfig), once connected."""


STATE_KEY = pytest.StashKey[RunState]()


class Inconclusive(Exception):
    """Raised by a suite when it could not observe what a check claims."""


@dataclass
class CheckRecorder:
    """Handed to a test by the ``gauntlet_check`` fixture to record its verdict and evidence.

    ``publish_*`` put results into the run's scorecard; call them from the test body (what is
    published travels with the test's report, so it works under pytest-xdist too).
    """

    suite: str
    id: str
    title: str
    evidence: list[Evidence] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    verdict: Verdict | None = None
    message: str = ""
    slos: list[SloResult] = field(default_factory=list)
    load: LoadReport | None = None
    matrix: list[MatrixCell] = field(default_factory=list)
    tenants: list[TenantResources] = field(default_factory=list)
    chaos: list[ChaosExperimentReport] = field(default_factory=list)

    def attach(self, title: str, content: str, kind: str = "text") -> None:
        self.evidence.append(Evidence(kind=kind, title=title, content=content))

    def attach_target_evidence(
        self, target: object, *, cell: tuple[str, str, int] | None, namespaces: Sequence[str]
    ) -> None:
        """Attach what the target itself can show about a failure, when it has an
        ``evidence`` method (Kubernetes: Hubble flows of ``cell``, Gatekeeper audit, events,
        logs; the local sandbox has none). Evidence explains a verdict already decided, so
        nothing raised while gathering it may change that verdict: it is attached instead."""
        collect = getattr(target, "evidence", None)
        if not callable(collect):
            return
        try:
            blocks = [(str(t), str(x)) for t, x in collect(cell=cell, namespaces=list(namespaces))]
        except Exception as exc:
            self.attach("target evidence", f"unavailable: {type(exc).__name__}: {exc}")
            return
        for title, text in blocks:
            self.attach(title, text)

    def publish_slos(self, slos: Sequence[SloResult]) -> None:
        """Add SLO results to the scorecard (calls add up, from any number of checks)."""
        self.slos.extend(slos)

    def publish_load(self, report: LoadReport) -> None:
        """Set the run's load report (the scorecard holds one: the last one published)."""
        self.load = report

    def publish_matrix(self, cells: Sequence[MatrixCell]) -> None:
        """Add probed isolation matrix cells (calls add up; e.g. one row per check)."""
        self.matrix.extend(cells)

    def publish_tenants(self, tenants: Sequence[TenantResources]) -> None:
        """Add requested resources per tenant (a namespace published twice keeps the last)."""
        self.tenants.extend(tenants)

    def publish_chaos(self, report: ChaosExperimentReport) -> None:
        """Add a chaos experiment's report (timeline, windows, leaks) to the scorecard."""
        self.chaos.append(report)

    def conclude(self, verdict: Verdict, message: str = "") -> None:
        self.verdict = verdict
        self.message = message
        if verdict is Verdict.FAIL:
            pytest.fail(message, pytrace=False)
        if verdict is Verdict.INCONCLUSIVE:
            raise Inconclusive(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    from gauntlet.targets.kind.commands import add_cluster_options as add_kind_cluster_options

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
        "--allow-context",
        dest="gauntlet_allow_contexts",
        action="append",
        default=[],
        help="kubeconfig context load and chaos may disrupt (repeatable, patterns allowed; "
        "also $GAUNTLET_ALLOW_CONTEXTS, gauntlet.yaml allow_contexts; kind-gauntlet* always)",
    )
    group.addoption(
        "--agent-image",
        dest="gauntlet_agent_image",
        default=None,
        help="image the probe agent runs in on Kubernetes targets (a mirror the platform trusts)",
    )
    group.addoption(
        "--kind-name",
        default=None,
        help="--target kind: cluster to provision or reuse (default: gauntlet, or NAME of "
        "--context kind-NAME)",
    )
    add_kind_cluster_options(group.addoption)
    group.addoption(
        "--ingress-url",
        dest="gauntlet_ingress_url",
        default=None,
        help="base URL of the platform's ingress for load on Kubernetes targets",
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
    group.addoption(
        "--min-score",
        type=float,
        default=None,
        help="fail the run with SLO_BREACHED when its score (0-100) is below this",
    )
    group.addoption(
        "--prometheus-url",
        default=None,
        help="Prometheus server for SLIs with a Prometheus source (default: "
        "$GAUNTLET_PROMETHEUS_URL; without one those SLOs are skipped)",
    )
    group.addoption(
        "--slo-specs",
        default=None,
        help="SLO spec directory or file (OpenSLO v1; default: scenarios/slos)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STATE_KEY] = _STATE.state = RunState()
    progress.enable(bool(config.getoption("gauntlet_progress")))
    config.addinivalue_line("markers", "gauntlet_suite(name): a Gauntlet conformance suite")
    config.addinivalue_line(
        "markers",
        "gauntlet_requires(*components): platform components the test needs (cilium, "
        "cilium-l7, hubble, gatekeeper, openshift); skipped where the target lacks one",
    )


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
    sandbox: Target
    if kind == "local":
        from gauntlet.targets.local.sandbox import LocalSandbox

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        sandbox = LocalSandbox(sandbox_name=f"run-{os.getpid()}-{worker}")
    else:
        sandbox = _kubernetes_target(pytestconfig)
    atexit.register(sandbox.teardown)  # Ctrl-C or an error in a later fixture
    try:
        state.distribution = sandbox.distribution()
        where = "the local sandbox" if kind == "local" else f"{kind} ({sandbox.name})"
        progress.say(f"deploying {len(gauntlet_blueprint.pods())} pods into {where}")
        report = sandbox.deploy(gauntlet_blueprint)
        progress.say(
            f"deployed in {report.duration_s:.1f}s (policy revision {report.policy_revision})"
        )
        state.unsent_pod_starts = [
            p.start_latency_ms for p in report.pods if p.start_latency_ms is not None
        ]
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


def _kubernetes_target(config: pytest.Config) -> Target:
    """The Kubernetes driver for --target kind/kubeconfig, built once per process (the
    requirement check and the fixture share it). A TargetError (no kubeconfig, unknown context,
    API unreachable) is recorded: the run ends inconclusive with the reason."""
    state = config.stash[STATE_KEY]
    if state.kube_target is None:
        from gauntlet.targets.kubernetes.driver import connect

        kind = config.getoption("target")
        try:
            state.kube_target = connect(
                kind,
                context=config.getoption("gauntlet_context"),
                allow_contexts=config.getoption("gauntlet_allow_contexts"),
                agent_image=config.getoption("gauntlet_agent_image"),
                ingress_url=config.getoption("gauntlet_ingress_url"),
                kind_options=_kind_options(config) if kind == "kind" else None,
            )
        except TargetError as exc:
            state.target_error = str(exc)
            raise
    return state.kube_target


def _kind_options(config: pytest.Config) -> KindOptions:
    """What ``gauntlet up --target kind`` is given for the cluster this run provisions or
    reuses: the same name, blueprint, agent image, kind config and versions (the last two make
    its reuse hash, so any difference is another cluster)."""
    from gauntlet.targets.kind.provision import DEFAULT_NAME, KindOptions, default_kind_config

    context = config.getoption("gauntlet_context") or ""
    platform, kind_config = config.getoption("platform"), config.getoption("kind_config")
    return KindOptions(
        name=config.getoption("kind_name")
        or (context.removeprefix("kind-") if context.startswith("kind-") else DEFAULT_NAME),
        kind_config=Path(kind_config) if kind_config else default_kind_config(),
        kubernetes_version=config.getoption("kubernetes_version"),
        cilium_version=config.getoption("cilium_version"),
        gatekeeper_version=config.getoption("gatekeeper_version"),
        platform=Path(platform) if platform else None,
        agent_image=config.getoption("gauntlet_agent_image"),
    )


def _target_components(config: pytest.Config) -> frozenset[str] | None:
    """Components of the target (None: the local sandbox, which provides them all)."""
    if (config.getoption("target") or "local") == "local":
        return None
    target = _kubernetes_target(config)
    components = getattr(target, "components", None)
    return components() if callable(components) else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests whose ``gauntlet_requires`` components the target lacks, before any fixture
    deploys anything (a cluster without Cilium cannot even take the blueprint's CNPs)."""
    needed = [str(c) for m in item.iter_markers("gauntlet_requires") for c in m.args]
    if not needed:
        return
    try:
        have = _target_components(item.config)
    except TargetError:
        return  # the gauntlet_target fixture reports the target error itself
    if have is None:
        return
    missing = [c for c in dict.fromkeys(needed) if c not in have]
    if missing:
        target = _kubernetes_target(item.config)
        preflight = getattr(target, "preflight", None)
        reasons = [preflight().missing_reason(c) if callable(preflight) else c for c in missing]
        item.stash[_RECORDER_KEY] = _recorder(item)
        pytest.skip("requires " + "; ".join(reasons))


def _slo_specs(config: pytest.Config) -> list[SloSpec]:
    value = config.getoption("slo_specs")
    return load_specs(Path(value) if value else None)


@pytest.fixture(scope="session")
def gauntlet_slo_specs(pytestconfig: pytest.Config) -> list[SloSpec]:
    """The run's SLO specs (``--slo-specs``, default ``scenarios/slos``); filter by
    ``spec.measurement`` (e.g. ``"load"``) before evaluating."""
    return pytestconfig.stash[STATE_KEY].slo_specs or _slo_specs(pytestconfig)


@pytest.fixture(scope="session")
def gauntlet_prometheus(pytestconfig: pytest.Config) -> PrometheusSource | None:
    """The Prometheus server for SLIs with a Prometheus source, or None (they are skipped)."""
    return PrometheusSource.from_env(pytestconfig.getoption("prometheus_url"))


def pytest_collection_finish(session: pytest.Session) -> None:
    # A broken SLO spec is a usage error before anything runs, not a surprise at the end.
    if any(item.get_closest_marker("gauntlet_suite") for item in session.items):
        try:
            session.config.stash[STATE_KEY].slo_specs = _slo_specs(session.config)
        except SloSpecError as exc:
            raise pytest.UsageError(f"SLO spec error: {exc}") from None


def _recorder(node: pytest.Item) -> CheckRecorder:
    marker = node.get_closest_marker("gauntlet_suite")
    module = getattr(node, "module", None)
    suite = str(marker.args[0]) if marker else str(getattr(module, "__name__", "")).split(".")[-1]
    cid = getattr(node, "callspec", None)
    check_id = f"{suite}/{cid.id}" if cid else f"{suite}/{node.name}"
    return CheckRecorder(suite=suite, id=check_id, title=node.name)


@pytest.fixture
def gauntlet_check(request: pytest.FixtureRequest) -> CheckRecorder:
    recorder = _recorder(request.node)
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
        check = Check(
            suite=recorder.suite,
            id=recorder.id,
            title=recorder.title,
            verdict=verdict,
            message=message,
            duration_s=report.duration,
            evidence=recorder.evidence,
            counts=recorder.counts,
        )
        payload = _Payload(
            check=check,
            slos=recorder.slos,
            load=recorder.load,
            matrix=recorder.matrix,
            tenants=recorder.tenants,
            chaos=recorder.chaos,
            distribution=state.distribution,
            pod_start_latencies_ms=state.unsent_pod_starts,
        )
        state.unsent_pod_starts = None
        report.user_properties.append((_PROPERTY, payload.model_dump_json()))
        if alluredir(item.config.option) is not None:
            attach_check(
                check,
                slos=payload.slos,
                load=payload.load,
                matrix=payload.matrix,
                tenants=payload.tenants,
            )
    return report


class _CurrentState:
    """The session's RunState for hooks that get no config (``pytest_runtest_logreport``)."""

    state: RunState | None = None


_STATE = _CurrentState()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect what a check recorded, from this process or (under xdist) from a worker."""
    for name, value in report.user_properties:  # xdist turns each tuple into a list
        if name == _PROPERTY and isinstance(value, str) and _STATE.state is not None:
            _collect(_STATE.state, report.nodeid, _Payload.model_validate_json(value))


def _collect(state: RunState, nodeid: str, payload: _Payload) -> None:
    state.recorded[nodeid] = payload.check
    state.slos.extend(payload.slos)
    if payload.load is not None:
        state.loads.append((payload.check.id, payload.load))
    state.matrix.extend(payload.matrix)
    for tenant in payload.tenants:
        state.tenants[tenant.namespace] = tenant
    state.chaos.extend(payload.chaos)
    if payload.distribution is not None and state.distribution is None:
        state.distribution = payload.distribution
    if payload.pod_start_latencies_ms is not None:
        state.pod_start_latencies_ms = [
            *(state.pod_start_latencies_ms or []),
            *payload.pod_start_latencies_ms,
        ]


_SCORECARD_KEY = pytest.StashKey[Scorecard]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.recorded or hasattr(config, "workerinput"):
        return  # nothing recorded, or an xdist worker: the controller writes the scorecard
    finished_at = datetime.now(UTC)
    distribution = state.distribution or Distribution(name="unknown")
    checks = list(state.recorded.values())
    specs = state.slo_specs
    if not specs:
        # The xdist controller collects nothing, so it loads the specs here (the workers already
        # refused a broken spec at collection).
        try:
            specs = _slo_specs(config)
        except SloSpecError:
            specs = []
    run_level = evaluate_run(
        specs,
        checks=checks,
        matrix=state.matrix,
        pod_start_latencies_ms=state.pod_start_latencies_ms,
        started_at=state.started_at,
        finished_at=finished_at,
        distribution=distribution.name,
        prometheus=PrometheusSource.from_env(config.getoption("prometheus_url")),
    )
    slos = merge(state.slos, run_level)
    scorecard = build_scorecard(
        checks=checks,
        slos=slos,
        target=config.getoption("target") or "local",
        profile=config.getoption("gauntlet_profile"),
        platform=str(_platform_dir(config)),
        distribution=distribution,
        started_at=state.started_at,
        finished_at=finished_at,
        load=state.loads[-1][1] if state.loads else None,
        matrix=state.matrix,
        tenants=list(state.tenants.values()),
        chaos=state.chaos,
        min_score=config.getoption("min_score"),
    )
    config.stash[_SCORECARD_KEY] = scorecard
    report_dir = config.getoption("report_dir")
    if report_dir:
        write_scorecard(scorecard, Path(report_dir) / "scorecard.json")
        write_junit(scorecard, Path(report_dir) / "junit.xml")
        write_html(scorecard, Path(report_dir) / "report.html")
    if (allure_dir := alluredir(config.option)) is not None:
        html = Path(report_dir) / "report.html" if report_dir else None
        write_run_results(scorecard, allure_dir, report_html=html)
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
    scorecard = terminalreporter.config.stash.get(_SCORECARD_KEY, None)
    if scorecard is None:
        return
    if len(state.loads) > 1:
        others = ", ".join(cid for cid, _ in state.loads[:-1])
        terminalreporter.write_line(
            f"note: {len(state.loads)} load reports were published; the scorecard keeps the "
            f"last ({state.loads[-1][0]}), not {others}"
        )
    for slo in scorecard.slos:
        terminalreporter.write_line(f"{slo.verdict.value.upper():>12}  SLO {_slo_line(slo)}")
    terminalreporter.write_sep("-", f"gauntlet score {scorecard.score:.2f}")
    terminalreporter.write_line(scorecard.score_formula)


def _slo_line(slo: SloResult) -> str:
    unit = "" if slo.unit in ("", "ratio") else f" {slo.unit}"
    sign = "<=" if slo.comparator == "lte" else ">="
    observed = "no data" if slo.observed is None else f"{slo.observed:g}{unit}"
    budget = (
        "" if slo.error_budget_consumed is None else f", budget {slo.error_budget_consumed:.0%}"
    )
    fired = [a.name for a in slo.alerts if a.fired]
    alerts = f", alerts fired: {', '.join(fired)}" if fired else ""
    critical = " (critical)" if slo.critical else ""
    tail = f" [{slo.message}]" if slo.observed is None and slo.message else ""
    return (
        f"{slo.name}{critical}: {observed} (objective {sign} {slo.objective:g}{unit}){budget}"
        f"{alerts}{tail}"
    )


__all__ = ["CheckRecorder", "ExitCode", "Inconclusive"]
