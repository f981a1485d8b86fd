"""Gatekeeper's webhook registration and what an outage of it lets in (no root needed)."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gauntlet.admission.webhook import (
    GATEKEEPER_WEBHOOK,
    WebhookRule,
    WebhookScope,
    gatekeeper_scope,
)
from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.local.control_plane import LocalControlPlane
from test_admission_chain import DEPLOYER, pod

VWC_KEY = ("ValidatingWebhookConfiguration", "", "gatekeeper-validating-webhook-configuration")


def vwc(failure_policy: str | None, *, exempt_label: str | None = None) -> dict[str, Any]:
    """Gatekeeper's registration as its Helm chart installs it, with ``failurePolicy`` set."""
    hook: dict[str, Any] = {
        "name": GATEKEEPER_WEBHOOK,
        "admissionReviewVersions": ["v1", "v1beta1"],
        "sideEffects": "None",
        "timeoutSeconds": 3,
        "clientConfig": {
            "service": {
                "name": "gatekeeper-webhook-service",
                "namespace": "gatekeeper-system",
                "path": "/v1/admit",
            }
        },
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": exempt_label or "admission.gatekeeper.sh/ignore",
                    "operator": "DoesNotExist",
                }
            ]
        },
        "rules": [
            {
                "apiGroups": ["*"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["*"],
                "scope": "*",
            }
        ],
    }
    if failure_policy is not None:
        hook["failurePolicy"] = failure_policy
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": VWC_KEY[2]},
        "webhooks": [hook],
    }


def with_vwc(bp: Blueprint, doc: dict[str, Any]) -> Blueprint:
    return dataclasses.replace(bp, manifests={**bp.manifests, VWC_KEY: doc})


@pytest.fixture(scope="module")
def reference() -> Blueprint:
    return load_blueprint(REFERENCE_PLATFORM)


@pytest.fixture
def failing_plane(reference: Blueprint) -> Iterator[LocalControlPlane]:
    # team-gamma is exempted by a label only its namespace carries in this test.
    bp = with_vwc(reference, vwc("Fail", exempt_label="gauntlet.test/no-gatekeeper"))
    ns = copy.deepcopy(bp.namespaces["team-gamma"])
    ns.metadata.labels["gauntlet.test/no-gatekeeper"] = "true"
    bp = dataclasses.replace(bp, namespaces={**bp.namespaces, "team-gamma": ns})
    plane = LocalControlPlane(bp)
    yield plane
    plane.close()


def test_without_a_registration_the_outage_policy_is_gatekeepers_default_ignore(
    reference: Blueprint,
) -> None:
    scope = gatekeeper_scope(reference)
    assert scope == WebhookScope()
    assert scope.failure_policy == "Ignore"


def test_the_registration_in_the_blueprint_decides_and_v1_defaults_to_fail(
    reference: Blueprint,
) -> None:
    assert gatekeeper_scope(with_vwc(reference, vwc("Ignore"))).failure_policy == "Ignore"
    # admissionregistration.k8s.io/v1 defaults failurePolicy to Fail.
    assert gatekeeper_scope(with_vwc(reference, vwc(None))).failure_policy == "Fail"


def test_a_registration_file_loads_with_the_blueprint(tmp_path: Path) -> None:
    root = tmp_path / "platform"
    shutil.copytree(REFERENCE_PLATFORM, root)
    (root / "platform" / "gatekeeper-webhook.yaml").write_text(json.dumps(vwc("Fail")))
    assert gatekeeper_scope(load_blueprint(root)).failure_policy == "Fail"


def test_rules_match_operation_group_resource_and_scope() -> None:
    rule = WebhookRule(operations=("CREATE",), api_groups=("apps",), resources=("deployments",))
    ok = {"operation": "CREATE", "group": "apps", "version": "v1", "namespaced": True}
    assert rule.matches(resource="deployments", **ok)  # type: ignore[arg-type]
    assert not rule.matches(resource="deployments/scale", **ok)  # type: ignore[arg-type]
    assert not WebhookRule(scope="Cluster").matches(resource="pods", **ok)  # type: ignore[arg-type]
    assert not rule.matches(
        operation="DELETE", group="apps", version="v1", resource="deployments", namespaced=True
    )


def test_outage_with_fail_refuses_what_the_webhook_sees_with_the_api_servers_error(
    failing_plane: LocalControlPlane,
) -> None:
    compliant = pod()
    assert failing_plane.admit(compliant, as_user=DEPLOYER).allowed
    failing_plane.webhook_outage("admission-webhook-outage#1")
    refused = failing_plane.admit(compliant, as_user=DEPLOYER)
    assert (refused.allowed, refused.status_code) == (False, 500)
    assert refused.message.startswith(
        'Internal error occurred: failed calling webhook "validation.gatekeeper.sh": '
    )
    assert refused.message.endswith("connect: connection refused")
    # A namespace the registration's namespaceSelector exempts never reaches the webhook.
    gamma = pod(image="nginx:latest")
    gamma["metadata"]["namespace"] = "team-gamma"
    assert failing_plane.admit(gamma, as_user="admin", as_groups=["system:masters"]).allowed
    failing_plane.webhook_restored("admission-webhook-outage#1")
    assert failing_plane.admit(compliant, as_user=DEPLOYER).allowed


def test_outage_with_ignore_lets_violations_in_until_restored(reference: Blueprint) -> None:
    plane = LocalControlPlane(reference)
    try:
        bad = pod(image="nginx:latest")
        assert not plane.admit(bad, as_user=DEPLOYER).allowed
        plane.webhook_outage("a#1")
        plane.webhook_outage("a#2")
        assert plane.admit(bad, as_user=DEPLOYER).allowed
        plane.webhook_restored("a#1")
        assert plane.admit(bad, as_user=DEPLOYER).allowed, "a second outage still holds"
        plane.webhook_restored("a#2")
        plane.webhook_restored("a#2")
        denied = plane.admit(bad, as_user=DEPLOYER)
        assert not denied.allowed and denied.status_code == 403
    finally:
        plane.close()
