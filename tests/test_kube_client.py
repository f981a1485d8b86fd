"""Contract tests of the Kubernetes client against kmock's API emulator: the exact requests
(method, path, query, content type, auth and impersonation headers, body) and the handling of
real-shaped answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kmock
import pytest
from kmock import headers as kheaders
from kubernetes import client as kclient

from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes.client import KubeApiError, KubeClient
from gauntlet.targets.kubernetes.warnings import parse_warning_headers
from kube_emulator import TOKEN, call, client_for, declare, header_values, status

pytestmark = pytest.mark.kmock(cls=kmock.KubernetesScaffold)


@pytest.mark.asyncio
async def test_request_sends_auth_impersonation_and_json(kmock: Any) -> None:
    kmock["post /apis/example.com/v1/things"] << {"ok": True}
    client = client_for(kmock)
    resp = await call(
        client.request,
        "POST",
        "/apis/example.com/v1/things",
        body={"a": 1},
        query={"dryRun": "All"},
        impersonate_user="system:serviceaccount:team-a:ci",
        impersonate_groups=["team-a-devs", "system:authenticated"],
    )
    assert (resp.status, resp.body, resp.warnings) == (200, {"ok": True}, ())
    req = kmock["post"][0]
    assert req.params == {"dryRun": "All"}
    assert req.headers["Authorization"] == TOKEN
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["Impersonate-User"] == "system:serviceaccount:team-a:ci"
    # One header per group, as client-go sends them (a comma-joined header is one group).
    assert header_values(req, "Impersonate-Group") == ["team-a-devs", "system:authenticated"]
    assert json.loads(req.body) == {"a": 1}


@pytest.mark.asyncio
async def test_request_never_raises_on_http_errors(kmock: Any) -> None:
    kmock["get /api/v1/namespaces/x"] << 404 << status(404, "NotFound", 'namespaces "x" not found')
    resp = await call(client_for(kmock).request, "GET", "/api/v1/namespaces/x")
    assert resp.status == 404 and resp.body["reason"] == "NotFound" and not resp.ok


@pytest.mark.asyncio
async def test_warning_headers_become_warnings(kmock: Any) -> None:
    warning = kheaders({"Warning": '299 - "[must-have-owner] add an owner"'})
    kmock["get /version"] << warning << {"gitVersion": "v1.31.2"}
    resp = await call(client_for(kmock).request, "GET", "/version")
    assert resp.warnings == ("[must-have-owner] add an owner",)


def test_warning_header_parsing_follows_client_go() -> None:
    assert parse_warning_headers(
        [
            '299 - "first, with a comma", 299 - "second \\"quoted\\""',
            '299 - "dated" "Wed, 21 Oct 2015 07:28:00 GMT"',
            '199 - "not an API warning"',
            "garbage",
        ]
    ) == ("first, with a comma", 'second "quoted"', "dated")


@pytest.mark.asyncio
async def test_discovery_maps_kinds_to_paths_and_caches(kmock: Any) -> None:
    declare(kmock, "v1", "pods", "Pod", namespaced=True)
    declare(kmock, "v1", "namespaces", "Namespace", namespaced=False)
    declare(kmock, "cilium.io/v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", namespaced=True)
    client = client_for(kmock)
    path = await call(client.resource_path, "v1", "Pod", namespace="team-a", name="p-0")
    assert path == "/api/v1/namespaces/team-a/pods/p-0"
    assert await call(client.resource_path, "v1", "Namespace", namespace="x", name="team-a") == (
        "/api/v1/namespaces/team-a"
    )
    assert await call(client.resource_path, "v1", "Pod", namespace=None) == "/api/v1/pods"
    cnp = await call(client.resource_path, "cilium.io/v2", "CiliumNetworkPolicy", namespace="a")
    assert cnp == "/apis/cilium.io/v2/namespaces/a/ciliumnetworkpolicies"
    await call(client.resource_path, "v1", "Pod", namespace="b")
    assert len(kmock["get /api/v1"]) == 1  # cached


@pytest.mark.asyncio
async def test_unknown_kind_says_the_crd_is_missing(kmock: Any) -> None:
    declare(kmock, "v1", "pods", "Pod", namespaced=True)
    client = client_for(kmock)
    with pytest.raises(TargetError, match=r"does not serve cilium.io/v2 .*CRD installed"):
        await call(client.resource_path, "cilium.io/v2", "CiliumNetworkPolicy", namespace="a")
    with pytest.raises(TargetError, match=r'no kind "Pdo" in v1 .*it serves: Pod'):
        await call(client.resource_path, "v1", "Pdo", namespace="a")


@pytest.mark.asyncio
async def test_apply_is_server_side_apply(kmock: Any) -> None:
    declare(kmock, "apps/v1", "deployments", "Deployment", namespaced=True)
    kmock["patch /apis/apps/v1/namespaces/team-a/deployments/api"] << {"kind": "Deployment"}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "team-a"},
        "spec": {"replicas": 2},
    }
    assert await call(client_for(kmock).apply, manifest, dry_run=True) == {"kind": "Deployment"}
    req = kmock["patch"][0]
    assert req.headers["Content-Type"] == "application/apply-patch+yaml"
    assert req.params == {"fieldManager": "gauntlet", "force": "true", "dryRun": "All"}
    assert json.loads(req.body) == manifest


@pytest.mark.asyncio
async def test_apply_refusal_raises_with_the_status(kmock: Any) -> None:
    declare(kmock, "v1", "namespaces", "Namespace", namespaced=False)
    kmock["patch /api/v1/namespaces/x"] << 422 << status(422, "Invalid", "metadata.name: bad")
    with pytest.raises(KubeApiError) as err:
        await call(
            client_for(kmock).apply,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
        )
    assert err.value.status == 422 and err.value.reason == "Invalid"
    assert "apply Namespace x: metadata.name: bad" in str(err.value)


@pytest.mark.asyncio
async def test_apply_needs_identity_and_namespace(kmock: Any) -> None:
    declare(kmock, "v1", "pods", "Pod", namespaced=True)
    client = client_for(kmock)
    with pytest.raises(TargetError, match=r"metadata\.name"):
        await call(client.apply, {"apiVersion": "v1", "kind": "Pod", "metadata": {}})
    with pytest.raises(TargetError, match="namespace is required"):
        await call(client.apply, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})


@pytest.mark.asyncio
async def test_get_missing_is_none(kmock: Any) -> None:
    declare(kmock, "v1", "configmaps", "ConfigMap", namespaced=True)
    kmock["get /api/v1/namespaces/a/configmaps/c"] << 404 << status(404, "NotFound", "gone")
    assert await call(client_for(kmock).get, "v1", "ConfigMap", "c", namespace="a") is None


@pytest.mark.asyncio
async def test_list_follows_continue_and_fills_kind(kmock: Any) -> None:
    declare(kmock, "v1", "pods", "Pod", namespaced=True)

    def page(request: Any) -> dict[str, Any]:
        if request.params.get("continue") == "t1":
            return {"metadata": {}, "items": [{"metadata": {"name": "b"}}]}
        return {"metadata": {"continue": "t1"}, "items": [{"metadata": {"name": "a"}}]}

    kmock["get /api/v1/namespaces/a/pods"] << page
    items = await call(client_for(kmock).list, "v1", "Pod", namespace="a", label_selector="x=y")
    assert [(i["kind"], i["apiVersion"], i["metadata"]["name"]) for i in items] == [
        ("Pod", "v1", "a"),
        ("Pod", "v1", "b"),
    ]
    first, second = kmock["get /api/v1/namespaces/a/pods"]
    assert first.params == {"limit": "500", "labelSelector": "x=y"}
    assert second.params == {"limit": "500", "labelSelector": "x=y", "continue": "t1"}


@pytest.mark.asyncio
async def test_delete_sends_propagation_and_tolerates_404(kmock: Any) -> None:
    declare(kmock, "v1", "namespaces", "Namespace", namespaced=False)
    kmock["delete /api/v1/namespaces/gone"] << 404 << status(404, "NotFound", "not found")
    await call(client_for(kmock).delete, "v1", "Namespace", "gone")
    assert kmock["delete"][0].params == {"propagationPolicy": "Background"}


@pytest.mark.parametrize(
    ("patch_type", "patch", "content_type"),
    [
        ("merge", {"spec": {"replicas": 0}}, "application/merge-patch+json"),
        ("strategic", {"spec": {"replicas": 0}}, "application/strategic-merge-patch+json"),
        (
            "json",
            [{"op": "replace", "path": "/spec/replicas", "value": 0}],
            "application/json-patch+json",
        ),
    ],
)
@pytest.mark.asyncio
async def test_patch_content_types(
    kmock: Any, patch_type: str, patch: Any, content_type: str
) -> None:
    declare(kmock, "apps/v1", "deployments", "Deployment", namespaced=True)
    kmock["patch /apis/apps/v1/namespaces/gk/deployments/ctl"] << {"kind": "Deployment"}
    await call(
        client_for(kmock).patch,
        "apps/v1",
        "Deployment",
        "ctl",
        namespace="gk",
        patch=patch,
        patch_type=patch_type,
    )
    req = kmock["patch"][0]
    assert req.headers["Content-Type"] == content_type and json.loads(req.body) == patch


def test_patch_rejects_mismatched_body() -> None:
    client = KubeClient(kclient.ApiClient(kclient.Configuration(host="http://127.0.0.1:9")))
    with pytest.raises(ValueError, match="list of operations"):
        client.patch("v1", "Pod", "p", namespace="a", patch={"a": 1}, patch_type="json")


def test_unreachable_api_is_a_target_error() -> None:
    configuration = kclient.Configuration(host="http://127.0.0.1:9")
    configuration.retries = False
    client = KubeClient(kclient.ApiClient(configuration), context="kind-gone")
    with pytest.raises(TargetError, match=r"127.0.0.1:9 \(context kind-gone\) unreachable"):
        client.request("GET", "/version", timeout_s=2)


def test_kubeconfig_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(TargetError, match=r"cannot load kubeconfig .*none"):
        KubeClient.from_kubeconfig(context=None)
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-gauntlet\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
        "contexts: [{name: kind-gauntlet, context: {cluster: c, user: u}}]\n"
    )
    with pytest.raises(TargetError, match=r"context 'prod' is not in kubeconfig .*kind-gauntlet"):
        KubeClient.from_kubeconfig(context="prod", kubeconfig=str(config))
    client = KubeClient.from_kubeconfig(context=None, kubeconfig=str(config))
    assert client.context == "kind-gauntlet" and client.host == "https://127.0.0.1:6443"
    assert client.auth_headers() == {"authorization": "Bearer abc"}
