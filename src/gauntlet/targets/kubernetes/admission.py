"""``admit`` on a cluster: a server-side dry-run create, impersonating the asker.

``POST <collection>?dryRun=All`` runs the whole admission chain (authorization, mutating and
validating admission including Gatekeeper's webhook, ResourceQuota) without persisting
anything: exactly the question ``admit`` asks. The answer is read the way the sandbox writes it
(``gauntlet.admission.response``), so suites compare both targets with one parser:

- Gatekeeper refuses with 403 and ``[<constraint>] <msg>`` lines (``pkg/webhook/policy.go``:
  one line per deny violation, joined by newlines); the API server wraps the message as
  ``admission webhook "validation.gatekeeper.sh" denied the request: ...``, and since
  ``webhookerrors.ToStatusErr`` took the request attributes it prepends
  ``<resource> "<name>" is forbidden: ``. Only the ``[name] msg`` lines are parsed.
- Quota, LimitRange and RBAC refusals are 403s whose message is kept verbatim, no denials.
- Gatekeeper's ``warn`` action comes back as ``Warning`` headers (``[name] msg``).
- 409 AlreadyExists: a dry-run create of an object that exists fails in storage, *after*
  admission passed; the manifest was admitted, so the result says allowed (status 409).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gauntlet.admission.response import parse_denials
from gauntlet.targets.base import AdmissionResult, TargetError
from gauntlet.targets.kubernetes.client import ApiResponse, KubeClient

__all__ = ["admit", "result_from_response"]


def admit(
    client: KubeClient,
    manifest: Mapping[str, Any],
    *,
    as_user: str,
    as_groups: Sequence[str] = (),
) -> AdmissionResult:
    """Dry-run create ``manifest`` as ``as_user`` in ``as_groups`` (impersonated)."""
    api_version = str(manifest.get("apiVersion") or "")
    kind = str(manifest.get("kind") or "")
    meta = manifest.get("metadata")
    if not api_version or not kind or not isinstance(meta, Mapping) or not meta.get("name"):
        # The sandbox answers the same for the same mistake (AdmissionChain.admit).
        return _refused(400, "Object 'Kind', 'apiVersion' and 'metadata.name' are required")
    if not as_user:
        raise ValueError("admit needs as_user: an unimpersonated request would ask as the admin")
    try:
        plural, namespaced = client.resource(api_version, kind)
    except TargetError as exc:
        return _refused(404, str(exc))
    namespace = str(meta.get("namespace") or "")
    if namespaced and not namespace:
        return _refused(400, f'{plural} "{meta["name"]}": the namespace of the object is required')
    path = client.resource_path(api_version, kind, namespace=namespace or None)
    resp = client.request(
        "POST",
        path,
        body=dict(manifest),
        query={"dryRun": "All"},
        impersonate_user=as_user,
        impersonate_groups=as_groups,
    )
    return result_from_response(resp)


def result_from_response(resp: ApiResponse) -> AdmissionResult:
    """The AdmissionResult for the API server's answer to a dry-run create."""
    if resp.ok:
        return AdmissionResult(allowed=True, warnings=resp.warnings, status_code=resp.status)
    message = str(resp.body.get("message") or "")
    if resp.status == 409 and resp.body.get("reason") == "AlreadyExists":
        return AdmissionResult(
            allowed=True, warnings=resp.warnings, status_code=409, message=message
        )
    return AdmissionResult(
        allowed=False,
        denials=parse_denials(message),
        warnings=resp.warnings,
        status_code=resp.status,
        message=message,
    )


def _refused(code: int, message: str) -> AdmissionResult:
    return AdmissionResult(allowed=False, status_code=code, message=message)
