"""Render a blueprint into the manifests a cluster runs: the platform's objects as written, and
every workload replaced by the probe agent from a ConfigMap in a stock Python image.

Design notes
- One agent program (``gauntlet/agent/agent.py``) everywhere: on a cluster it is mounted from a
  ConfigMap (``gauntlet-agent``, one per namespace, since a pod can only mount ConfigMaps of its
  own namespace) into ``AGENT_IMAGE_DEFAULT`` and started as ``python3 -I -S -B /agent/agent.py
  serve``. No image is built or pushed, so nothing but the image has to be trusted.
- A blueprint Deployment stays a Deployment with its name, labels, selector, replicas and
  strategy: Cilium selects pods by labels, Services by their selector, and chaos faults (pod kill,
  registry outage) act on the controller the platform really uses. Only the container is
  replaced: one ``agent`` container serving the union of the blueprint containers' ports, with
  their names (Cilium resolves named ports such as ``http`` against the container's ports).
- Pods get stable blueprint keys (``ns/<deployment>-<i>``, as ``Blueprint.pods()`` names them)
  through ``pod_refs``, which orders a Deployment's live pods (ready first, then oldest) and
  numbers them; probes and faults translate between keys and real pod names with it.
- Every agent pod passes Pod Security "restricted" and the reference guardrails G1-G7:
  non-root (``runAsNonRoot`` plus a numeric ``runAsUser``: the stock image's user is root),
  ``allowPrivilegeEscalation: false``, ``capabilities.drop: [ALL]``, seccomp ``RuntimeDefault``,
  a read-only root filesystem (the control socket and ready file live on a small in-memory
  ``emptyDir``), requests and limits, and a pinned tag. Ports below 1024 are bound thanks to the
  namespaced sysctl ``net.ipv4.ip_unprivileged_port_start=0``, which Kubernetes lists as safe
  and Pod Security "restricted" allows, instead of ``NET_BIND_SERVICE`` (a non-root process
  gets no effective capabilities from ``capabilities.add`` without ambient capabilities).
- Trusted registries: the reference platform's G4 constraint trusts only
  ``registry.platform.example``, so the default image (Docker Hub) is refused in tenant
  namespaces. Mirror the image and pass ``agent_image`` (``--agent-image``), e.g.
  ``registry.platform.example/library/python:3.12.8-slim-bookworm``, or list the exact image
  in the constraints' ``exemptImages`` parameter. ``agent_image_problem`` says this before
  anything is applied (see docs/kubernetes-workloads.md).
- Installer-owned workloads (Deployments and Services in ``kube-system``, e.g. CoreDNS) are not
  replaced: the cluster's own pods carry the same labels, ``pod_refs`` finds them by selector,
  and the blueprint's policies for them are applied. ``skipped_objects`` lists what is left out
  and why, for the deploy report.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gauntlet.agent import AGENT_PATH
from gauntlet.blueprint.kube import Deployment
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.probes import PROBE_NAMESPACE
from gauntlet.blueprint.selectors import LabelSelector, matches

Manifest = dict[str, Any]

AGENT_IMAGE_DEFAULT = "docker.io/library/python:3.12.8-slim-bookworm"
"""Stock Python image (pinned version tag) the agent runs in; override for mirrored registries."""

RUN_LABEL = "gauntlet.io/run"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gauntlet"
AGENT_CONFIGMAP = "gauntlet-agent"
AGENT_CONTAINER = "agent"
AGENT_DIR = "/agent"
RUN_DIR = "/run/gauntlet"
CONTROL_SOCKET = f"{RUN_DIR}/agent.sock"
READY_FILE = f"{RUN_DIR}/ready"
AGENT_ARGV: tuple[str, ...] = ("python3", "-I", "-S", "-B", f"{AGENT_DIR}/agent.py")
"""How every exec and container starts the agent (isolated, no site, no bytecode writes)."""
AGENT_HASH_ANNOTATION = "gauntlet.io/agent-sha256"

DEFAULT_USER_ID = 65532
"""Non-root uid/gid for pods whose blueprint sets none (the stock image would run as root)."""
DEFAULT_RESOURCES: Manifest = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}
"""Used when a blueprint container lacks a value: the serving agent takes ~18 MiB and a probe
batch exec'd beside it ~20 MiB more, in the same container's memory limit."""

INSTALLER_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
"""Namespaces every cluster has: never labelled as created by a run, workloads not replaced."""
_INSTALLER_KINDS = frozenset({"Deployment", "Service"})
_PASSIVE_WORKLOADS = frozenset(
    {"Pod", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "ReplicationController"}
)
_RESTRICTED_NS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
# Pod-level fields of a blueprint template kept on the agent pod; everything else (volumes,
# initContainers, host namespaces, ...) belongs to the real application, not to the agent.
_KEPT_POD_FIELDS = (
    "serviceAccountName",
    "automountServiceAccountToken",
    "topologySpreadConstraints",
    "affinity",
    "tolerations",
    "nodeSelector",
    "priorityClassName",
)
_KEPT_POD_SECURITY = ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups")
_RUN_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
# Kinds applied first, in this order (e.g. ConstraintTemplates before their constraints,
# policies before the pods they select); anything unlisted goes after these.
_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ResourceQuota",
    "LimitRange",
    "ConstraintTemplate",
    "CiliumClusterwideNetworkPolicy",
    "CiliumNetworkPolicy",
    "NetworkPolicy",
)


@dataclass(frozen=True)
class PodRef:
    """A live pod behind a blueprint key: where to exec, what to probe, which node it is on."""

    namespace: str
    name: str
    ip: str
    node: str
    ready: bool
    restarts: int = 0

    @property
    def key(self) -> str:
        """``ns/name`` of the real pod (not the blueprint key)."""
        return f"{self.namespace}/{self.name}"


def check_run_id(run_id: str) -> str:
    """``run_id`` if it can be a label value and a name suffix (DNS label, <= 40 chars)."""
    if not _RUN_ID.match(run_id):
        raise ValueError(
            f"run id {run_id!r} must be lower-case letters, digits and '-', at most 40 "
            "characters, starting and ending with a letter or digit"
        )
    return run_id


def agent_source() -> str:
    return AGENT_PATH.read_text(encoding="utf-8")


def run_labels(run_id: str) -> dict[str, str]:
    return {RUN_LABEL: run_id, MANAGED_BY_LABEL: MANAGED_BY}


# ---------------------------------------------------------------------------------------------
# Rendering


def render_deploy(blueprint: Blueprint, *, agent_image: str, run_id: str) -> list[Manifest]:
    """Ordered manifests for server-side apply: namespaces, the blueprint's objects, one agent
    ConfigMap per namespace with workloads, Services, then the agent Deployments.

    Constraints come after their ConstraintTemplates but Gatekeeper creates a constraint's CRD
    asynchronously: the applier waits for the template's ``status.created`` before them.
    """
    check_run_id(run_id)
    labels = run_labels(run_id)
    source = agent_source()
    digest = hashlib.sha256(source.encode()).hexdigest()
    early: list[Manifest] = [_namespace(blueprint, name, labels) for name in blueprint.namespaces]
    late: list[Manifest] = []
    for (kind, ns, _), doc in blueprint.manifests.items():
        if kind == "Namespace" or _skip_reason(kind, ns) is not None:
            continue
        if kind == "Deployment":
            continue  # rendered below, from the typed model
        (late if kind == "Service" else early).append(_labelled(doc, labels))
    early.sort(key=_rank)  # stable: load order within a kind
    workloads = [d for d in blueprint.deployments if _workload_ns(d) not in INSTALLER_NAMESPACES]
    config_maps = [
        _agent_config_map(ns, source, labels) for ns in sorted({_workload_ns(d) for d in workloads})
    ]
    deployments = [
        render_agent_deployment(
            _raw_deployment(blueprint, d), agent_image=agent_image, labels=labels, digest=digest
        )
        for d in workloads
    ]
    return early + config_maps + late + deployments


def skipped_objects(blueprint: Blueprint) -> list[str]:
    """Blueprint objects ``render_deploy`` leaves out, each with the reason (for deploy notes)."""
    notes = []
    for kind, ns, name in blueprint.manifests:
        reason = _skip_reason(kind, ns)
        if reason is not None:
            notes.append(f"{kind} {ns}/{name}: {reason}")
    return notes


def _skip_reason(kind: str, namespace: str) -> str | None:
    if namespace in INSTALLER_NAMESPACES and kind in _INSTALLER_KINDS:
        return "owned by the cluster installer; its live pods are probed as they are"
    if kind in _PASSIVE_WORKLOADS:
        return "only Deployments are run with the probe agent; this workload is not deployed"
    return None


def _rank(doc: Manifest) -> int:
    kind = str(doc.get("kind", ""))
    if str(doc.get("apiVersion", "")).startswith("constraints.gatekeeper.sh/"):
        return len(_ORDER)
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER) + 1


def _workload_ns(dep: Deployment) -> str:
    return dep.metadata.namespace or "default"


def _labelled(doc: Mapping[str, Any], labels: Mapping[str, str]) -> Manifest:
    out = copy.deepcopy(dict(doc))
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return out


def _namespace(bp: Blueprint, name: str, labels: Mapping[str, str]) -> Manifest:
    doc = bp.manifests.get(("Namespace", "", name))
    if doc is None:
        ns = bp.namespaces[name]
        doc = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(ns.metadata.labels)},
        }
    if name in INSTALLER_NAMESPACES:
        # Never mark a namespace every cluster has as created by this run: teardown deletes
        # namespaces by RUN_LABEL.
        return copy.deepcopy(dict(doc))
    out = _labelled(doc, labels)
    if name == PROBE_NAMESPACE:
        # Gauntlet's own namespace proves its pods meet Pod Security "restricted".
        out["metadata"]["labels"] = {**_RESTRICTED_NS_LABELS, **out["metadata"]["labels"]}
    return out


def _agent_config_map(namespace: str, source: str, labels: Mapping[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": AGENT_CONFIGMAP, "namespace": namespace, "labels": dict(labels)},
        "data": {"agent.py": source},
    }


def _raw_deployment(bp: Blueprint, dep: Deployment) -> Manifest:
    raw = bp.manifests.get(("Deployment", _workload_ns(dep), dep.metadata.name))
    if raw is not None:
        return raw
    # Added in memory (the outsider): the typed model holds every field it was built from.
    return dep.model_dump(mode="json", by_alias=True, exclude_none=True)


def render_agent_deployment(
    raw: Mapping[str, Any], *, agent_image: str, labels: Mapping[str, str], digest: str = ""
) -> Manifest:
    """The blueprint Deployment ``raw`` with its pod running the agent instead of the app."""
    meta = raw["metadata"]
    spec = raw["spec"]
    template = spec.get("template") or {}
    tmeta = template.get("metadata") or {}
    pod_spec = template.get("spec") or {}
    containers = pod_spec.get("containers") or []
    ports = _merged_ports(containers)
    rendered_spec: Manifest = {
        "replicas": spec.get("replicas", 1),
        "selector": copy.deepcopy(spec["selector"]),
        "template": {
            "metadata": {
                "labels": {**(tmeta.get("labels") or {}), **labels},
                "annotations": {
                    **(tmeta.get("annotations") or {}),
                    **({AGENT_HASH_ANNOTATION: digest} if digest else {}),
                },
            },
            "spec": agent_pod_spec(
                pod_spec,
                name=str(containers[0]["name"]) if containers else AGENT_CONTAINER,
                ports=ports,
                resources=containers[0].get("resources") if containers else None,
                image=agent_image,
            ),
        },
    }
    if "strategy" in spec:
        rendered_spec["strategy"] = copy.deepcopy(spec["strategy"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace") or "default",
            "labels": {**(meta.get("labels") or {}), **labels},
        },
        "spec": rendered_spec,
    }


def _merged_ports(containers: Iterable[Mapping[str, Any]]) -> list[Manifest]:
    """Every container's ports, once each: a pod shares one network namespace, so the agent
    serves them all; names are kept for Cilium's named-port resolution."""
    seen: set[tuple[int, str]] = set()
    names: set[str] = set()
    out = []
    for c in containers:
        for p in c.get("ports") or []:
            port = {"containerPort": int(p["containerPort"]), "protocol": p.get("protocol", "TCP")}
            if (port["containerPort"], port["protocol"]) in seen:
                continue
            seen.add((port["containerPort"], port["protocol"]))
            if p.get("name") and p["name"] not in names:
                names.add(p["name"])
                port = {"name": p["name"], **port}
            out.append(port)
    return out


