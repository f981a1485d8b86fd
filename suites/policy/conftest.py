"""Shared fixtures of the policy suite: who submits, where, and which constraint is which."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from guardrail_intent import GUARDRAILS, LimitDefaults

from gauntlet.blueprint.model import Blueprint
from gauntlet.targets.base import Subject, Target

# Constraints say which guardrail of docs/guardrails.md they implement with this annotation.
GUARDRAIL_ANNOTATION = "gauntlet.io/guardrail"


@dataclass(frozen=True)
class Tenant:
    namespace: str
    team: str
    cost_center: str
    user: str
    pod_defaults: LimitDefaults | None


def guardrail_constraints(bp: Blueprint) -> dict[str, set[str]]:
    """Guardrail id -> names of the constraints that declare they implement it."""
    out: dict[str, set[str]] = {g: set() for g in GUARDRAILS}
    for c in bp.constraints:
        for g in c.metadata.annotations.get(GUARDRAIL_ANNOTATION, "").split(","):
            if g.strip() in out:
                out[g.strip()].add(c.metadata.name)
    return out


@pytest.fixture(scope="session")
def constraints_by_guardrail(gauntlet_blueprint: Blueprint) -> dict[str, set[str]]:
    return guardrail_constraints(gauntlet_blueprint)


@pytest.fixture(scope="session")
def tenant(gauntlet_blueprint: Blueprint, gauntlet_target: Target) -> Tenant | str:
    """The first tenant namespace, submitting as a service account allowed to create
    Deployments and Pods there (a reason string when there is none)."""
    bp = gauntlet_blueprint
    for ns in bp.tenants():
        labels = bp.namespace_labels(ns)
        for sa in bp.service_accounts:
            if sa.metadata.namespace != ns:
                continue
            subject = Subject(kind="ServiceAccount", name=sa.metadata.name, namespace=ns)
            if all(
                gauntlet_target.can_i(subject, "create", r, namespace=ns)
                for r in ("pods", "deployments.apps")
            ):
                defaults = [lr for lr in bp.limit_ranges if lr.metadata.namespace == ns]
                pod_defaults = None
                for lr in defaults:
                    for item in lr.spec.limits:
                        if item.type == "Container":
                            pod_defaults = LimitDefaults(
                                default=dict(item.default),
                                default_request=dict(item.default_request),
                            )
                return Tenant(
                    namespace=ns,
                    team=labels.get("team", ns),
                    cost_center=labels.get("cost-center", "unknown"),
                    user=f"system:serviceaccount:{ns}:{sa.metadata.name}",
                    pod_defaults=pod_defaults,
                )
    return "no tenant service account may create pods and deployments.apps"
