"""A recording fake of ``gauntlet.targets.kubernetes.client.KubeClient`` for the workload-side
tests (probes, faults, evidence, load): objects live in a dict, every call is recorded, exec
answers come from a handler the test sets."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gauntlet.targets.kubernetes.client import ApiResponse, ExecResult, KubeApiError

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" if cluster-scoped), name
ExecHandler = Callable[[str, str, Sequence[str], bytes | None], ExecResult]

_PLURALS = {
    "Endpoints": "endpoints",
    "CiliumClusterwideNetworkPolicy": "ciliumclusterwidenetworkpolicies",
}
_CLUSTER_SCOPED = {"Node", "Namespace", "CiliumClusterwideNetworkPolicy", "ConstraintTemplate"}


@dataclass
class Call:
    verb: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class FakeKube:
    """Implements the KubeClient verbs over an in-memory store."""

    def __init__(self, objects: Sequence[Mapping[str, Any]] = (), *, context: str | None = None):
        self.context = context
        self.calls: list[Call] = []
        self.store: dict[Key, dict[str, Any]] = {}
        self.exec_handler: ExecHandler | None = None
        self.responses: dict[tuple[str, str], ApiResponse] = {}
        self.fail: dict[str, Exception] = {}
        for obj in objects:
            self.put(obj)

    # -- helpers for tests -----------------------------------------------------------------
    def put(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        key = (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
        self.store[key] = copy.deepcopy(dict(obj))

    def obj(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any]:
        return self.store[(api_version, kind, namespace, name)]

    def verbs(self) -> list[str]:
        return [c.verb for c in self.calls]

    def _check_fail(self, verb: str) -> None:
        if verb in self.fail:
            raise self.fail[verb]

    # -- KubeClient --------------------------------------------------------------------------
    def resource_path(
        self, api_version: str, kind: str, *, namespace: str | None, name: str | None = None
    ) -> str:
        plural = _PLURALS.get(kind, kind.lower() + "s")
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespace and kind not in _CLUSTER_SCOPED:
            base += f"/namespaces/{namespace}"
        path = f"{base}/{plural}"
        return f"{path}/{name}" if name is not None else path

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object | None = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        impersonate_user: str | None = None,
        impersonate_groups: Sequence[str] = (),
        timeout_s: float = 30.0,
    ) -> ApiResponse:
        self.calls.append(
            Call("request", (method, path), {"body": body, "query": dict(query or {})})
        )
        self._check_fail("request")
        if (method, path) in self.responses:
            return self.responses[(method, path)]
        # Writes through raw requests act on the store, like the API server would.
        if method in ("PUT", "POST") and isinstance(body, Mapping) and "metadata" in body:
            stored = copy.deepcopy(dict(body))
            stored["metadata"].pop("resourceVersion", None)
            self.put(stored)
            return ApiResponse(201 if method == "POST" else 200, stored, ())
        if method == "DELETE":
            for key, obj in list(self.store.items()):
                meta = obj["metadata"]
                where = self.resource_path(
                    key[0], key[1], namespace=meta.get("namespace"), name=meta["name"]
                )
                if where == path:
                    del self.store[key]
                    return ApiResponse(200, {}, ())
            return ApiResponse(404, {"reason": "NotFound", "message": "not found"}, ())
        return ApiResponse(200, {}, ())

    def apply(self, manifest: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.calls.append(Call("apply", (copy.deepcopy(dict(manifest)),), kwargs))
        self._check_fail("apply")
        self.put(manifest)
        return copy.deepcopy(dict(manifest))

    def get(
        self, api_version: str, kind: str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self.calls.append(Call("get", (api_version, kind, name), {"namespace": namespace}))
        self._check_fail("get")
        found = self.store.get((api_version, kind, namespace or "", name))
        return copy.deepcopy(found) if found is not None else None

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(
            Call(
                "list",
                (api_version, kind),
                {"namespace": namespace, "label_selector": label_selector},
            )
        )
        self._check_fail("list")
        wanted = dict(p.split("=", 1) for p in label_selector.split(",")) if label_selector else {}
        out = []
        for (av, k, ns, _), obj in sorted(self.store.items()):
            if av != api_version or k != kind or (namespace and ns != namespace):
                continue
            labels = obj["metadata"].get("labels") or {}
            if all(labels.get(a) == b for a, b in wanted.items()):
                out.append(copy.deepcopy(obj))
        return out

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> None:
        self.calls.append(Call("delete", (api_version, kind, name), {"namespace": namespace}))
        self._check_fail("delete")
        self.store.pop((api_version, kind, namespace or "", name), None)

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None,
        patch: Any,
        patch_type: str,
    ) -> dict[str, Any]:
        self.calls.append(
            Call(
                "patch",
                (api_version, kind, name),
                {"namespace": namespace, "patch": copy.deepcopy(patch), "patch_type": patch_type},
            )
        )
        self._check_fail("patch")
        key = (api_version, kind, namespace or "", name)
        if key not in self.store:
            raise KubeApiError(404, "NotFound", f"{kind} {name} not found")
        _merge(self.store[key], patch, strategic=patch_type == "strategic")
        return copy.deepcopy(self.store[key])

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        *,
        container: str | None = None,
        stdin: bytes | None = None,
        timeout_s: float = 60.0,
    ) -> ExecResult:
        self.calls.append(
            Call("exec", (namespace, pod, list(argv)), {"stdin": stdin, "container": container})
        )
        self._check_fail("exec")
        if self.exec_handler is None:
            return ExecResult(b"", b"no handler", 1)
        return self.exec_handler(namespace, pod, argv, stdin)


def _merge(target: dict[str, Any], patch: Mapping[str, Any], *, strategic: bool) -> None:
    """JSON merge patch; with ``strategic``, lists of named objects merge by ``name`` (as the
    API server does for containers)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value, strategic=strategic)
        elif (
            strategic
            and isinstance(value, list)
            and isinstance(target.get(key), list)
            and all(isinstance(v, Mapping) and "name" in v for v in value)
        ):
            by_name = {item.get("name"): item for item in target[key]}
            for item in value:
                if item["name"] in by_name:
                    _merge(by_name[item["name"]], item, strategic=True)
                else:
                    target[key].append(copy.deepcopy(dict(item)))
        else:
            target[key] = copy.deepcopy(value)


def pod(
    namespace: str,
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    ip: str = "",
    node: str = "",
    ready: bool = True,
    created: str = "2024-01-01T00:00:00Z",
    owner_kind: str | None = "ReplicaSet",
    restarts: int = 0,
) -> dict[str, Any]:
    """A listed Pod object as the API server returns it (the fields Gauntlet reads)."""
    meta: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "labels": dict(labels or {}),
        "creationTimestamp": created,
    }
    if owner_kind:
        meta["ownerReferences"] = [{"kind": owner_kind, "name": f"{name}-owner"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node, "containers": [{"name": "agent"}]},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "agent", "restartCount": restarts}],
        },
    }