def agent_pod_spec(
    blueprint_spec: Mapping[str, Any],
    *,
    name: str,
    ports: list[Manifest],
    resources: Mapping[str, Any] | None,
    image: str,
) -> Manifest:
    """A restricted pod spec running ``agent.py serve`` on ``ports``."""
    tcp = [p["containerPort"] for p in ports if p["protocol"] == "TCP"]
    udp = [p["containerPort"] for p in ports if p["protocol"] == "UDP"]
    command = [*AGENT_ARGV, "serve", "--name", "$(POD_NAMESPACE)/$(POD_NAME)"]
    if tcp:
        command += ["--tcp", ",".join(map(str, tcp))]
    if udp:
        command += ["--udp", ",".join(map(str, udp))]
    command += ["--control", CONTROL_SOCKET, "--ready-file", READY_FILE]
    spec: Manifest = {
        k: copy.deepcopy(blueprint_spec[k]) for k in _KEPT_POD_FIELDS if k in blueprint_spec
    }
    spec.setdefault("automountServiceAccountToken", False)  # the agent never calls the API
    spec["enableServiceLinks"] = False
    spec["terminationGracePeriodSeconds"] = 5  # the agent exits at once on SIGTERM
    spec["securityContext"] = pod_security_context(
        blueprint_spec.get("securityContext") or {}, low_ports=any(p < 1024 for p in tcp + udp)
    )
    spec["containers"] = [
        {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": command,
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {
                    "name": "POD_NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
            ],
            "ports": ports,
            "resources": _resources(resources),
            # exec, not tcpSocket: readiness must not depend on the policies under test.
            "readinessProbe": {
                "exec": {"command": ["test", "-f", READY_FILE]},
                "periodSeconds": 2,
            },
            "securityContext": container_security_context(),
            "volumeMounts": [
                {"name": "agent", "mountPath": AGENT_DIR, "readOnly": True},
                {"name": "run", "mountPath": RUN_DIR},
            ],
        }
    ]
    spec["volumes"] = [
        {"name": "agent", "configMap": {"name": AGENT_CONFIGMAP, "defaultMode": 0o444}},
        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
    ]
    return spec


