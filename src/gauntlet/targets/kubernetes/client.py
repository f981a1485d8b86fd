"""A thin, exact Kubernetes API client over the official ``kubernetes`` package.

Why not the generated typed APIs: Gauntlet must control every byte of a request (dry-run
query, impersonation headers, server-side apply content type) so that contract tests can assert
them, and it must read what typed APIs hide (``Warning`` headers, the raw ``Status`` of a
refusal). So every call goes through ``request``, which sends one HTTP request through the
package's REST client (its TLS, proxy and auth settings, token refresh for exec plugins) and
returns status, decoded body and warnings without raising on HTTP errors. The conveniences
(``apply``, ``get``, ``list``, ``delete``, ``patch``) are small layers on top that raise
``KubeApiError``.

Design notes:

- Impersonation sends one ``Impersonate-Group`` header per group, as client-go's transport
  does (``req.Header.Add``); the API server reads the header's values as a list, so a single
  comma-joined header would impersonate one group named ``"a,b"``.
- Kinds become resource paths through discovery (``/api/v1``, ``/apis/<group>/<version>``),
  cached per group/version, like client-go's RESTMapper; an unknown kind (CRD not installed)
  is a ``TargetError`` that says so.
- List items carry no ``kind``/``apiVersion`` on the wire (kubectl fills them in client-side);
  ``list`` fills them in too, so callers can treat listed and fetched objects alike.
"""

from __future__ import annotations

import builtins
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import client as kclient
from kubernetes import config as _kconfig
from kubernetes.client.exceptions import ApiException

from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes.warnings import parse_warning_headers

# The kubeconfig loader is untyped; reached through Any so mypy --strict accepts the calls.
kconfig: Any = _kconfig

__all__ = [
    "ApiResponse",
    "ExecResult",
    "KubeApiError",
    "KubeClient",
    "PatchType",
    "ServedResource",
]

