"""Policy suite (promise P4): every guardrail refuses what it must, with a message naming its
constraint, admits the compliant twin, and warn/dryrun/audit behave as declared.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import Tenant
from guardrail_intent import ACTIONS, GUARDRAILS, violated
from guardrail_manifests import TWINS, Twin, compliant, violating

from gauntlet.plugin import CheckRecorder
from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import AdmissionResult, Target, TargetError

pytestmark = [pytest.mark.gauntlet_suite("policy"), pytest.mark.gauntlet_requires("gatekeeper")]

CASES = [(t, kind) for t in TWINS for kind in t.kinds]


def _describe(result: AdmissionResult) -> str:
    lines = [f"allowed={result.allowed} status={result.status_code}"]
    lines += [f"denial [{d.constraint}] {d.message}" for d in result.denials]
    lines += [f"warning {w}" for w in result.warnings]
    if result.message and not result.denials:
        lines.append(f"message {result.message}")
    return "\n".join(lines)


def _admit(target: Target, manifest: dict[str, object], tenant: Tenant) -> AdmissionResult:
    return target.admit(manifest, as_user=tenant.user)


@pytest.mark.parametrize(
    ("twin", "kind"),
    CASES,
    ids=[f"{t.guardrail}-{t.variant.replace(' ', '-')}-{k}" for t, k in CASES],
)
def test_guardrail_twin(
    twin: Twin,
    kind: str,
    tenant: Tenant | str,
    gauntlet_target: Target,
    constraints_by_guardrail: dict[str, set[str]],
    gauntlet_check: CheckRecorder,
) -> None:
    """The compliant manifest is admitted cleanly; its twin breaking one guardrail is refused
    (deny), admitted with a warning (warn) or admitted silently (dryrun) by its constraint."""
    if isinstance(tenant, str):
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, tenant)
        return
    names = constraints_by_guardrail[twin.guardrail]
    if not names:
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"no constraint declares guardrail {twin.guardrail} "
            "(annotation gauntlet.io/guardrail); the platform does not implement it",
        )
        return
    base = compliant(
        kind,
        namespace=tenant.namespace,
        team=tenant.team,
        cost_center=tenant.cost_center,
        name=f"gauntlet-{twin.guardrail.lower()}",
    )
    bad = violating(base, twin, tenant.team)
    # The twin must break exactly this guardrail by the intent, or the case proves nothing.
    assert violated(bad, pod_defaults=tenant.pod_defaults) - {"G7"} == (
        {twin.guardrail} - {"G7"}
    ), "suite bug: twin breaks other guardrails"
    try:
        good_result = _admit(gauntlet_target, copy.deepcopy(base), tenant)
        bad_result = _admit(gauntlet_target, bad, tenant)
    except TargetError as exc:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"admission did not answer: {exc}")
        return
    gauntlet_check.attach("violating manifest", yaml.safe_dump(bad, sort_keys=False), kind="yaml")
    gauntlet_check.attach(
        "answers", f"compliant:\n{_describe(good_result)}\n\nviolating:\n{_describe(bad_result)}"
    )
    if not good_result.allowed or good_result.denials or good_result.warnings:
        gauntlet_check.conclude(
            Verdict.FAIL, f"the compliant twin was not admitted cleanly: {_describe(good_result)}"
        )
        return
    action = ACTIONS[twin.guardrail]
    denied_by = {d.constraint for d in bad_result.denials}
    warned_by = {w.split("]", 1)[0].lstrip("[") for w in bad_result.warnings}
    if action == "deny":
        ok = not bad_result.allowed and bool(denied_by & names)
        expectation = f"refused by {sorted(names)}"
    elif action == "warn":
        ok = bad_result.allowed and bool(warned_by & names)
        expectation = f"admitted with a warning from {sorted(names)}"
    else:
        ok = bad_result.allowed and not (denied_by | warned_by) & names
        expectation = f"admitted without a word from {sorted(names)} (dryrun: audit only)"
    if ok:
        gauntlet_check.conclude(Verdict.PASS, f"{twin.variant}: {expectation}")
    else:
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"{twin.variant}: expected {expectation}; got {_describe(bad_result)}",
        )


def test_audit_matches_intent(
    gauntlet_target: Target,
    gauntlet_blueprint: object,
    constraints_by_guardrail: dict[str, set[str]],
    tenant: Tenant | str,
    gauntlet_check: CheckRecorder,
) -> None:
    """Gatekeeper's audit over the objects that exist finds exactly the guardrail violations the
    intent predicts (pre-existing violations of warn/dryrun guardrails included)."""
    from gauntlet.blueprint.model import Blueprint

    assert isinstance(gauntlet_blueprint, Blueprint)
    bp = gauntlet_blueprint
    guardrail_of = {n: g for g, names in constraints_by_guardrail.items() for n in names}
    try:
        findings = gauntlet_target.audit()
    except TargetError as exc:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"audit did not answer: {exc}")
        return
    observed = {
        (guardrail_of[f.constraint], f.kind, f.namespace, f.name)
        for f in findings
        if f.constraint in guardrail_of
    }
    expected = set()
    for ns in bp.tenants():
        for (kind, namespace, name), doc in bp.manifests.items():
            if namespace != ns:
                continue
            # Existing Pods were defaulted when they were created; templates never are.
            for g in violated(doc):
                if g in guardrail_of.values() and not (kind == "Pod" and g == "G3"):
                    expected.add((g, kind, namespace, name))
    gauntlet_check.counts.update(findings=len(findings), expected=len(expected))
    lines = [f"{g} {k} {ns}/{n}" for g, k, ns, n in sorted(observed)]
    gauntlet_check.attach(
        "audit findings (guardrail kind namespace/name)", "\n".join(lines) or "none"
    )
    if not expected:
        gauntlet_check.conclude(
            Verdict.INCONCLUSIVE,
            "no pre-existing violation in any tenant: audit cannot be shown to find anything",
        )
    elif observed == expected:
        gauntlet_check.conclude(
            Verdict.PASS, f"audit found exactly the {len(expected)} expected violations"
        )
    else:
        missing = sorted(expected - observed)
        extra = sorted(observed - expected)
        gauntlet_check.conclude(
            Verdict.FAIL, f"audit disagrees with the intent: missing {missing}, unexpected {extra}"
        )


@pytest.mark.parametrize("guardrail", GUARDRAILS)
def test_guardrail_declared(
    guardrail: str, constraints_by_guardrail: dict[str, set[str]], gauntlet_check: CheckRecorder
) -> None:
    """Every guardrail of the platform is implemented by at least one constraint."""
    names = constraints_by_guardrail[guardrail]
    if names:
        gauntlet_check.conclude(Verdict.PASS, f"{guardrail}: {', '.join(sorted(names))}")
    else:
        gauntlet_check.conclude(Verdict.FAIL, f"{guardrail}: no constraint implements it")
