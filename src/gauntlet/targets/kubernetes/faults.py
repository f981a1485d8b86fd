"""Chaos faults on a Kubernetes cluster: inject one, record how to undo it, revert it.

Design notes
- Every injector appends an undo step *as soon as* it has changed something, so a fault that
  fails half-way is rolled back before the error propagates, and ``revert_fault`` replays the
  steps in reverse. A step that fails on revert stays recorded (the handle stays active) so a
  later ``revert``/teardown retries exactly what is left; reverting twice is a no-op.
- Steps are small frozen dataclasses (no closures), so the driver can persist
  ``FaultContext.records`` and undo faults after a crash.
- chaostoolkit-kubernetes (``chaosk8s``) has actions for some of these (``terminate_pods``,
  ``cordon_node``/``uncordon_node``/``drain_nodes``, ``scale_deployment``), but each builds its
  own client from ``~/.kube/config`` or ``KUBERNETES_*`` variables (``create_k8s_api_client``):
  it would ignore the context Gauntlet was pointed at (a fault on the wrong cluster is the
  worst failure a chaos tool can have), bypass the discovery and errors of our client, and not
  record what it changed (``scale_deployment`` forgets the replica count to restore;
  ``terminate_pods`` picks pods by label or regex, not the pods the runner named). So the same
  API calls are made here through ``KubeClient``: DELETE with ``gracePeriodSeconds: 0``, a
  merge patch of ``spec.unschedulable`` or ``spec.replicas``.
- kind nodes are containers: node failure is ``docker stop``/``start``, control-plane
  degradation ``docker pause``/``unpause``, a node partition ``iptables`` DROP rules inside the
  node containers (the underlay Cilium's tunnel runs over). Container names are checked to
  belong to the kind cluster before any docker command runs.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gauntlet.admission.quantity import Quantity
from gauntlet.blueprint.probes import PROBE_NAMESPACE
from gauntlet.chaos.catalog import FaultParamError, check_params
from gauntlet.targets.base import NotSupportedByTarget, PlantedFault, TargetError
from gauntlet.targets.kubernetes.client import KubeApiError, KubeClient
from gauntlet.targets.kubernetes.fault_manifests import (
    hog_pod,
    outage_image,
    partition_policy,
)
from gauntlet.targets.kubernetes.workloads import (
    AGENT_ARGV,
    AGENT_IMAGE_DEFAULT,
    CONTROL_SOCKET,
    PodRef,
)

DockerRunner = Callable[[Sequence[str]], str]
"""Runs ``docker <args>`` and returns its stdout; raises ``TargetError`` on failure."""

GATEKEEPER_NAMESPACE = "gatekeeper-system"
GATEKEEPER_WEBHOOK = "gatekeeper-controller-manager"
CILIUM_NAMESPACE = "kube-system"
CILIUM_AGENT_SELECTOR = "k8s-app=cilium"
SLOW_RESPONSES_DEFAULT_MS = 500.0
ERROR_RESPONSES_DEFAULT_RATIO = 0.1
NODE_PRESSURE_DEFAULT = "1Gi"
DRIFT_LABEL = "gauntlet.io/drift"
# apiVersion of the kinds gitops-drift may target.
KIND_API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "ServiceAccount": "v1",
    "ResourceQuota": "v1",
    "LimitRange": "v1",
    "Namespace": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "CiliumNetworkPolicy": "cilium.io/v2",
    "CiliumClusterwideNetworkPolicy": "cilium.io/v2",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


def subprocess_docker(args: Sequence[str]) -> str:
    """The real ``DockerRunner``."""
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TargetError(f"docker {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        raise TargetError(f"docker {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


# ---------------------------------------------------------------------------------------------
# Undo steps


@dataclass(frozen=True)
class DockerCommand:
    args: tuple[str, ...]


@dataclass(frozen=True)
class Uncordon:
    node: str


@dataclass(frozen=True)
class DeleteObject:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class ScaleDeployment:
    namespace: str
    name: str
    replicas: int


@dataclass(frozen=True)
class AgentControl:
    namespace: str
    pod: str
    request: str


@dataclass(frozen=True)
class RestoreImages:
    namespace: str
    deployment: str
    images: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Restore:
    """Put an object back exactly as it was (replace, or create if it was deleted)."""

    manifest_json: str


UndoStep = (
    DockerCommand
    | Uncordon
    | DeleteObject
    | ScaleDeployment
    | AgentControl
    | RestoreImages
    | Restore
)


@dataclass(frozen=True)
class FaultRecord:
    fault_id: str
    undo: tuple[UndoStep, ...]
    notes: tuple[str, ...] = ()


@dataclass
class FaultContext:
    """What faults need beyond the client, and the records of the faults still active.

    The driver keeps one context for the whole run: ``revert_fault`` finds what to undo in
    ``records`` (plain dataclasses, so they can be persisted for recovery after a crash).
    """

    run_id: str
    kind_cluster: str | None = None
    """Name of the kind cluster (node containers are ``<name>-control-plane``, ...), or None."""
    docker: DockerRunner = subprocess_docker
    pods: Mapping[str, PodRef] | Callable[[], Mapping[str, PodRef]] = field(default_factory=dict)
    """Blueprint pod keys to live pods (``workloads.pod_refs``), or a function listing them at
    the moment a fault resolves its pods (a killed pod's replacement keeps the key)."""
    namespace: str = PROBE_NAMESPACE
    """The run's own namespace, where node-pressure hog pods go."""
    agent_image: str = AGENT_IMAGE_DEFAULT
    records: dict[str, FaultRecord] = field(default_factory=dict)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_index(self) -> int:
        return next(self._serial)

    def next_handle(self, fault_id: str) -> str:
        return f"{fault_id}-{self.next_index()}"


Injector = Callable[[KubeClient, dict[str, str], FaultContext, list[UndoStep]], tuple[str, ...]]


def inject_fault(client: KubeClient, fault: PlantedFault, *, ctx: FaultContext) -> str:
    """Start ``fault``; returns the handle for ``revert_fault``."""
    params = dict(fault.params)
    try:
        spec = check_params(fault.id, params)
    except FaultParamError as exc:
        raise TargetError(str(exc)) from None
    if "kubernetes" not in spec.targets:
        raise NotSupportedByTarget(f"fault {fault.id} is not defined for Kubernetes targets")
    injector = _INJECTORS.get(fault.id)
    if injector is None:
        raise NotSupportedByTarget(f"fault {fault.id} is not implemented for Kubernetes")
    undo: list[UndoStep] = []
    try:
        notes = injector(client, params, ctx, undo)
    except BaseException:
        for step in reversed(undo):  # roll back what the half-done fault changed
            with contextlib.suppress(Exception):  # the original error is the one to report
                _run_undo(client, ctx, step)
        raise
    handle = ctx.next_handle(fault.id)
    ctx.records[handle] = FaultRecord(fault.id, tuple(undo), notes)
    return handle


def revert_fault(client: KubeClient, handle: str, *, ctx: FaultContext) -> None:
    """Undo a fault; unknown or already reverted handles are a no-op."""
    record = ctx.records.get(handle)
    if record is None:
        return
    failed: list[UndoStep] = []
    errors: list[str] = []
    for step in reversed(record.undo):
        try:
            _run_undo(client, ctx, step)
        except (TargetError, OSError) as exc:
            failed.insert(0, step)
            errors.append(f"{type(step).__name__}: {exc}")
    if failed:
        ctx.records[handle] = replace(record, undo=tuple(failed))
        raise TargetError(f"revert of {handle} incomplete: " + "; ".join(errors))
    del ctx.records[handle]


def _run_undo(client: KubeClient, ctx: FaultContext, step: UndoStep) -> None:
    match step:
        case DockerCommand(args):
            ctx.docker(args)
        case Uncordon(node):
            client.patch("v1", "Node", node, namespace=None, patch=_UNCORDON, patch_type="merge")
        case DeleteObject(api_version, kind, name, namespace):
            _delete_now(client, api_version, kind, name, namespace)
        case ScaleDeployment(namespace, name, replicas):
            client.patch(
                "apps/v1",
                "Deployment",
                name,
                namespace=namespace,
                patch={"spec": {"replicas": replicas}},
                patch_type="merge",
            )
        case AgentControl(namespace, pod, request):
            _agent_control(client, namespace, pod, request)
        case RestoreImages(namespace, deployment, images):
            _set_images(client, namespace, deployment, images)
        case Restore(manifest_json):
            _restore(client, json.loads(manifest_json))


_CORDON = {"spec": {"unschedulable": True}}
_UNCORDON = {"spec": {"unschedulable": None}}


# ---------------------------------------------------------------------------------------------
# Shared actions


def _delete_now(
    client: KubeClient, api_version: str, kind: str, name: str, namespace: str | None
) -> None:
    """DELETE with ``gracePeriodSeconds: 0`` (what ``kubectl delete --grace-period=0`` sends);
    already gone is fine."""
    path = client.resource_path(api_version, kind, namespace=namespace, name=name)
    options = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Background",
    }
    resp = client.request("DELETE", path, body=options)
    if resp.status != 404 and not 200 <= resp.status < 300:
        where = f"{namespace}/{name}" if namespace else name
        raise KubeApiError.from_response(resp, doing=f"delete {kind} {where}")