PatchType = Literal["merge", "strategic", "json"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
_LIST_PAGE = 500


@dataclass(frozen=True)
class ApiResponse:
    """One HTTP answer of the API server."""

    status: int
    body: dict[str, Any]
    """Decoded JSON (a ``Status`` object on errors); ``{}`` if empty; a non-JSON body (a proxy's
    error page) becomes ``{"message": <text>}``."""
    warnings: tuple[str, ...]
    """Texts of the ``Warning: 299 - "..."`` headers, in order."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    """None when the stream ended without a status (the connection dropped)."""


class KubeApiError(TargetError):
    """The API server refused a request; ``body`` is its ``Status`` object."""

    def __init__(
        self, status: int, reason: str, message: str, body: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body: dict[str, Any] = body or {}
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")

    @classmethod
    def from_response(cls, resp: ApiResponse, *, doing: str = "") -> KubeApiError:
        body = resp.body
        message = str(body.get("message") or "") or "(no message)"
        if doing:
            message = f"{doing}: {message}"
        return cls(resp.status, str(body.get("reason") or ""), message, body)


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool


@dataclass(frozen=True)
class ServedResource:
    """One resource in discovery (preferred version of its group), as ``kubectl
    api-resources`` lists it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


def _is_json(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


def _decode(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"message": raw.decode("utf-8", "replace")[:4000]}
    return data if isinstance(data, dict) else {"items": data}


class KubeClient:
    """Raw requests plus the few verbs Gauntlet needs, on one kubeconfig context."""

    def __init__(self, api_client: kclient.ApiClient, *, context: str | None = None) -> None:
        self.api_client = api_client
        self.context = context
        self._resources: dict[str, dict[str, _Resource]] = {}
        self._served: list[ServedResource] | None = None
        self._lock = threading.Lock()

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(cls, *, context: str | None, kubeconfig: str | None = None) -> KubeClient:
        """Load ``context`` (default: the kubeconfig's current context) like kubectl: the file is
        ``kubeconfig``, else ``$KUBECONFIG`` (a path list is merged), else ``~/.kube/config``."""
        path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        configuration = kclient.Configuration()
        try:
            contexts, current = kconfig.list_kube_config_contexts(config_file=path)
            names = [str(c.get("name")) for c in contexts or []]
            chosen = context or (str(current.get("name")) if current else None)
            if not chosen:
                raise TargetError(
                    f"kubeconfig {path} has no current context; pass --context "
                    f"(contexts: {', '.join(names) or 'none'})"
                )
            if chosen not in names:
                raise TargetError(
                    f"context {chosen!r} is not in kubeconfig {path} "
                    f"(contexts: {', '.join(names) or 'none'})"
                )
            kconfig.load_kube_config(
                config_file=path,
                context=chosen,
                client_configuration=configuration,
                persist_config=False,
            )
        except kconfig.ConfigException as exc:
            raise TargetError(f"cannot load kubeconfig {path}: {exc}") from None
        except OSError as exc:
            raise TargetError(f"cannot read kubeconfig {path}: {exc}") from None
        return cls(kclient.ApiClient(configuration), context=chosen)

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host).rstrip("/")

    def _where(self) -> str:
        return f"{self.host} (context {self.context})" if self.context else self.host

    # -- raw requests ------------------------------------------------------------------------

    def auth_headers(self, path: str = "/", method: str = "GET") -> dict[str, str]:
        """The credentials headers (bearer token, refreshed by the kubeconfig's exec plugin)."""
        headers: dict[str, str] = {}
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
        return headers

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
        """One request; never raises on HTTP error statuses (read ``status``/``body``).

        Raises ``TargetError`` when the API server cannot be reached at all.
        """
        if not path.startswith("/"):
            raise ValueError(f"API path must start with '/': {path!r}")
        if impersonate_groups and not impersonate_user:
            # The API server refuses Impersonate-Group without Impersonate-User.
            raise ValueError("impersonate_groups needs impersonate_user")
        url = self.host + path + (f"?{urlencode(list(query.items()))}" if query else "")
        headers = urllib3.HTTPHeaderDict()
        for key, value in self.api_client.default_headers.items():
            headers[key] = value
        headers["Accept"] = "application/json"
        for key, value in self.auth_headers(path, method).items():
            headers[key] = value
        if impersonate_user:
            headers["Impersonate-User"] = impersonate_user
            for group in impersonate_groups:
                headers.add("Impersonate-Group", group)
        payload: object | None = None
        if body is not None:
            headers["Content-Type"] = content_type
            # The REST client json.dumps objects for JSON content types and sends str/bytes
            # verbatim otherwise (apply-patch+yaml: JSON is valid YAML).
            payload = (
                body
                if _is_json(content_type) or isinstance(body, str | bytes)
                else (json.dumps(body))
            )
        try:
            resp: Any = self.api_client.call_api(
                method.upper(), url, header_params=headers, body=payload, _request_timeout=timeout_s
            )
            raw = resp.read()
        except ApiException as exc:  # TLS errors come back as status 0
            raise TargetError(f"Kubernetes API {self._where()} failed: {exc.reason}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise TargetError(f"Kubernetes API {self._where()} unreachable: {exc}") from None
        warnings = parse_warning_headers(resp.headers.getlist("Warning"))
        return ApiResponse(status=int(resp.status), body=_decode(raw or b""), warnings=warnings)

    # -- discovery ---------------------------------------------------------------------------

    def _group_version_resources(self, api_version: str) -> dict[str, _Resource]:
        with self._lock:
            cached = self._resources.get(api_version)
        if cached is not None:
            return cached
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        resp = self.request("GET", path)
        if resp.status == 404:
            found: dict[str, _Resource] = {}
        elif not resp.ok:
            raise KubeApiError.from_response(resp, doing=f"discovery of {api_version}")
        else:
            found = {
                str(r["kind"]): _Resource(str(r["name"]), bool(r.get("namespaced")))
                for r in resp.body.get("resources") or []
                if "/" not in str(r.get("name", "")) and r.get("kind")
            }
        with self._lock:
            self._resources[api_version] = found
        return found

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from discovery; ``TargetError`` if not served."""
        if not api_version or not kind:
            raise TargetError(f"need apiVersion and kind, got {api_version!r} {kind!r}")
        served = self._group_version_resources(api_version)
        info = served.get(kind)
        if info is None:
            if not served:
                raise TargetError(
                    f"the API server does not serve {api_version} (kind {kind}): is its CRD "
                    f"installed? ({self._where()})"
                )
            raise TargetError(
                f'no kind "{kind}" in {api_version} on {self._where()} '
                f"(it serves: {', '.join(sorted(served))})"
            )
        return info.plural, info.namespaced

    def resource_path(
        self, api_version: str, kind: str, *, namespace: str | None, name: str | None = None
    ) -> str:
        """The REST path of a kind's collection (``name`` None) or of one object. A namespaced
        kind without ``namespace`` gives the all-namespaces collection; a cluster-scoped kind
        ignores ``namespace`` (manifests sometimes carry one, kubectl drops it too)."""
        plural, namespaced = self.resource(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        elif namespaced and name is not None:
            raise TargetError(f"{kind} {name!r} is namespaced: a namespace is required")
        path = f"{base}/{plural}"
        return f"{path}/{quote(name, safe='')}" if name is not None else path

    def api_groups(self) -> dict[str, str]:
        """Served API groups and their preferred group/version (``/apis``)."""
        resp = self.request("GET", "/apis")
        if not resp.ok:
            raise KubeApiError.from_response(resp, doing="discovery of API groups")
        groups: dict[str, str] = {}
        for group in resp.body.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            versions = [v.get("groupVersion") for v in group.get("versions") or []]
            chosen = preferred or (versions[0] if versions else None)
            if group.get("name") and chosen:
                groups[str(group["name"])] = str(chosen)
        return groups

    def served_resources(self) -> list[ServedResource]:
        """Every resource of the core group and of each group's preferred version (cached);
        a group whose discovery fails (an aggregated API down) is left out, as kubectl does."""
        with self._lock:
            if self._served is not None:
                return self._served
        found: list[ServedResource] = []
        for api_version in ["v1", *self.api_groups().values()]:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            resp = self.request("GET", path)
            if not resp.ok:
                continue
            for r in resp.body.get("resources") or []:
                name = str(r.get("name") or "")
                if not name or "/" in name or not r.get("kind"):
                    continue
                found.append(
                    ServedResource(
                        api_version=api_version,
                        kind=str(r["kind"]),
                        plural=name,
                        namespaced=bool(r.get("namespaced")),
                        singular=str(r.get("singularName") or ""),
                        short_names=tuple(str(s) for s in r.get("shortNames") or ()),
                    )
                )
        with self._lock:
            self._served = found
        return found

    def forget_discovery(self, api_version: str | None = None) -> None:
        """Drop cached discovery (all, or one group/version), e.g. after a CRD was created."""
        with self._lock:
            if api_version is None:
                self._resources.clear()
            else:
                self._resources.pop(api_version, None)
            self._served = None

    # -- verbs -------------------------------------------------------------------------------

    def apply(
        self,
        manifest: Mapping[str, Any],
        *,
        dry_run: bool = False,
        field_manager: str = "gauntlet",
        force: bool = True,
    ) -> dict[str, Any]:
        """Server-side apply (``PATCH`` ``application/apply-patch+yaml``), as ``kubectl apply
        --server-side --force-conflicts`` does; returns the object the server holds."""
        api_version, kind, name, namespace = _identity(manifest)
        path = self.resource_path(api_version, kind, namespace=namespace, name=name)
        query = {"fieldManager": field_manager}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        resp = self.request(
            "PATCH",
            path,
            body=json.dumps(dict(manifest)),
            query=query,
            content_type=APPLY_CONTENT_TYPE,
        )
        if not resp.ok:
            raise KubeApiError.from_response(resp, doing=f"apply {kind} {_ref(namespace, name)}")
        return resp.body

    def get(
        self, api_version: str, kind: str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        resp = self.request(
            "GET", self.resource_path(api_version, kind, namespace=namespace, name=name)
        )
        if resp.status == 404:
            return None
        if not resp.ok:
            raise KubeApiError.from_response(resp, doing=f"get {kind} {_ref(namespace, name)}")
        return resp.body

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of a kind (following ``continue`` tokens), with kind/apiVersion set."""
        path = self.resource_path(api_version, kind, namespace=namespace)
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = {"limit": str(_LIST_PAGE)}
            if label_selector:
                query["labelSelector"] = label_selector
            if token:
                query["continue"] = token
            resp = self.request("GET", path, query=query)
            if not resp.ok:
                raise KubeApiError.from_response(resp, doing=f"list {kind}")
            for item in resp.body.get("items") or []:
                items.append({"apiVersion": api_version, "kind": kind, **item})
            token = str((resp.body.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> None:
        """Delete one object; already gone (404) is fine."""
        path = self.resource_path(api_version, kind, namespace=namespace, name=name)
        resp = self.request("DELETE", path, query={"propagationPolicy": propagation})
        if resp.status != 404 and not resp.ok:
            raise KubeApiError.from_response(resp, doing=f"delete {kind} {_ref(namespace, name)}")

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None,
        patch: Mapping[str, Any] | builtins.list[Any],
        patch_type: PatchType,
    ) -> dict[str, Any]:
        content_type = _PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"patch_type must be merge, strategic or json, not {patch_type!r}")
        if (patch_type == "json") != isinstance(patch, list):
            raise ValueError("a json patch is a list of operations; merge/strategic take a dict")
        path = self.resource_path(api_version, kind, namespace=namespace, name=name)
        body: object = list(patch) if isinstance(patch, list) else dict(patch)
        resp = self.request("PATCH", path, body=body, content_type=content_type)
        if not resp.ok:
            raise KubeApiError.from_response(resp, doing=f"patch {kind} {_ref(namespace, name)}")
        return resp.body

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
        """Run ``argv`` in a pod over the pods/exec websocket (``execstream``)."""
        from gauntlet.targets.kubernetes.execstream import run_exec

        stdout, stderr, code = run_exec(
            self, namespace, pod, argv, container=container, stdin=stdin, timeout_s=timeout_s
        )
        return ExecResult(stdout=stdout, stderr=stderr, exit_code=code)


def _identity(manifest: Mapping[str, Any]) -> tuple[str, str, str, str | None]:
    meta = manifest.get("metadata")
    api_version = str(manifest.get("apiVersion") or "")
    kind = str(manifest.get("kind") or "")
    if not api_version or not kind or not isinstance(meta, Mapping) or not meta.get("name"):
        raise TargetError(
            "a manifest needs apiVersion, kind and metadata.name "
            f"(got apiVersion={api_version!r} kind={kind!r})"
        )
    namespace = meta.get("namespace")
    return api_version, kind, str(meta["name"]), str(namespace) if namespace else None


def _ref(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
