"""admit on a cluster: the dry-run create request and real-shaped API server answers."""

from __future__ import annotations

import json
from typing import Any

import kmock
import pytest
from kmock import headers as kheaders

from gauntlet.targets.base import Denial
from gauntlet.targets.kubernetes.admission import admit
from kube_emulator import call, client_for, declare, header_values, status

pytestmark = pytest.mark.kmock(cls=kmock.KubernetesScaffold)

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "team-alpha"},
    "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]},
}
PODS = "post /api/v1/namespaces/team-alpha/pods"
GK = 'admission webhook "validation.gatekeeper.sh" denied the request: '
# Gatekeeper joins one "[constraint] msg" line per violation (pkg/webhook/policy.go); the API
# server prefixes "<resource> "<name>" is forbidden: " (webhookerrors.ToStatusErr).
TWO = (
    "[image-tag-required] container <c> uses the latest tag\n"
    "[must-have-limits] container <c> has no resource limits"
)
EXPECTED = (
    Denial("image-tag-required", "container <c> uses the latest tag"),
    Denial("must-have-limits", "container <c> has no resource limits"),
)


def _serve(server: Any) -> None:
    declare(server, "v1", "pods", "Pod", namespaced=True)


@pytest.mark.asyncio
async def test_request_is_an_impersonated_dry_run_create(kmock: Any) -> None:
    _serve(kmock)
    kmock[PODS] << 201 << POD
    result = await call(
        admit, client_for(kmock), POD, as_user="alice", as_groups=["team-alpha-devs"]
    )
    assert result.allowed and result.status_code == 201 and result.denials == ()
    req = kmock["post"][0]
    assert req.params == {"dryRun": "All"}
    assert req.headers["Impersonate-User"] == "alice"
    assert header_values(req, "Impersonate-Group") == ["team-alpha-devs"]
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.body) == POD


@pytest.mark.asyncio
@pytest.mark.parametrize("prefix", ["", 'pods "web" is forbidden: '])
async def test_gatekeeper_denial_with_and_without_the_forbidden_prefix(
    kmock: Any, prefix: str
) -> None:
    _serve(kmock)
    message = prefix + GK + TWO
    body = status(403, "Forbidden", message, name="web", kind="pods")
    kmock[PODS] << 403 << body
    result = await call(admit, client_for(kmock), POD, as_user="alice")
    assert not result.allowed and result.status_code == 403
    assert result.denials == EXPECTED
    assert result.message == message


@pytest.mark.asyncio
async def test_multi_line_violation_message_stays_with_its_constraint(kmock: Any) -> None:
    _serve(kmock)
    message = f'pods "web" is forbidden: {GK}[a] first line\nsecond line\n[b] other'
    kmock[PODS] << 403 << status(403, "Forbidden", message)
    result = await call(admit, client_for(kmock), POD, as_user="alice")
    assert result.denials == (Denial("a", "first line\nsecond line"), Denial("b", "other"))


@pytest.mark.asyncio
async def test_quota_refusal_is_verbatim_without_denials(kmock: Any) -> None:
    _serve(kmock)
    message = (
        'pods "web" is forbidden: exceeded quota: team-alpha-quota, requested: limits.cpu=4, '
        "used: limits.cpu=1, limited: limits.cpu=4"
    )
    kmock[PODS] << 403 << status(403, "Forbidden", message, name="web", kind="pods")
    result = await call(admit, client_for(kmock), POD, as_user="alice")
    assert (result.allowed, result.denials, result.message) == (False, (), message)


@pytest.mark.asyncio
async def test_rbac_refusal_is_verbatim(kmock: Any) -> None:
    _serve(kmock)
    message = (
        'pods is forbidden: User "bob" cannot create resource "pods" in API group "" in the '
        'namespace "team-alpha"'
    )
    kmock[PODS] << 403 << status(403, "Forbidden", message)
    result = await call(admit, client_for(kmock), POD, as_user="bob")
    assert not result.allowed and result.denials == () and "cannot create" in result.message


@pytest.mark.asyncio
async def test_warn_action_comes_back_as_warnings(kmock: Any) -> None:
    _serve(kmock)
    warning = kheaders({"Warning": '299 - "[image-tag-required] container <c> uses latest"'})
    kmock[PODS] << 201 << warning << POD
    result = await call(admit, client_for(kmock), POD, as_user="alice")
    assert result.allowed and result.warnings == ("[image-tag-required] container <c> uses latest",)


@pytest.mark.asyncio
async def test_already_exists_means_admission_passed(kmock: Any) -> None:
    _serve(kmock)
    kmock[PODS] << 409 << status(409, "AlreadyExists", 'pods "web" already exists')
    result = await call(admit, client_for(kmock), POD, as_user="alice")
    assert result.allowed and result.status_code == 409


@pytest.mark.asyncio
async def test_webhook_failing_closed_is_a_refusal_with_its_status(kmock: Any) -> None:
    _serve(kmock)
    message = (
        'Internal error occurred: failed calling webhook "validation.gatekeeper.sh": failed to '
        'call webhook: Post "https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/'
        'admit?timeout=3s": dial tcp 10.96.0.10:443: connect: connection refused'
    )
    kmock[PODS] << 500 << status(500, "InternalError", message)
    result = await call(admit, client_for(kmock), POD, as_user="alice")
    assert (result.allowed, result.status_code, result.denials) == (False, 500, ())


@pytest.mark.asyncio
async def test_bad_manifests_are_answered_like_the_sandbox(kmock: Any) -> None:
    _serve(kmock)
    client = client_for(kmock)
    nameless = {"apiVersion": "v1", "kind": "Pod", "metadata": {}}
    assert (await call(admit, client, nameless, as_user="a")).status_code == 400
    no_ns = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    assert (await call(admit, client, no_ns, as_user="a")).status_code == 400
    crd = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "x"}}
    refused = await call(admit, client, crd, as_user="a")
    assert refused.status_code == 404 and "CRD installed" in refused.message
    assert len(kmock["post"]) == 0