def _resolve(ctx: FaultContext, keys: str) -> list[tuple[str, str]]:
    """(namespace, real pod name) for comma-separated blueprint keys; a key that is no
    blueprint key is taken as ``ns/<real pod name>``."""
    out = []
    pods = ctx.pods() if callable(ctx.pods) else ctx.pods
    for key in (k.strip() for k in keys.split(",")):
        if not key:
            continue
        ref = pods.get(key)
        if ref is not None:
            out.append((ref.namespace, ref.name))
        elif "/" in key:
            ns, _, name = key.partition("/")
            out.append((ns, name))
        else:
            raise TargetError(f"pod {key!r}: expected a ns/pod key")
    if not out:
        raise TargetError("no pods given")
    return out


def _agent_control(client: KubeClient, namespace: str, pod: str, request: str) -> None:
    argv = [*AGENT_ARGV, "control", "--socket", CONTROL_SOCKET, request]
    done = client.exec(namespace, pod, argv, timeout_s=30.0)
    if done.exit_code != 0:
        out = (done.stdout or done.stderr).decode("utf-8", "replace").strip()[-300:]
        raise TargetError(f"agent control in {namespace}/{pod} failed ({done.exit_code}): {out}")


def _kind_node(ctx: FaultContext, node: str) -> str:
    if ctx.kind_cluster is None:
        raise TargetError("not a kind cluster")
    if not node.startswith(f"{ctx.kind_cluster}-"):
        raise TargetError(
            f"node {node!r} is not a node of kind cluster {ctx.kind_cluster!r} "
            f"(its containers are named {ctx.kind_cluster}-control-plane, "
            f"{ctx.kind_cluster}-worker, ...)"
        )
    return node


