"""The sandbox's admission chain and control-plane faults on the reference blueprint (no root:
nothing here starts pods)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gauntlet.admission.chain import AdmissionChain, WebhookState
from gauntlet.blueprint import load_blueprint
from gauntlet.targets.base import Subject, TargetError
from gauntlet.targets.local.control_plane import LocalControlPlane

REPO = Path(__file__).resolve().parents[1]
DEPLOYER = "system:serviceaccount:team-alpha:team-alpha-deployer"


@pytest.fixture
def plane() -> Iterator[LocalControlPlane]:
    cp = LocalControlPlane(load_blueprint(REPO / "fixtures" / "platform"))
    yield cp
    cp.close()


def pod(
    name: str = "p", *, image: str = "registry.platform.example/t/app:1.0", **res: Any
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "securityContext": {"readOnlyRootFilesystem": True},
    }
    if res:
        container["resources"] = res
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "team-alpha",
            "labels": {"team": "team-alpha", "cost-center": "cc"},
        },
        "spec": {"containers": [container]},
    }


def test_compliant_pod_is_admitted_with_limitrange_defaults(plane: LocalControlPlane) -> None:
    # No resources: LimitRanger fills them before Gatekeeper's G3 constraint looks.
    result = plane.admit(pod(), as_user=DEPLOYER)
    assert result.allowed and result.status_code == 201 and not result.denials


def test_gatekeeper_denial_names_the_constraint(plane: LocalControlPlane) -> None:
    result = plane.admit(pod(image="nginx:latest"), as_user=DEPLOYER)
    assert not result.allowed and result.status_code == 403
    assert {d.constraint for d in result.denials} == {
        "g2-pinned-image-tags",
        "g4-trusted-registries",
    }
    assert result.message.startswith('admission webhook "validation.gatekeeper.sh" denied')


def test_rbac_refusal_comes_first(plane: LocalControlPlane) -> None:
    result = plane.admit(pod(image="nginx:latest"), as_user="mallory")
    assert (result.allowed, result.status_code, result.denials) == (False, 403, ())
    assert 'User "mallory" cannot create resource "pods"' in result.message


def test_request_errors(plane: LocalControlPlane) -> None:
    missing_ns = pod()
    missing_ns["metadata"]["namespace"] = "nowhere"
    assert plane.admit(missing_ns, as_user=DEPLOYER).status_code == 404
    nameless = pod()
    del nameless["metadata"]["name"]
    assert plane.admit(nameless, as_user=DEPLOYER).status_code == 400
    unknown = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    assert plane.admit(unknown, as_user=DEPLOYER).status_code == 404


def test_quota_refusal_and_explicit_accumulation(plane: LocalControlPlane) -> None:
    small = {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "64Mi"},
    }
    chain: AdmissionChain = plane.chain
    # limits.cpu: 4 hard, 1200m used: two 1-cpu pods fit, the third does not once recorded.
    for i in range(2):
        assert chain.admit(
            pod(f"q{i}", **copy.deepcopy(small)), as_user=DEPLOYER, record=True
        ).allowed
    third = chain.admit(pod("q2", **copy.deepcopy(small)), as_user=DEPLOYER)
    assert not third.allowed and third.status_code == 403
    assert "exceeded quota: team-alpha-quota" in third.message
    # Dry runs without record= leave the ledger alone: 3200m used, two 500m pods each fit alone.
    half = {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "64Mi"},
    }
    for i in range(2):
        assert chain.admit(pod(f"h{i}", **copy.deepcopy(half)), as_user=DEPLOYER).allowed


def test_webhook_down_with_fail_policy_is_a_500(plane: LocalControlPlane) -> None:
    plane.chain.webhook = WebhookState(available=False, failure_policy="Fail")
    result = plane.admit(pod(), as_user=DEPLOYER)
    assert (result.allowed, result.status_code) == (False, 500)


class TestFaults:
    def test_webhook_down_ignore_admits_violations(self, plane: LocalControlPlane) -> None:
        plane.plant("admission-webhook-down", {})
        assert plane.admit(pod(image="nginx:latest"), as_user=DEPLOYER).allowed

    def test_constraint_dryrun(self, plane: LocalControlPlane) -> None:
        plane.plant("constraint-dryrun", {"constraint": "g2-pinned-image-tags"})
        image = "registry.platform.example/t/app:latest"
        assert plane.admit(pod(image=image), as_user=DEPLOYER).allowed
        with pytest.raises(TargetError, match="no constraint named"):
            plane.plant("constraint-dryrun", {"constraint": "nope"})

    def test_rbac_wildcard(self, plane: LocalControlPlane) -> None:
        devs = Subject(kind="Group", name="team-alpha-devs")
        args = ("delete", "resourcequotas")
        assert not plane.can_i(devs, *args, namespace="team-alpha", name="team-alpha-quota")
        plane.plant("rbac-wildcard", {"namespace": "team-alpha"})
        assert plane.can_i(devs, *args, namespace="team-alpha", name="team-alpha-quota")
        assert not plane.can_i(devs, *args, namespace="team-beta", name="team-beta-quota")

    def test_quota_removed(self, plane: LocalControlPlane) -> None:
        big = {"limits": {"cpu": "2", "memory": "64Mi"}}
        huge = pod("big", **big)
        huge["spec"]["containers"] += [
            dict(huge["spec"]["containers"][0], name=f"c{i}") for i in range(2)
        ]
        assert not plane.admit(huge, as_user=DEPLOYER).allowed
        plane.plant("quota-removed", {"namespace": "team-alpha"})
        assert plane.objects("ResourceQuota", "team-alpha") == []
        assert plane.admit(huge, as_user=DEPLOYER).allowed
        with pytest.raises(TargetError, match="parameter namespace"):
            plane.plant("quota-removed", {})


def test_objects_are_copies(plane: LocalControlPlane) -> None:
    plane.objects("ResourceQuota", "team-alpha")[0]["spec"]["hard"].clear()
    assert plane.objects("ResourceQuota", "team-alpha")[0]["spec"]["hard"]


def test_audit_finds_the_preexisting_dryrun_violation(plane: LocalControlPlane) -> None:
    found = {(f.constraint, f.action, f.kind, f.namespace, f.name) for f in plane.audit()}
    assert ("g7-read-only-root-fs", "dryrun", "Deployment", "team-gamma", "client") in found