def pod_security_context(blueprint: Mapping[str, Any], *, low_ports: bool) -> Manifest:
    """The blueprint's ids (when non-root) plus what "restricted" requires."""
    ctx: Manifest = {k: copy.deepcopy(blueprint[k]) for k in _KEPT_POD_SECURITY if k in blueprint}
    if not ctx.get("runAsUser"):
        ctx["runAsUser"] = DEFAULT_USER_ID
    if not ctx.get("runAsGroup"):
        ctx["runAsGroup"] = DEFAULT_USER_ID
    ctx["runAsNonRoot"] = True
    seccomp = blueprint.get("seccompProfile") or {}
    ctx["seccompProfile"] = (
        copy.deepcopy(dict(seccomp))
        if seccomp.get("type") in ("RuntimeDefault", "Localhost")
        else {"type": "RuntimeDefault"}
    )
    if low_ports:
        ctx["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return ctx


def container_security_context() -> Manifest:
    return {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _resources(blueprint: Mapping[str, Any] | None) -> Manifest:
    out: Manifest = {}
    for section in ("requests", "limits"):
        given = dict((blueprint or {}).get(section) or {})
        out[section] = {
            r: str(given.get(r, DEFAULT_RESOURCES[section][r])) for r in ("cpu", "memory")
        }
    return out


# ---------------------------------------------------------------------------------------------
# Live pods


def pod_ref(pod: Mapping[str, Any]) -> PodRef:
    """A PodRef from a listed Pod object."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    return PodRef(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        ip=str(status.get("podIP") or ""),
        node=str((pod.get("spec") or {}).get("nodeName") or ""),
        ready=ready,
        restarts=restarts,
    )


def pod_refs(blueprint: Blueprint, pods: Iterable[Mapping[str, Any]]) -> dict[str, PodRef]:
    """Blueprint pod keys (``ns/<deployment>-<i>``) to live pods.

    A Deployment's pods are those of its namespace its selector matches, without a
    ``deletionTimestamp``; ready pods come first, then the oldest, so a key keeps its pod while
    that pod lives. Keys without a live pod are missing from the map (probes report them as
    errors, never as passes).
    """
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    refs: dict[str, PodRef] = {}
    for dep in blueprint.deployments:
        ns = _workload_ns(dep)
        selector: LabelSelector = dep.spec.selector
        mine = [
            p
            for p in live
            if (p.get("metadata") or {}).get("namespace") == ns
            and matches(selector, (p.get("metadata") or {}).get("labels") or {})
        ]
        mine.sort(key=_pod_order)
        for i, pod in enumerate(mine[: dep.spec.replicas]):
            refs[f"{ns}/{dep.metadata.name}-{i}"] = pod_ref(pod)
    return refs


def _pod_order(pod: Mapping[str, Any]) -> tuple[bool, str, str]:
    meta = pod.get("metadata") or {}
    return (not pod_ref(pod).ready, str(meta.get("creationTimestamp", "")), str(meta.get("name")))


# ---------------------------------------------------------------------------------------------
# Trusted registries


def image_registry(image: str) -> str:
    """The registry of an image reference, as the reference G4 template computes it."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def agent_image_problem(blueprint: Blueprint, image: str) -> str | None:
    """Why the platform's trusted-registry constraints would refuse ``image`` in a tenant
    namespace (None: they would not), with what to change."""
    for (_, _, name), doc in blueprint.manifests.items():
        if not str(doc.get("apiVersion", "")).startswith("constraints.gatekeeper.sh/"):
            continue
        spec = doc.get("spec") or {}
        if spec.get("enforcementAction", "deny") != "deny":
            continue
        params = spec.get("parameters") or {}
        registries = params.get("registries")
        if not isinstance(registries, list) or image in (params.get("exemptImages") or []):
            continue
        if image_registry(image) not in {str(r).lower() for r in registries}:
            return (
                f"agent image {image} comes from {image_registry(image)}, which constraint "
                f"{name} ({doc.get('kind')}) does not trust ({', '.join(map(str, registries))}): "
                f"mirror it there and pass --agent-image "
                f"{registries[0]}/{image.split('/', 1)[1] if '/' in image else image}, "
                f"or add {image} to the constraint's parameters.exemptImages"
            )
    return None