def _container_images(dep: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    containers = dep["spec"]["template"]["spec"].get("containers") or []
    return tuple((str(c["name"]), str(c["image"])) for c in containers)


def _set_images(
    client: KubeClient, namespace: str, deployment: str, images: Sequence[tuple[str, str]]
) -> None:
    # Strategic merge: containers merge by name, so only the images change.
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": n, "image": image} for n, image in images]}
            }
        }
    }
    client.patch(
        "apps/v1",
        "Deployment",
        deployment,
        namespace=namespace,
        patch=patch,
        patch_type="strategic",
    )


def _clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    return out


def _restore(client: KubeClient, original: dict[str, Any]) -> None:
    """Replace the live object with ``original`` (PUT: exact, unlike server-side apply, which
    never removes fields another manager added), or create it again if it is gone."""
    meta = original["metadata"]
    api_version, kind, name = original["apiVersion"], original["kind"], meta["name"]
    namespace = meta.get("namespace")
    for _ in range(3):  # a conflicting write (the GitOps controller healing it) is retried
        live = client.get(api_version, kind, name, namespace=namespace)
        body = copy.deepcopy(original)
        if live is None:
            path = client.resource_path(api_version, kind, namespace=namespace)
            resp = client.request("POST", path, body=body, query={"fieldManager": "gauntlet"})
        else:
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            path = client.resource_path(api_version, kind, namespace=namespace, name=name)
            resp = client.request("PUT", path, body=body, query={"fieldManager": "gauntlet"})
        if 200 <= resp.status < 300:
            return
        if resp.status != 409:
            raise KubeApiError.from_response(resp, doing=f"restore {kind} {name}")
    raise TargetError(f"restore {kind} {name}: kept conflicting with concurrent writes")


