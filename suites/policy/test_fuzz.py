"""Admission fuzzing (promise P4): generated Pods and Deployments go to the target's admission,
and the answer must agree with the platform's intent (``guardrail_intent.py``), manifest by
manifest. A disagreement fails the check with hypothesis' shrunk, minimal manifest.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import Tenant
from guardrail_intent import ACTIONS, GUARDRAILS, violated
from guardrail_strategies import workloads
from hypothesis import HealthCheck, given, settings

from gauntlet.plugin import CheckRecorder
from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import Target, TargetError

pytestmark = [pytest.mark.gauntlet_suite("policy"), pytest.mark.gauntlet_requires("gatekeeper")]

EXAMPLES = {"smoke": 500, "nightly": 2000, "gameday": 500}
FUZZED = tuple(g for g in GUARDRAILS if ACTIONS[g] != "dryrun")


class Disagreement(AssertionError):
    def __init__(self, manifest: dict[str, Any], detail: str) -> None:
        self.manifest = manifest
        self.detail = detail
        super().__init__(detail)


class Unanswered(Exception):
    pass


@pytest.mark.parametrize("guardrail", FUZZED)
def test_admission_fuzz(
    guardrail: str,
    tenant: Tenant | str,
    gauntlet_target: Target,
    constraints_by_guardrail: dict[str, set[str]],
    gauntlet_check: CheckRecorder,
    pytestconfig: pytest.Config,
) -> None:
    """Generated workloads focused on one guardrail: admitted iff the intent admits them, refused
    by exactly the constraints of the guardrails they break, warned by the warn guardrails."""
    if isinstance(tenant, str):
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, tenant)
        return
    guardrail_of = {n: g for g, names in constraints_by_guardrail.items() for n in names}
    examples = EXAMPLES.get(pytestconfig.getoption("gauntlet_profile") or "smoke", 500)
    seen = {"count": 0, "refused": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        workloads(
            namespace=tenant.namespace,
            team=tenant.team,
            cost_center=tenant.cost_center,
            focus=guardrail,
        )
    )
    def check(manifest: dict[str, Any]) -> None:
        expected = violated(manifest, pod_defaults=tenant.pod_defaults)
        want_deny = {g for g in expected if ACTIONS[g] == "deny"}
        want_warn = {g for g in expected if ACTIONS[g] == "warn"}
        try:
            result = gauntlet_target.admit(manifest, as_user=tenant.user)
        except TargetError as exc:
            raise Unanswered(str(exc)) from None
        seen["count"] += 1
        seen["refused"] += not result.allowed
        denied = {guardrail_of.get(d.constraint, f"?{d.constraint}") for d in result.denials}
        warned = {
            guardrail_of.get(w.split("]", 1)[0].lstrip("["), f"?{w}") for w in result.warnings
        }
        problems = []
        if result.allowed == bool(want_deny):
            verb = "admitted" if result.allowed else "refused"
            problems.append(f"{verb}, but the intent says {sorted(want_deny) or 'admit'}")
        if not result.allowed and not result.denials:
            problems.append(f"refused outside Gatekeeper: {result.status_code} {result.message}")
        if denied != want_deny and result.denials:
            problems.append(f"denied by {sorted(denied)}, intent {sorted(want_deny)}")
        if warned != want_warn:
            problems.append(f"warned by {sorted(warned)}, intent {sorted(want_warn)}")
        if problems:
            answer = [f"[{d.constraint}] {d.message}" for d in result.denials] + [
                f"warning: {w}" for w in result.warnings
            ]
            raise Disagreement(manifest, "; ".join(problems) + "\n" + "\n".join(answer))

    try:
        check()
    except Unanswered as exc:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"admission did not answer: {exc}")
        return
    except Disagreement as exc:
        gauntlet_check.attach(
            "minimal manifest (shrunk by hypothesis)",
            yaml.safe_dump(exc.manifest, sort_keys=False),
            kind="yaml",
        )
        gauntlet_check.counts.update(examples=seen["count"])
        gauntlet_check.conclude(
            Verdict.FAIL, f"{guardrail}: target and intent disagree: {exc.detail}"
        )
        return
    gauntlet_check.counts.update(examples=seen["count"], refused=seen["refused"])
    gauntlet_check.conclude(
        Verdict.PASS,
        f"{guardrail}: {seen['count']} generated manifests, target agreed with the intent "
        f"on every one ({seen['refused']} refused)",
    )
