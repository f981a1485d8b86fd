"""Hypothesis strategies for workloads a tenant might submit, odd corners included.

``workloads(focus=G)`` draws the attribute of guardrail ``G`` half compliant, half violating,
and every other guardrail's attribute mostly compliant, so that each guardrail gets hundreds of
decisive examples of its own while combinations still occur.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from gauntlet.blueprint.samples import workload

REGISTRIES_OK = ("registry.platform.example", "REGISTRY.Platform.Example")
REGISTRIES_BAD = (
    "",  # Docker Hub short name
    "docker.io",
    "quay.io",
    "localhost",
    "localhost:5000",
    "registry.platform.example:5000",
    "registry.platform.example:443",
    "registry.platform.example.evil.com",
    "evil.com/registry.platform.example",
    "registry-platform.example",
)
PATHS = ("tenants/team-alpha/api", "library/nginx", "app", "a/b/c-d_e.f")
TAGS_OK = ("1.0.0", "v2", "latest-1", "1.0-latest", "sha256", "2024.01.01", "_x")
TAGS_BAD = (None, "latest", "LATEST", "Latest")
DIGEST = "sha256:" + "0123456789abcdef" * 4


def _weighted(ok: tuple[Any, ...], bad: tuple[Any, ...], focused: bool) -> st.SearchStrategy[Any]:
    """Half/half when focused, else about one violation in ten draws."""
    if focused:
        return st.one_of(st.sampled_from(ok), st.sampled_from(bad))
    return st.sampled_from(ok * 9 + bad[:1]) if bad else st.sampled_from(ok)


@st.composite
def images(draw: st.DrawFn, *, focus: str | None) -> str:
    registry = draw(_weighted(REGISTRIES_OK, REGISTRIES_BAD, focus == "G4"))
    path = draw(st.sampled_from(PATHS))
    tag = draw(_weighted(TAGS_OK, TAGS_BAD, focus == "G2"))
    digest = draw(st.sampled_from((None, None, DIGEST)))
    ref = f"{registry}/{path}" if registry else path
    if tag is not None:
        ref += f":{tag}"
    if digest is not None:
        ref += f"@{digest}"
    return ref


@st.composite
def containers(draw: st.DrawFn, name: str, *, focus: str | None, ephemeral: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": draw(images(focus=focus))}
    privileged = draw(_weighted((None, False), (True,), focus == "G1"))
    sc: dict[str, Any] = {"allowPrivilegeEscalation": bool(privileged)}
    if privileged is not None:
        sc["privileged"] = privileged
    if draw(st.booleans()):
        sc["readOnlyRootFilesystem"] = draw(st.booleans())
    c["securityContext"] = sc
    if not ephemeral:
        keys = (
            ("requests", "cpu"),
            ("requests", "memory"),
            ("limits", "cpu"),
            ("limits", "memory"),
        )
        all_keys = draw(_weighted((True,), (False,), focus == "G3"))
        chosen = (
            keys if all_keys else draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))
        )
        resources: dict[str, dict[str, str]] = {}
        for section, resource in chosen:
            value = (
                draw(st.sampled_from(("10m", "50m", "100m")))
                if resource == "cpu"
                else (draw(st.sampled_from(("16Mi", "32Mi", "64Mi"))))
            )
            resources.setdefault(section, {})[resource] = value
        # Keep limit >= request, as the API server's validation requires.
        for resource in ("cpu", "memory"):
            req = resources.get("requests", {}).get(resource)
            if req is not None and resource in resources.get("limits", {}):
                resources["limits"][resource] = req
        if resources:
            c["resources"] = resources
    return c


@st.composite
def workloads(
    draw: st.DrawFn, *, namespace: str, team: str, cost_center: str, focus: str | None
) -> dict[str, Any]:
    kind = draw(st.sampled_from(("Pod", "Deployment")))
    n_main = draw(st.integers(1, 3))
    n_init = draw(st.integers(0, 2))
    n_eph = draw(st.integers(0, 1)) if kind == "Pod" else 0
    spec: dict[str, Any] = {
        "containers": [
            draw(containers(f"c{i}", focus=focus, ephemeral=False)) for i in range(n_main)
        ]
    }
    if n_init:
        spec["initContainers"] = [
            draw(containers(f"init{i}", focus=focus, ephemeral=False)) for i in range(n_init)
        ]
    if n_eph:
        spec["ephemeralContainers"] = [draw(containers("debug", focus=focus, ephemeral=True))]
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        value = draw(_weighted((None, False, None, None), (True,), focus == "G5"))
        if value is not None:
            spec[flag] = value
    volume = draw(_weighted(("none", "emptyDir"), ("hostPath",), focus == "G5"))
    if volume == "emptyDir":
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    elif volume == "hostPath":
        spec["volumes"] = [{"name": "host", "hostPath": {"path": "/etc"}}]
    labels = {"app": "fuzz"}
    for key, value in (("team", team), ("cost-center", cost_center)):
        if draw(_weighted((True,), (False,), focus == "G6")):
            labels[key] = value
    meta = {"name": "fuzz", "namespace": namespace, "labels": labels}
    return workload(kind, meta, spec)