# ---------------------------------------------------------------------------------------------
# Injectors


def _pod_kill(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    for namespace, name in _resolve(ctx, params["pods"]):
        _delete_now(client, "v1", "Pod", name, namespace)
    return ()


def _node_failure(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    node = params["node"]
    if ctx.kind_cluster is not None:
        ctx.docker(["stop", _kind_node(ctx, node)])
        undo.append(DockerCommand(("start", node)))
        return (f"kind node container {node} stopped",)
    found = client.get("v1", "Node", node)
    if found is None:
        raise TargetError(f"node {node!r} does not exist")
    if not (found.get("spec") or {}).get("unschedulable"):
        client.patch("v1", "Node", node, namespace=None, patch=_CORDON, patch_type="merge")
        undo.append(Uncordon(node))
    resp = client.request(
        "GET",
        client.resource_path("v1", "Pod", namespace=None),
        query={"fieldSelector": f"spec.nodeName={node}"},
    )
    if not 200 <= resp.status < 300:
        raise KubeApiError.from_response(resp, doing=f"list pods on node {node}")
    deleted = 0
    for pod in resp.body.get("items") or []:
        meta = pod.get("metadata") or {}
        owners = {o.get("kind") for o in meta.get("ownerReferences") or []}
        # As `kubectl drain` does: DaemonSet pods come straight back to the node, mirror pods
        # (static, kubelet-managed) cannot be deleted through the API.
        if "DaemonSet" in owners or "kubernetes.io/config.mirror" in (
            meta.get("annotations") or {}
        ):
            continue
        _delete_now(client, "v1", "Pod", str(meta["name"]), str(meta["namespace"]))
        deleted += 1
    return (f"node {node} cordoned, {deleted} pods deleted (not a kind cluster)",)


def _node_ip(client: KubeClient, node: str) -> str:
    found = client.get("v1", "Node", node)
    for address in ((found or {}).get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address["address"])
    raise TargetError(f"node {node!r}: no InternalIP address")


def _network_partition(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    def split(name: str) -> list[str]:
        return [p.strip() for p in params.get(name, "").split(",") if p.strip()]

    side_a, side_b, nodes_a, nodes_b = split("a"), split("b"), split("a_nodes"), split("b_nodes")
    if (side_a or side_b) and (nodes_a or nodes_b):
        raise TargetError("network-partition: give namespaces (a, b) or nodes, not both")
    if side_a and side_b:
        try:
            policy = partition_policy(ctx.run_id, ctx.next_index(), side_a, side_b)
        except ValueError as exc:
            raise TargetError(f"network-partition: {exc}") from None
        client.apply(policy)
        undo.append(
            DeleteObject(
                "cilium.io/v2", "CiliumClusterwideNetworkPolicy", policy["metadata"]["name"]
            )
        )
        return (f"CiliumClusterwideNetworkPolicy {policy['metadata']['name']}",)
    if not (nodes_a and nodes_b):
        raise TargetError("network-partition: needs a and b (namespaces) or a_nodes and b_nodes")
    if ctx.kind_cluster is None:
        raise NotSupportedByTarget(
            "a node partition needs control of the node network (kind node containers); "
            "on other clusters partition namespaces (a=..., b=...)"
        )
    ips = {n: _node_ip(client, _kind_node(ctx, n)) for n in nodes_a + nodes_b}
    for here, there in [(x, y) for x in nodes_a for y in nodes_b] + [
        (y, x) for x in nodes_a for y in nodes_b
    ]:
        for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
            rule = (chain, flag, ips[there], "-j", "DROP")
            ctx.docker(["exec", here, "iptables", "-w", "-I", *rule])
            undo.append(DockerCommand(("exec", here, "iptables", "-w", "-D", *rule)))
    return (f"iptables DROP between {','.join(nodes_a)} and {','.join(nodes_b)}",)


def _agent_setting(op: str, field_name: str, value: float) -> str:
    return json.dumps({"op": op, field_name: value}, separators=(",", ":"))


def _number(params: dict[str, str], name: str, default: float) -> float:
    try:
        return float(params.get(name, default))
    except ValueError:
        raise TargetError(f"parameter {name}={params[name]!r} is not a number") from None


def _slow_responses(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    latency_ms = _number(params, "latency_ms", SLOW_RESPONSES_DEFAULT_MS)
    for namespace, name in _resolve(ctx, params["pods"]):
        _agent_control(
            client, namespace, name, _agent_setting("set_latency", "latency_ms", latency_ms)
        )
        undo.append(AgentControl(namespace, name, _agent_setting("set_latency", "latency_ms", 0)))
    return ()


def _error_responses(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    ratio = _number(params, "ratio", ERROR_RESPONSES_DEFAULT_RATIO)
    for namespace, name in _resolve(ctx, params["pods"]):
        _agent_control(
            client, namespace, name, _agent_setting("set_error_ratio", "error_ratio", ratio)
        )
        undo.append(
            AgentControl(namespace, name, _agent_setting("set_error_ratio", "error_ratio", 0))
        )
    return ()


def _webhook_outage(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    dep = client.get("apps/v1", "Deployment", GATEKEEPER_WEBHOOK, namespace=GATEKEEPER_NAMESPACE)
    if dep is None:
        raise NotSupportedByTarget(
            f"no Deployment {GATEKEEPER_NAMESPACE}/{GATEKEEPER_WEBHOOK}: Gatekeeper is not "
            "installed the standard way"
        )
    replicas = int((dep.get("spec") or {}).get("replicas", 1))
    client.patch(
        "apps/v1",
        "Deployment",
        GATEKEEPER_WEBHOOK,
        namespace=GATEKEEPER_NAMESPACE,
        patch={"spec": {"replicas": 0}},
        patch_type="merge",
    )
    undo.append(ScaleDeployment(GATEKEEPER_NAMESPACE, GATEKEEPER_WEBHOOK, replicas))
    return (f"{GATEKEEPER_NAMESPACE}/{GATEKEEPER_WEBHOOK} scaled {replicas} -> 0",)


def _policy_engine_restart(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    agents = client.list(
        "v1", "Pod", namespace=CILIUM_NAMESPACE, label_selector=CILIUM_AGENT_SELECTOR
    )
    node = params.get("node")
    if node:
        agents = [p for p in agents if (p.get("spec") or {}).get("nodeName") == node]
    if not agents:
        where = f" on node {node}" if node else ""
        raise NotSupportedByTarget(f"no Cilium agent pod ({CILIUM_AGENT_SELECTOR}){where}")
    victim = min(agents, key=lambda p: str(p["metadata"]["name"]))
    name = str(victim["metadata"]["name"])
    client.delete("v1", "Pod", name, namespace=CILIUM_NAMESPACE)
    notes = [f"Cilium agent {CILIUM_NAMESPACE}/{name} deleted; its DaemonSet restarts it"]
    if "duration_ms" in params:
        notes.append("duration_ms is not honoured: the agent is away as long as its restart takes")
    return tuple(notes)


def _control_plane(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    if ctx.kind_cluster is None:
        raise NotSupportedByTarget(
            "control-plane degradation needs a kind cluster (its control-plane node container "
            "is paused); a managed control plane is not Gauntlet's to degrade"
        )
    node = f"{ctx.kind_cluster}-control-plane"
    ctx.docker(["pause", node])
    undo.append(DockerCommand(("unpause", node)))
    return (f"kind node container {node} paused",)


def _registry_outage(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    namespace, name = params["namespace"], params["deployment"]
    dep = client.get("apps/v1", "Deployment", name, namespace=namespace)
    if dep is None:
        raise TargetError(f"no Deployment {namespace}/{name}")
    images = _container_images(dep)
    _set_images(client, namespace, name, [(n, outage_image(image)) for n, image in images])
    undo.append(RestoreImages(namespace, name, images))
    return tuple(f"{n}: {image} -> {outage_image(image)}" for n, image in images)


def _node_pressure(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    memory = params.get("memory", NODE_PRESSURE_DEFAULT)
    try:
        memory_bytes = int(Quantity.parse(memory).value)
    except ValueError as exc:
        raise TargetError(f"node-pressure: memory={memory!r}: {exc}") from None
    if memory_bytes <= 0:
        raise TargetError(f"node-pressure: memory={memory!r} must be positive")
    pod = hog_pod(
        run_id=ctx.run_id,
        namespace=ctx.namespace,
        node=params["node"],
        memory_bytes=memory_bytes,
        image=ctx.agent_image,
    )
    client.apply(pod)
    undo.append(DeleteObject("v1", "Pod", pod["metadata"]["name"], ctx.namespace))
    return (f"pod {ctx.namespace}/{pod['metadata']['name']} holds {memory} on {params['node']}",)


def _drift_patch(kind: str, obj: Mapping[str, Any], run_id: str) -> dict[str, Any] | None:
    """A merge patch that changes what the blueprint declares, or None to delete the object."""
    inert = {"matchLabels": {DRIFT_LABEL: run_id}}  # selects no pod
    if kind in ("Deployment", "StatefulSet"):
        return {"spec": {"replicas": 0}}
    if kind == "NetworkPolicy":
        return {"spec": {"podSelector": inert}}
    if kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
        patch: dict[str, Any] = {}
        if obj.get("spec"):
            patch["spec"] = {"endpointSelector": inert}
        if obj.get("specs"):
            patch["specs"] = [{**s, "endpointSelector": inert} for s in obj["specs"]]
        return patch or None
    return None


def _gitops_drift(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    kind, namespace, name = params["kind"], params["namespace"] or None, params["name"]
    api_version = KIND_API_VERSIONS.get(kind)
    if api_version is None:
        raise TargetError(
            f"gitops-drift: kind {kind!r} not supported ({', '.join(KIND_API_VERSIONS)})"
        )
    live = client.get(api_version, kind, name, namespace=namespace)
    if live is None:
        raise TargetError(f"gitops-drift: no {kind} {namespace}/{name}")
    undo.append(Restore(json.dumps(_clean(live), sort_keys=True)))
    patch = _drift_patch(kind, live, ctx.run_id)
    if patch is None:
        _delete_now(client, api_version, kind, name, namespace)
        return (f"{kind} {namespace}/{name} deleted out of band",)
    client.patch(api_version, kind, name, namespace=namespace, patch=patch, patch_type="merge")
    return (f"{kind} {namespace}/{name} changed out of band: {json.dumps(patch)}",)


def _packet_loss(
    client: KubeClient, params: dict[str, str], ctx: FaultContext, undo: list[UndoStep]
) -> tuple[str, ...]:
    raise NotSupportedByTarget(
        "packet-loss is not implemented on Kubernetes: it needs a netem qdisc on each pod's "
        "host-side veth (found through the Cilium endpoint) and sch_netem on the node kernel, "
        "or NET_ADMIN inside the pod, which Pod Security 'restricted' forbids"
    )


_INJECTORS: dict[str, Injector] = {
    "pod-kill": _pod_kill,
    "node-failure": _node_failure,
    "network-partition": _network_partition,
    "packet-loss": _packet_loss,
    "slow-responses": _slow_responses,
    "error-responses": _error_responses,
    "admission-webhook-outage": _webhook_outage,
    "policy-engine-restart": _policy_engine_restart,
    "control-plane-degradation": _control_plane,
    "registry-outage": _registry_outage,
    "node-pressure": _node_pressure,
    "gitops-drift": _gitops_drift,
}
