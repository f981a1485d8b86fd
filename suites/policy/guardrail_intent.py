"""The platform's guardrail intent (docs/guardrails.md) as plain Python predicates.

Written from the prose, independently of the Rego that implements it: the fuzzing compares the
two, so a shared bug would hide. Nothing here imports the admission engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

TRUSTED_REGISTRIES = frozenset({"registry.platform.example"})
REQUIRED_LABELS = ("team", "cost-center")
GUARDRAILS = ("G1", "G2", "G3", "G4", "G5", "G6", "G7")
ACTIONS = {
    "G1": "deny",
    "G2": "deny",
    "G3": "deny",
    "G4": "deny",
    "G5": "deny",
    "G6": "warn",
    "G7": "dryrun",
}
RESOURCE_KEYS = (
    ("requests", "cpu"),
    ("requests", "memory"),
    ("limits", "cpu"),
    ("limits", "memory"),
)

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "Pod"): ("spec",),
    ("apps/v1", "Deployment"): ("spec", "template", "spec"),
    ("apps/v1", "StatefulSet"): ("spec", "template", "spec"),
    ("apps/v1", "DaemonSet"): ("spec", "template", "spec"),
    ("apps/v1", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch/v1", "Job"): ("spec", "template", "spec"),
    ("batch/v1", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: str
    tag: str | None
    digest: str | None


def parse_image(ref: str) -> ImageRef:
    """Docker reference grammar, as docs/guardrails.md states it."""
    name, _, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    last = path.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else None
    return ImageRef(registry=registry, path=path, tag=tag, digest=digest or None)


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = POD_SPEC_PATHS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if path is None:
        return None
    cur: Any = obj
    for key in path:
        cur = cur.get(key) if isinstance(cur, Mapping) else None
    return cur if isinstance(cur, Mapping) else {}


def _containers(spec: Mapping[str, Any], *fields: str) -> Iterator[Mapping[str, Any]]:
    for f in fields:
        for c in spec.get(f) or []:
            if isinstance(c, Mapping):
                yield c


ALL_CONTAINERS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class LimitDefaults:
    """What a namespace's LimitRange fills in for a Pod's containers (cpu/memory only)."""

    default: Mapping[str, str]
    default_request: Mapping[str, str]


def _effective(
    container: Mapping[str, Any], defaults: LimitDefaults | None
) -> set[tuple[str, str]]:
    res = container.get("resources") or {}
    requests = dict(res.get("requests") or {})
    limits = dict(res.get("limits") or {})
    if defaults is not None:
        for r in ("cpu", "memory"):
            if r not in limits and r in defaults.default:
                limits[r] = defaults.default[r]
            if r not in requests:
                if r in defaults.default_request:
                    requests[r] = defaults.default_request[r]
                elif r in limits:
                    requests[r] = limits[r]
    have = {("requests", k) for k in requests} | {("limits", k) for k in limits}
    return have


def violated(obj: Mapping[str, Any], *, pod_defaults: LimitDefaults | None = None) -> set[str]:
    """The guardrails ``obj`` breaks. ``pod_defaults``: the namespace's LimitRange defaults,
    which apply to Pods only (the API server defaults Pods before webhooks see them)."""
    spec = pod_spec(obj)
    out: set[str] = set()
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if spec is None:
        return out
    if any(k not in labels for k in REQUIRED_LABELS):
        out.add("G6")
    for c in _containers(spec, *ALL_CONTAINERS):
        sc = c.get("securityContext") or {}
        if sc.get("privileged") is True:
            out.add("G1")
        image = parse_image(str(c.get("image") or ""))
        if image.tag is None or image.tag.lower() == "latest":
            out.add("G2")
        if image.registry.lower() not in TRUSTED_REGISTRIES:
            out.add("G4")
    is_pod = obj.get("kind") == "Pod"
    for c in _containers(spec, "containers", "initContainers"):
        have = _effective(c, pod_defaults if is_pod else None)
        if not all(k in have for k in RESOURCE_KEYS):
            out.add("G3")
    if any(spec.get(k) is True for k in ("hostNetwork", "hostPID", "hostIPC")):
        out.add("G5")
    if any(isinstance(v, Mapping) and "hostPath" in v for v in spec.get("volumes") or []):
        out.add("G5")
    for c in _containers(spec, "containers"):
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            out.add("G7")
    return out
