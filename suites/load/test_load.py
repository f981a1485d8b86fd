"""Load suite (promise P7): a tenant's api keeps its SLOs under the profile's load.

The profile's locustfile (``--profile smoke|nightly|gameday``, see gauntlet.load.profiles) runs
once per session from the platform's ingress gateway pod against the first tenant's public
Service (``gauntlet.load.service``), the way outside traffic reaches it: through the Service,
the network policies and the tenant's L7 rules. Two checks:

- ``load/run``: the load ran and was measured (requests were answered); its ``LoadReport``
  (exact percentiles, per-second series, phases, HDR histogram) goes into the scorecard;
- ``load/slos``: the SLO specs in ``scenarios/slos/`` evaluated over the measurements; each
  SLO lands in the scorecard with its verdict, budget and burn rates. A breach does not fail
  the check (the platform behaved, it was just too slow or too flaky): it sets the run's exit
  code to SLO_BREACHED through the scorecard.

How to read the results and write profiles: docs/load.md.
"""

from __future__ import annotations

import pytest
from load_helpers import LoadOutcome, slo_table, summary

from gauntlet import progress
from gauntlet.blueprint import Blueprint
from gauntlet.load.live import LiveProgress
from gauntlet.load.profiles import UnknownProfile, load_profile
from gauntlet.load.runner import LoadError, run_load
from gauntlet.load.service import NoLoadService, load_service
from gauntlet.plugin import CheckRecorder
from gauntlet.report.scorecard import Verdict
from gauntlet.slo import Measurements, PrometheusSource, SloSpec, evaluate
from gauntlet.targets.base import NotSupportedByTarget, Target, TargetError

pytestmark = pytest.mark.gauntlet_suite("load")

CONVERGENCE_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def load_outcome(
    pytestconfig: pytest.Config, gauntlet_target: Target, gauntlet_blueprint: Blueprint
) -> LoadOutcome:
    try:
        svc = load_service(gauntlet_blueprint)
    except NoLoadService as exc:
        return LoadOutcome(None, "", "", str(exc))
    where = f"{svc.key}:{svc.port}"
    if not gauntlet_target.wait_policy_converged(timeout_s=CONVERGENCE_TIMEOUT_S):
        return LoadOutcome(None, "", where, "policies did not converge: load would measure that")
    try:
        profile = load_profile(pytestconfig.getoption("gauntlet_profile"))
        url = gauntlet_target.load_entrypoint(svc.namespace, svc.service, port=svc.port)
        prefix = gauntlet_target.load_exec_prefix()
        source = getattr(gauntlet_target, "default_load_source", lambda: "the harness")()
        progress.say(f"load: profile {profile.name} against {where} ({url}) from {source}")
        with LiveProgress(enabled=bool(pytestconfig.getoption("gauntlet_progress"))) as live:
            run = run_load(profile, url, exec_prefix=prefix, progress=live)
    except (UnknownProfile, NotSupportedByTarget, TargetError, LoadError) as exc:
        return LoadOutcome(None, "", where, f"{type(exc).__name__}: {exc}")
    report = run.report
    progress.say(
        f"load: {report.requests} requests in {report.duration_s:.1f}s "
        f"({report.rps:.0f} req/s), {report.errors} errors, p95 {report.latency.p95_ms:.1f} ms"
    )
    return LoadOutcome(run, source, where)


def test_run(load_outcome: LoadOutcome, gauntlet_check: CheckRecorder) -> None:
    """The profile's load ran against the tenant's Service and every request was measured."""
    run = load_outcome.run
    if run is None:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"no load ran: {load_outcome.problem}")
        return
    report = run.report
    gauntlet_check.publish_load(report)
    text = summary(report, source=load_outcome.source, service=load_outcome.service)
    gauntlet_check.attach("load summary", text)
    gauntlet_check.counts.update(requests=report.requests, errors=report.errors)
    if report.requests == 0:
        # Not even a failure was recorded: the load generator, not the service, is at fault.
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"the load completed no request\n{text}")


def test_slos(
    load_outcome: LoadOutcome,
    gauntlet_target: Target,
    gauntlet_slo_specs: list[SloSpec],
    gauntlet_prometheus: PrometheusSource | None,
    gauntlet_check: CheckRecorder,
) -> None:
    """The SLOs that read the load (availability, latency...) over its measurements."""
    specs = [s for s in gauntlet_slo_specs if s.measurement == "load"]
    if not specs:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, "no SLO spec reads the load measurements")
        return
    results = evaluate(
        specs,
        Measurements(load=load_outcome.run),
        distribution=gauntlet_target.distribution().name,
        prometheus=gauntlet_prometheus,
        window="load",
    )
    # Published even without a load: the SLOs are then inconclusive (no data), never a pass.
    gauntlet_check.publish_slos(results)
    gauntlet_check.attach("load SLOs", slo_table(results))
    gauntlet_check.counts.update(
        slos=len(results), breached=sum(r.verdict is Verdict.FAIL for r in results)
    )
    if load_outcome.run is None:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"no load ran: {load_outcome.problem}")
