"""Compliant workloads for a tenant, and the ways to break each guardrail (the violating twins).

Each twin differs from its compliant base in exactly one guardrail's attribute, so a refusal
can only be explained by that guardrail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gauntlet.blueprint.samples import pod_security_context, restricted_container, workload

Manifest = dict[str, Any]


def container(name: str, team: str) -> Manifest:
    return restricted_container(
        name,
        team,
        requests={"cpu": "10m", "memory": "16Mi"},
        limits={"cpu": "50m", "memory": "32Mi"},
    )


def compliant(kind: str, *, namespace: str, team: str, cost_center: str, name: str) -> Manifest:
    labels = {"app": name, "team": team, "cost-center": cost_center}
    spec: Manifest = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [container("main", team)],
    }
    return workload(kind, {"name": name, "namespace": namespace, "labels": labels}, spec)


def pod_spec(obj: Manifest) -> Manifest:
    spec: Manifest = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
    return spec


@dataclass(frozen=True)
class Twin:
    """How to break one guardrail: ``apply`` mutates a copy of a compliant manifest."""

    guardrail: str
    variant: str
    apply: Callable[[Manifest, str], None]
    kinds: tuple[str, ...] = ("Pod", "Deployment")


def _slot(field: str) -> Callable[[Manifest, str], Manifest]:
    """The container to mutate: the main one, or a new init/ephemeral container."""

    def pick(obj: Manifest, team: str) -> Manifest:
        spec = pod_spec(obj)
        if field == "containers":
            first: Manifest = spec["containers"][0]
            return first
        extra = container(f"extra-{field.lower()}", team)
        if field == "ephemeralContainers":
            extra.pop("resources")  # the API forbids resources on ephemeral containers
        spec.setdefault(field, []).append(extra)
        return extra

    return pick


def _set_image(field: str, image: str) -> Callable[[Manifest, str], None]:
    def apply(obj: Manifest, team: str) -> None:
        _slot(field)(obj, team)["image"] = image.format(team=team)

    return apply


def _privileged(field: str) -> Callable[[Manifest, str], None]:
    def apply(obj: Manifest, team: str) -> None:
        target = _slot(field)(obj, team)
        target["securityContext"]["privileged"] = True
        target["securityContext"]["allowPrivilegeEscalation"] = True

    return apply


def _drop_resource(field: str, section: str, resource: str) -> Callable[[Manifest, str], None]:
    def apply(obj: Manifest, team: str) -> None:
        del _slot(field)(obj, team)["resources"][section][resource]

    return apply


def _spec_flag(key: str) -> Callable[[Manifest, str], None]:
    def apply(obj: Manifest, team: str) -> None:
        pod_spec(obj)[key] = True

    return apply


def _host_path(obj: Manifest, team: str) -> None:
    pod_spec(obj)["volumes"] = [{"name": "host", "hostPath": {"path": "/var/run"}}]


def _drop_label(key: str) -> Callable[[Manifest, str], None]:
    def apply(obj: Manifest, team: str) -> None:
        del obj["metadata"]["labels"][key]

    return apply


def _writable_root(obj: Manifest, team: str) -> None:
    pod_spec(obj)["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False


REPO = "registry.platform.example/tenants/{team}/probe"
TWINS: tuple[Twin, ...] = (
    Twin("G1", "privileged container", _privileged("containers")),
    Twin("G1", "privileged init container", _privileged("initContainers")),
    Twin("G1", "privileged ephemeral container", _privileged("ephemeralContainers"), ("Pod",)),
    Twin("G2", "latest tag", _set_image("containers", REPO + ":latest")),
    Twin("G2", "no tag", _set_image("containers", REPO)),
    Twin("G2", "uppercase LATEST tag", _set_image("containers", REPO + ":LATEST")),
    Twin("G2", "digest without tag", _set_image("containers", REPO + "@sha256:" + "a" * 64)),
    Twin(
        "G2",
        "latest tag with digest",
        _set_image("initContainers", REPO + ":latest@sha256:" + "b" * 64),
    ),
    Twin("G2", "no tag, ephemeral container", _set_image("ephemeralContainers", REPO), ("Pod",)),
    Twin("G3", "no cpu limit", _drop_resource("containers", "limits", "cpu"), ("Deployment",)),
    Twin(
        "G3",
        "no memory request",
        _drop_resource("containers", "requests", "memory"),
        ("Deployment",),
    ),
    Twin(
        "G3",
        "init container without memory limit",
        _drop_resource("initContainers", "limits", "memory"),
        ("Deployment",),
    ),
    Twin("G4", "docker hub image", _set_image("containers", "nginx:1.27.0")),
    Twin(
        "G4",
        "look-alike registry",
        _set_image("containers", "registry.platform.example.evil.com/x:1.0.0"),
    ),
    Twin(
        "G4",
        "trusted host, other port",
        _set_image("containers", "registry.platform.example:5000/x:1.0.0"),
    ),
    Twin("G4", "untrusted init container", _set_image("initContainers", "quay.io/evil/tool:2.1")),
    Twin(
        "G4",
        "untrusted ephemeral container",
        _set_image("ephemeralContainers", "busybox:1.36"),
        ("Pod",),
    ),
    Twin("G5", "hostNetwork", _spec_flag("hostNetwork")),
    Twin("G5", "hostPID", _spec_flag("hostPID")),
    Twin("G5", "hostIPC", _spec_flag("hostIPC")),
    Twin("G5", "hostPath volume", _host_path),
    Twin("G6", "no cost-center label", _drop_label("cost-center")),
    Twin("G6", "no team label", _drop_label("team")),
    Twin("G7", "writable root filesystem", _writable_root),
)


def violating(base: Manifest, twin: Twin, team: str) -> Manifest:
    obj = copy.deepcopy(base)
    obj["metadata"]["name"] = obj["metadata"]["name"] + "-bad"
    twin.apply(obj, team)
    return obj
