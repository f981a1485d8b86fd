"""``KubernetesTarget``: every Target verb on a real cluster (kind, EKS, any kubeconfig).

The driver is the composition point; each verb's knowledge lives in a module of its own:
``admission`` (dry-run create), ``rbac`` (SubjectAccessReview), ``inventory`` (objects, audit),
``preflight`` (what is installed), ``safety`` (which contexts may be disrupted), and the
workload side: ``workloads`` (rendering, pod keys), ``probes``, ``faults``, ``evidence``,
``load``. The workload modules are imported when a verb needs them (``_module``), so the control
-plane verbs work, and are testable, on their own.

Design notes:

- ``deploy`` server-side applies the rendered manifests in order. A manifest whose kind the
  cluster does not serve (no Cilium: no CiliumNetworkPolicy) is skipped with a note, since the
  suites needing it are skipped by their ``gauntlet_requires`` marker; a constraint waits for
  the CRD Gatekeeper creates from its template. Objects that existed before the run (a GitOps'd
  platform) are applied but never deleted at teardown.
- Pods are known by blueprint keys (``ns/<deployment>-<i>``): ``workloads.pod_refs`` maps them to
  live pods at every use, so a pod killed and replaced keeps its key.
- Chaos (``inject``/``revert``) and load refuse contexts not allowed for disruption (``safety``).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gauntlet.blueprint.model import Blueprint
from gauntlet.report.scorecard import Distribution
from gauntlet.targets.base import (
    AdmissionResult,
    AuditFinding,
    DeployReport,
    L7Flow,
    NotSupportedByTarget,
    PlantedFault,
    PodStatus,
    ProbeRequest,
    ProbeResult,
    Subject,
    TargetError,
)
from gauntlet.targets.kubernetes import admission, inventory, rbac
from gauntlet.targets.kubernetes.client import KubeApiError, KubeClient
from gauntlet.targets.kubernetes.preflight import Preflight, run_preflight
from gauntlet.targets.kubernetes.safety import (
    allowed_patterns,
    check_disruption_allowed,
    is_allowed,
)

if TYPE_CHECKING:
    from gauntlet.targets.kind.provision import KindOptions

__all__ = ["KubernetesTarget", "connect"]

_INSTALLER_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})


def _module(name: str) -> ModuleType:
    """A sibling module of the workload side, imported on first use."""
    return importlib.import_module(f"gauntlet.targets.kubernetes.{name}")


@dataclass
class _Applied:
    api_version: str
    kind: str
    name: str
    namespace: str | None
    preexisting: bool


class KubernetesTarget:
    """A cluster reached through one kubeconfig context."""

    deploy_timeout_s = 300.0
    """How long deploy waits for every agent pod to be Ready (image pulls on a fresh node)."""
    crd_timeout_s = 60.0
    """How long a constraint waits for the CRD Gatekeeper creates from its template."""
    audit_timeout_s = 150.0
    """How long ``audit`` waits for an audit pass after deploy (Gatekeeper audits every 60 s)."""
    poll_s = 2.0

    def __init__(
        self,
        client: KubeClient,
        *,
        name: str = "kubeconfig",
        allowed_for_disruption: bool,
        agent_image: str | None = None,
        ingress_url: str | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.allowed_for_disruption = allowed_for_disruption
        self.agent_image = agent_image
        self.ingress_url = ingress_url
        self.run_id = f"g{os.getpid():x}{int(time.time()) % 0x1000000:x}"
        self.blueprint: Blueprint | None = None
        self.deployed_at: datetime | None = None
        self._preflight: Preflight | None = None
        self._applied: list[_Applied] = []
        self._faults: list[str] = []
        self._fault_context: Any = None

    # -- what the cluster is ----------------------------------------------------------------

    def preflight(self) -> Preflight:
        if self._preflight is None:
            self._preflight = run_preflight(self.client)
        return self._preflight

    def components(self) -> frozenset[str]:
        return self.preflight().components

    def distribution(self) -> Distribution:
        name = None if self.name == "kubeconfig" else self.name
        return self.preflight().distribution(name)

    # -- deploy ------------------------------------------------------------------------------

    def deploy(self, blueprint: Blueprint) -> DeployReport:
        workloads = _module("workloads")
        started = time.monotonic()
        image = self.agent_image or workloads.AGENT_IMAGE_DEFAULT
        problem = workloads.agent_image_problem(blueprint, image)
        if problem:
            raise TargetError(problem)
        self.blueprint = blueprint
        manifests = workloads.render_deploy(blueprint, agent_image=image, run_id=self.run_id)
        notes = list(workloads.skipped_objects(blueprint))
        for manifest in manifests:
            note = self._apply_one(manifest)
            if note:
                notes.append(note)
        self.deployed_at = datetime.now().astimezone()
        pods = self._wait_ready(blueprint, deadline=started + self.deploy_timeout_s)
        kept = sum(1 for a in self._applied if a.preexisting)
        if kept:
            notes.append(f"{kept} objects existed before the run; teardown keeps them")
        return DeployReport(
            pods=tuple(pods),
            duration_s=time.monotonic() - started,
            policy_revision=1,
            notes=tuple(notes),
        )

    def _apply_one(self, manifest: Mapping[str, Any]) -> str | None:
        api_version, kind = str(manifest["apiVersion"]), str(manifest["kind"])
        meta = manifest.get("metadata") or {}
        name, namespace = str(meta.get("name")), meta.get("namespace")
        if api_version.startswith(inventory.CONSTRAINTS_GROUP + "/"):
            self._wait_served(api_version, kind)
        try:
            existing = self.client.get(api_version, kind, name, namespace=namespace)
        except TargetError as exc:
            if isinstance(exc, KubeApiError):
                raise
            return f"{kind} {name}: not applied, {exc}"
        self._applied.append(_Applied(api_version, kind, name, namespace, existing is not None))
        self.client.apply(manifest)
        if kind == "CustomResourceDefinition":
            self.client.forget_discovery()
        return None

    def _wait_served(self, api_version: str, kind: str) -> None:
        deadline = time.monotonic() + self.crd_timeout_s
        while True:
            self.client.forget_discovery(api_version)
            try:
                self.client.resource(api_version, kind)
                return
            except KubeApiError:
                raise
            except TargetError as exc:
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"Gatekeeper did not create the CRD of {kind} within "
                        f"{self.crd_timeout_s:.0f}s: {exc}"
                    ) from None
            time.sleep(self.poll_s)

    def _live_pods(self, blueprint: Blueprint) -> list[dict[str, Any]]:
        namespaces = sorted({p.namespace for p in blueprint.pods()})
        return [pod for ns in namespaces for pod in self.client.list("v1", "Pod", namespace=ns)]

    def pod_refs(self) -> Mapping[str, Any]:
        """Blueprint pod key -> ``workloads.PodRef`` of the live pod now."""
        if self.blueprint is None:
            raise TargetError("deploy the blueprint first")
        return dict(_module("workloads").pod_refs(self.blueprint, self._live_pods(self.blueprint)))

    def _wait_ready(self, blueprint: Blueprint, *, deadline: float) -> list[PodStatus]:
        keys = [p.key for p in blueprint.pods()]
        while True:
            raw = self._live_pods(blueprint)
            refs = _module("workloads").pod_refs(blueprint, raw)
            missing = [k for k in keys if k not in refs or not refs[k].ready]
            if not missing:
                by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in raw}
                return [
                    _status(k, refs[k], by_name.get((refs[k].namespace, refs[k].name)))
                    for k in keys
                ]
            if time.monotonic() > deadline:
                raise TargetError(
                    f"{len(missing)} of {len(keys)} pods not Ready after "
                    f"{self.deploy_timeout_s:.0f}s: {_why_not_ready(missing, refs, raw)}"
                )
            time.sleep(self.poll_s)

    def wait_policy_converged(self, *, timeout_s: float) -> bool:
        """Every blueprint pod Ready and, with Cilium, its endpoint regenerated (CiliumEndpoint
        ``status.state: ready``: the agent has computed and installed its policy)."""
        if self.blueprint is None:
            return False
        deadline = time.monotonic() + timeout_s
        cilium = "cilium" in self.components()
        while True:
            refs = self.pod_refs()
            ready = all(k in refs and refs[k].ready for k in (p.key for p in self.blueprint.pods()))
            if ready and cilium:
                states = {
                    (e["metadata"].get("namespace"), e["metadata"].get("name")): (
                        e.get("status") or {}
                    ).get("state")
                    for e in self.client.list("cilium.io/v2", "CiliumEndpoint")
                }
                ready = all(states.get((r.namespace, r.name)) == "ready" for r in refs.values())
            if ready:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(self.poll_s)

    # -- data plane --------------------------------------------------------------------------

    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        results: list[ProbeResult] = _module("probes").run_probes(
            self.client, requests, pods=self.pod_refs()
        )
        return results

    def pod_statuses(self) -> list[PodStatus]:
        if self.blueprint is None:
            raise TargetError("deploy the blueprint first")
        refs = self.pod_refs()
        return [
            _status(p.key, refs[p.key], None)
            if p.key in refs
            else PodStatus(key=p.key, ip="", ready=False)
            for p in self.blueprint.pods()
        ]

    def l7_flows(self, *, since: float | None = None) -> list[L7Flow]:
        raise NotSupportedByTarget(
            "L7 flows on a cluster come from Hubble Relay's gRPC API, which this driver does not "
            "read yet; judge L7 by the probes' HTTP answers"
        )

    def evidence(
        self, *, cell: tuple[str, str, int] | None, namespaces: Sequence[str]
    ) -> list[tuple[str, str]]:
        """(title, text) blocks explaining a failed check (``evidence.collect_evidence``):
        Hubble's flows of ``cell`` (source key, destination key, port; blueprint keys), the
        Gatekeeper audit, the events of ``namespaces`` and the cell's pods' logs. Each block
        says why when its piece cannot be had; the live pods unknown, keys are used as pod
        names and a first block says why."""
        blocks: list[tuple[str, str]] = []
        pods: Mapping[str, Any] = {}
        if cell is not None:
            try:
                pods = self.pod_refs()
            except TargetError as exc:
                blocks.append(("Pods of the cell", f"unavailable: {exc}"))
        found: list[tuple[str, str]] = _module("evidence").collect_evidence(
            self.client, namespaces=namespaces, cell=cell, pods=pods
        )
        return blocks + found

    # -- control plane -----------------------------------------------------------------------

    def admit(
        self, manifest: dict[str, object], *, as_user: str, as_groups: Sequence[str] = ()
    ) -> AdmissionResult:
        return admission.admit(self.client, manifest, as_user=as_user, as_groups=as_groups)

    def can_i(
        self, subject: Subject, verb: str, resource: str, *, namespace: str | None, name: str = ""
    ) -> bool:
        return rbac.can_i(self.client, subject, verb, resource, namespace=namespace, name=name)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return inventory.objects(self.client, kind, namespace)

    def audit(self) -> list[AuditFinding]:
        """Gatekeeper's findings, once every constraint was audited after the deploy (objects
        created before an audit pass are not in its status yet)."""
        deadline = time.monotonic() + self.audit_timeout_s
        while True:
            items = inventory.constraints(self.client)
            stamps = inventory.audit_timestamps(items).values()
            if self.deployed_at is None or all(
                s and _parse_time(s) >= self.deployed_at for s in stamps
            ):
                return inventory.findings(items)
            if time.monotonic() > deadline:
                raise TargetError(
                    f"no Gatekeeper audit pass finished within {self.audit_timeout_s:.0f}s "
                    "after deploy (its --audit-interval may be longer)"
                )
            time.sleep(self.poll_s * 2)

    def plant(self, fault: PlantedFault) -> None:
        raise NotSupportedByTarget(
            f"planting {fault.id!r} is a sandbox selfcheck fault; on a cluster use chaos "
            "faults (Target.inject)"
        )

    # -- chaos -------------------------------------------------------------------------------

    def inject(self, fault: PlantedFault) -> str:
        check_disruption_allowed(
            self.client.context, allowed=self.allowed_for_disruption, what=f"fault {fault.id}"
        )
        handle: str = _module("faults").inject_fault(self.client, fault, ctx=self._fault_ctx())
        self._faults.append(handle)
        return handle

    def revert(self, handle: str) -> None:
        if handle not in self._faults:
            return  # reverted already, or after teardown: a no-op by contract
        check_disruption_allowed(
            self.client.context, allowed=self.allowed_for_disruption, what="reverting a fault"
        )
        _module("faults").revert_fault(self.client, handle, ctx=self._fault_ctx())
        self._faults.remove(handle)

    def active_faults(self) -> list[str]:
        return list(self._faults)

    def _fault_ctx(self) -> Any:
        """``faults.FaultContext``, one per run: it keeps what each active fault must undo."""
        if self._fault_context is None:
            context = self.client.context or ""
            self._fault_context = _module("faults").FaultContext(
                run_id=self.run_id,
                kind_cluster=context.removeprefix("kind-") if context.startswith("kind-") else None,
                pods=self.pod_refs,
                agent_image=self.agent_image or _module("workloads").AGENT_IMAGE_DEFAULT,
            )
        return self._fault_context

    # -- load --------------------------------------------------------------------------------

    def load_entrypoint(self, namespace: str, service: str, *, port: int) -> str:
        check_disruption_allowed(
            self.client.context, allowed=self.allowed_for_disruption, what="load"
        )
        url: str = _module("load").load_entrypoint(
            self.client, namespace, service, port=port, ingress_url=self.ingress_url
        )
        return url

    def load_exec_prefix(self) -> list[str]:
        return []  # the entrypoint is reachable from this host (port-forward or ingress)

    # -- teardown ----------------------------------------------------------------------------

    def teardown(self) -> None:
        """Revert faults, close port-forwards, delete what deploy created (namespaces last,
        objects inside a deleted namespace go with it). Safe to call twice."""
        errors: list[str] = []
        for handle in list(self._faults):
            try:
                self.revert(handle)
            except TargetError as exc:
                errors.append(f"revert {handle}: {exc}")
        load = sys.modules.get("gauntlet.targets.kubernetes.load")
        if load is not None:
            load.close_port_forwards()
        doomed = {a.name for a in self._applied if _owned_namespace(a)}
        for item in reversed(self._applied):
            if item.preexisting or (item.namespace in doomed and item.kind != "Namespace"):
                continue
            if item.kind == "Namespace" and item.name not in doomed:
                continue
            try:
                self.client.delete(item.api_version, item.kind, item.name, namespace=item.namespace)
            except TargetError as exc:
                errors.append(f"delete {item.kind} {item.name}: {exc}")
        self._applied.clear()
        if errors:
            raise TargetError("teardown incomplete: " + "; ".join(errors))


def connect(
    target: str,
    *,
    context: str | None = None,
    kubeconfig: str | None = None,
    allow_contexts: Sequence[str] = (),
    agent_image: str | None = None,
    ingress_url: str | None = None,
    kind_options: KindOptions | None = None,
) -> KubernetesTarget:
    """The target for ``--target kind`` (provisions or reuses the kind cluster ``gauntlet up
    --target kind`` would build from ``kind_options``, which may be disrupted) or ``--target
    kubeconfig`` (``context``, default the current one; no provisioning), checked reachable by
    its preflight. Raises TargetError with what to fix.

    The agent image the pods run is the one loaded into the kind nodes: ``agent_image``, else
    ``kind_options.agent_image``. Provisioning gets no deployer: the caller deploys once
    ``ensure_cluster`` has returned and released its lock (a deploy step calling back into
    ``connect`` would wait on that lock forever)."""
    if target == "kind":
        from gauntlet.blueprint import BlueprintError
        from gauntlet.targets.kind.config import KindConfigError
        from gauntlet.targets.kind.provision import KindOptions, ensure_cluster
        from gauntlet.targets.kind.runner import KindProvisionError

        options = kind_options or KindOptions()
        agent_image = agent_image or options.agent_image
        try:
            cluster = ensure_cluster(replace(options, agent_image=agent_image))
        except (KindProvisionError, KindConfigError, BlueprintError) as exc:
            raise TargetError(f"kind cluster '{options.name}': {exc}") from exc
        client = KubeClient.from_kubeconfig(context=cluster.context, kubeconfig=kubeconfig)
        allowed, name = True, "kind"
    elif target == "kubeconfig":
        client = KubeClient.from_kubeconfig(context=context, kubeconfig=kubeconfig)
        allowed, name = is_allowed(client.context, allowed_patterns(allow_contexts)), "kubeconfig"
    else:
        raise TargetError(f"unknown Kubernetes target {target!r}: use kind or kubeconfig")
    driver = KubernetesTarget(
        client,
        name=name,
        allowed_for_disruption=allowed,
        agent_image=agent_image,
        ingress_url=ingress_url,
    )
    driver.preflight()
    return driver


def _owned_namespace(item: _Applied) -> bool:
    return (
        item.kind == "Namespace" and not item.preexisting and item.name not in _INSTALLER_NAMESPACES
    )


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _status(key: str, ref: Any, raw: Mapping[str, Any] | None) -> PodStatus:
    return PodStatus(
        key=key,
        ip=ref.ip,
        ready=ref.ready,
        restarts=ref.restarts,
        start_latency_ms=_start_latency_ms(raw) if raw else None,
        node=ref.node,
    )


def _start_latency_ms(pod: Mapping[str, Any]) -> float | None:
    """creationTimestamp -> Ready condition, as kube-burner's podLatency measures it."""
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True" and created:
            ready_at = cond.get("lastTransitionTime")
            if ready_at:
                delta = _parse_time(ready_at) - _parse_time(created)
                return max(0.0, delta.total_seconds() * 1000)
    return None


def _why_not_ready(missing: Sequence[str], refs: Mapping[str, Any], raw: Sequence[Any]) -> str:
    """Per missing key: no pod yet, or its containers' waiting reasons (ImagePullBackOff...)."""
    by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in raw}
    parts = []
    for key in missing[:8]:
        ref = refs.get(key)
        if ref is None:
            parts.append(f"{key}: no pod (refused by admission? see its ReplicaSet's events)")
            continue
        statuses = (by_name.get((ref.namespace, ref.name)) or {}).get("status") or {}
        waiting = [
            f"{(s.get('state') or {}).get('waiting', {}).get('reason', '')}"
            for s in statuses.get("containerStatuses") or []
            if (s.get("state") or {}).get("waiting")
        ]
        parts.append(f"{key} ({ref.name}): {', '.join(waiting) or statuses.get('phase', '?')}")
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    return "; ".join(parts) + more
