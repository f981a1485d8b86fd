"""``gauntlet selfcheck``: prove the suites have teeth by planting known faults one at a time.

A baseline run (no fault) must pass first, otherwise "detected" would mean nothing; then each
fault runs the suites on a fresh sandbox with the fault planted, and counts as detected when the
run fails conformance. ``selfcheck.json`` lists every fault with its outcome.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from gauntlet.blueprint import load_blueprint
from gauntlet.exitcodes import ExitCode
from gauntlet.load.service import NoLoadService, load_service
from gauntlet.oracle import compute_truth_table
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.report.scorecard import atomic_write_text
from gauntlet.targets.local.faults import FAULTS


class FaultOutcome(BaseModel):
    id: str
    description: str
    plant: str
    detected: bool
    run_exit_code: int
    failed_checks: list[str]
    breached_slos: list[str] = []
    """SLOs that failed in the fault's run (load faults are caught by SLOs, not checks)."""
    gate_exit_code: int | None = None
    """``gauntlet gate --baseline <baseline run> --candidate <this run>`` (SLO faults only):
    an upgrade gate must stop a release that brings this fault."""
    gate_verdict: str = ""


class SelfcheckReport(BaseModel):
    schema_: str = "gauntlet.selfcheck/v1"
    baseline_exit_code: int
    detected: int
    total: int
    faults: list[FaultOutcome]


# Which suite must catch which fault: ``selfcheck --suite X`` plants only X's faults.
FAULT_SUITES: dict[str, str] = {
    "default-deny-removed": "isolation",
    "cross-tenant-allow-all": "isolation",
    "enforcement-off-pod": "isolation",
    "admission-webhook-down": "policy",
    "constraint-dryrun": "policy",
    "rbac-wildcard": "tenancy",
    "quota-removed": "tenancy",
    "l7-proxy-bypassed": "l7",
    "l7-path-unanchored": "l7",
    "l7-method-dropped": "l7",
    "slow-responses": "load",
    "error-responses": "load",
    "controller-no-restart": "chaos",
    "engine-restart-fail-open": "chaos",
    "rollback-keeps-partition": "chaos",
}

# Faults a conformance check cannot see but an SLO must: detected when the run breaches an SLO
# whose name or SLI contains one of these ("latency-p95", "request-availability"), not by
# failing checks.
SLO_FAULTS: dict[str, tuple[str, ...]] = {
    "slow-responses": ("latency",),
    "error-responses": ("availability",),
}


def planted_faults(platform: Path, suites: list[str] | None = None) -> list[tuple[str, str]]:
    """(fault id, --gauntlet-plant spec) for the blueprint, picking its first tenants/pods."""
    bp = load_blueprint(platform)
    tenants = bp.tenants()
    if len(tenants) < 2:
        raise ValueError("selfcheck needs a blueprint with at least two tenants")
    first_pod = sorted(p.key for p in bp.pods() if p.namespace == tenants[0])[0]
    faults = [
        ("default-deny-removed", f"default-deny-removed:namespace={tenants[0]}"),
        ("cross-tenant-allow-all", f"cross-tenant-allow-all:namespaces={','.join(tenants)}"),
        ("enforcement-off-pod", f"enforcement-off-pod:pod={first_pod}"),
        ("admission-webhook-down", "admission-webhook-down:failurePolicy=Ignore"),
    ]
    # Switch the constraint behind the image-tag guardrail (G2) to dryrun: the one a platform
    # team would relax "temporarily" and forget.
    tag_constraints = sorted(
        c.metadata.name
        for c in bp.constraints
        if "G2" in c.metadata.annotations.get("gauntlet.io/guardrail", "").split(",")
    )
    if tag_constraints:
        faults.append(("constraint-dryrun", f"constraint-dryrun:constraint={tag_constraints[0]}"))
    faults.append(("rbac-wildcard", f"rbac-wildcard:namespace={tenants[0]}"))
    if any(q.metadata.namespace == tenants[0] for q in bp.quotas):
        faults.append(("quota-removed", f"quota-removed:namespace={tenants[0]}"))
    # The L7 faults act on every proxy of the sandbox, so they need no parameters; they can only
    # be detected on a blueprint with HTTP rules.
    if any(e.l7_proxied for e in compute_truth_table(bp).expectations):
        faults += [(f, f) for f in ("l7-proxy-bypassed", "l7-path-unanchored", "l7-method-dropped")]
    # Load faults go on every pod behind the Service the load suite loads (the workload): on
    # one pod of two, how the users' keep-alive connections happen to split would decide
    # whether the SLOs see it.
    with contextlib.suppress(NoLoadService):
        pods = ",".join(load_service(bp).pods)
        faults += [
            ("slow-responses", f"slow-responses:pods={pods};latency_ms=500"),
            ("error-responses", f"error-responses:pods={pods};ratio=0.1"),
        ]
    # Chaos faults change how the sandbox behaves under chaos (its controller, its policy
    # engine's restarts, partition rollbacks); the chaos suite's experiments must notice.
    faults += [
        (f, f)
        for f in ("controller-no-restart", "engine-restart-fail-open", "rollback-keeps-partition")
    ]
    if suites:
        faults = [f for f in faults if FAULT_SUITES[f[0]] in suites]
    return faults


def _detected(
    fault_id: str, code: int, failed: list[str], breached: list[str], gate_code: int | None = None
) -> bool:
    if fault_id in SLO_FAULTS:
        slo_breached = code in (ExitCode.SLO_BREACHED, ExitCode.CONFORMANCE_FAILED) and bool(
            breached
        )
        return slo_breached and gate_code != ExitCode.OK
    return code == ExitCode.CONFORMANCE_FAILED and bool(failed)


def _gate(baseline: Path, candidate: Path) -> tuple[int | None, str]:
    """The upgrade gate of a fault's run against the clean baseline run (exit code, verdict)."""
    from gauntlet.report.gate import GateError, gate
    from gauntlet.report.scorecard import ScorecardError, load_scorecard

    try:
        result = gate(load_scorecard(baseline), load_scorecard(candidate))
    except (OSError, ScorecardError, GateError) as exc:
        return None, f"gate not run: {exc}"
    return int(result.exit_code), result.lines()[-1]


def run_selfcheck(args: argparse.Namespace, run: Callable[[Path, list[str]], int]) -> int:
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    platform = Path(args.platform) if args.platform else REFERENCE_PLATFORM
    print("gauntlet selfcheck: baseline run (no fault planted)")
    baseline = run(report_dir / "baseline", [])
    outcomes = []
    for fault_id, spec in planted_faults(platform, list(getattr(args, "suite", None) or [])):
        print(f"gauntlet selfcheck: planting {spec}")
        rd = report_dir / fault_id
        code = run(rd, ["--gauntlet-plant", spec])
        failed: list[str] = []
        breached: list[str] = []
        gate_code: int | None = None
        gate_verdict = ""
        scorecard = rd / "scorecard.json"
        if scorecard.exists():
            data = json.loads(scorecard.read_text())
            failed = [c["id"] for c in data["checks"] if c["verdict"] == "fail"]
            keys = SLO_FAULTS.get(fault_id, ("",))
            breached = [
                s["name"]
                for s in data.get("slos", [])
                if s["verdict"] == "fail"
                and any(k in s["name"] or k in (s.get("sli") or "") for k in keys)
            ]
            if fault_id in SLO_FAULTS:
                gate_code, gate_verdict = _gate(
                    report_dir / "baseline" / "scorecard.json", scorecard
                )
        outcomes.append(
            FaultOutcome(
                id=fault_id,
                description=FAULTS[fault_id],
                plant=spec,
                detected=_detected(fault_id, code, failed, breached, gate_code),
                run_exit_code=code,
                failed_checks=failed,
                breached_slos=breached,
                gate_exit_code=gate_code,
                gate_verdict=gate_verdict,
            )
        )
    report = SelfcheckReport(
        baseline_exit_code=baseline,
        detected=sum(o.detected for o in outcomes),
        total=len(outcomes),
        faults=outcomes,
    )
    data = report.model_dump()
    data["schema"] = data.pop("schema_")
    atomic_write_text(report_dir / "selfcheck.json", json.dumps(data, indent=2) + "\n")
    for o in outcomes:
        mark = "DETECTED" if o.detected else "MISSED  "
        caught = f"{len(o.failed_checks)} failing checks"
        if o.id in SLO_FAULTS:
            caught = f"breached SLOs: {', '.join(o.breached_slos) or 'none'}; {o.gate_verdict}"
        print(f"  {mark} {o.id}: {o.description} ({caught})")
    print(
        f"gauntlet selfcheck: {report.detected}/{report.total} planted faults detected; "
        f"baseline exit {baseline}; report {report_dir / 'selfcheck.json'}"
    )
    if baseline != ExitCode.OK:
        print("gauntlet selfcheck: the baseline run did not pass, so detections prove nothing")
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK if report.detected == report.total else ExitCode.CONFORMANCE_FAILED
