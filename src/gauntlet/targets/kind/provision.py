"""Provision Gauntlet's kind cluster: kind + Cilium (CNI and kube-proxy replacement, Hubble,
L7 proxy) + Gatekeeper + the blueprint, with real readiness waits between them.

``plan(options)`` is the whole procedure as data: the ordered steps ``gauntlet up --target
kind`` runs, each a command (argv), a file it writes (Helm values, manifests), a poll, or the
hand-over to the Kubernetes driver. ``--dry-run`` prints it; tests assert it; ``ensure_cluster``
executes it. Nothing here talks to a cluster except through the injected ``Runner``.

Readiness waits use kubectl (``rollout status``, ``wait --for=condition=...``, ``wait
--for=jsonpath=...``) rather than the Python KubeClient: they are the commands an operator
would run to check the same thing, they print exactly in the dry run, they need no client
state across a 5-minute wait, and provisioning stays usable before (and independent of) the
Kubernetes driver. Only "every Gatekeeper pod enforces every constraint" is a Python poll over
``kubectl get constraints -o json``, because ``kubectl wait`` rejects a JSONPath matching more
than one value (``status.byPod[*]``).

``kind create cluster`` runs without ``--wait``: kind's wait is for the control-plane node to
be Ready, which with ``disableDefaultCNI`` cannot happen before Cilium is installed -- it would
burn the whole duration and print a warning. Nodes are waited for after Cilium instead.

The probe agent runs in a stock Python image; a blueprint whose trusted-registry constraint
refuses Docker Hub (the reference one trusts only ``registry.platform.example``) gets it under
an allowed name with ``--agent-image``: pulled, re-tagged and ``kind load``-ed into every node,
where pods find it without a registry (the driver's pods use ``imagePullPolicy: IfNotPresent``).

``ensure_cluster`` reuses a cluster when the hash recorded on it (annotations on namespace
``kube-system``; see ``state.py``) equals the hash of the kind config + every pinned version +
the Helm values; a different hash is an error that says how to recreate, never a silent reuse
of a cluster built from other pins. It holds a file lock while it looks and provisions, so
pytest-xdist workers share one cluster: one provisions, the others wait and reuse.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import shlex
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gauntlet.blueprint import load_blueprint
from gauntlet.targets.kind import manifests, state
from gauntlet.targets.kind.config import KindCluster as KindConfig
from gauntlet.targets.kind.config import (
    KindConfigError,
    check_for_cilium,
    config_hash,
    load_kind_config,
)
from gauntlet.targets.kind.runner import (
    CommandResult,
    KindProvisionError,
    Progress,
    Runner,
    SubprocessRunner,
    container_runtime,
    require_tools,
    stderr_progress,
)
from gauntlet.targets.kind.steps import Deploy, Poll, Run, Step, WriteFile, render_steps
from gauntlet.targets.kind.values import cilium_values, gatekeeper_values
from gauntlet.targets.kind.versions import (
    CILIUM_REPO,
    CILIUM_VERSION,
    GATEKEEPER_REPO,
    GATEKEEPER_VERSION,
    KIND_VERSION,
    KUBERNETES_VERSION,
    node_image,
)

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_NAME = "gauntlet"
DEFAULT_CONFIG = Path("kind-configs") / "cilium-3node.yaml"
FIELD_MANAGER = "gauntlet"
"""Server-side apply field manager for everything ``up`` applies."""
GATEKEEPER_NAMESPACE = "gatekeeper-system"
WITHOUT_WORKLOADS = "-without-workloads"


class ClusterMismatch(KindProvisionError):
    """A cluster of that name exists but was not provisioned from this config and these pins."""


def default_kind_config() -> Path:
    """``kind-configs/cilium-3node.yaml`` of the working directory, else of this checkout."""
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else REPO_ROOT / DEFAULT_CONFIG


@dataclass(frozen=True)
class KindOptions:
    """What ``gauntlet up --target kind`` was asked for."""

    name: str = DEFAULT_NAME
    """kind cluster name; the kubeconfig context is ``kind-<name>``."""
    kind_config: Path = field(default_factory=default_kind_config)
    """kind ``v1alpha4`` Cluster config; must disable kindnet and kube-proxy (Cilium does both)."""
    kubernetes_version: str = KUBERNETES_VERSION
    """Kubernetes version of the node image (pinned by digest when ``versions.py`` knows it)."""
    cilium_version: str = CILIUM_VERSION
    """Cilium Helm chart version."""
    gatekeeper_version: str = GATEKEEPER_VERSION
    """Gatekeeper Helm chart version."""
    platform: Path | None = None
    """Blueprint directory (None: the reference blueprint)."""
    dry_run: bool = False
    """Print the plan, run nothing (no tools needed)."""
    recreate: bool = False
    """Delete an existing cluster whose hash differs instead of refusing."""
    state_dir: Path | None = None
    """Bookkeeping directory (None: ``state.state_dir()``)."""
    agent_image: str | None = None
    """Name the probe agent's image gets on the nodes (e.g. under the registry the blueprint's
    trusted-registry constraint allows): the stock image is pulled, tagged with this name and
    loaded into the nodes with ``kind load docker-image``, so no registry is needed."""


@dataclass(frozen=True)
class KindCluster:
    """A provisioned (or reused) kind cluster."""

    name: str
    context: str
    created: bool
    """True when this call created it; False when an existing cluster was reused."""
    config_hash: str


Deployer = Callable[[KindCluster, Path], None]
"""Deploys the blueprint's workloads (``KubernetesTarget.deploy``); injected by the caller."""


@dataclass(frozen=True)
class Plan:
    """The ordered steps of ``up`` for one cluster, plus what they were derived from."""

    options: KindOptions
    name: str
    context: str
    kind_config: Path
    node_image: str
    image_pinned: bool
    versions: dict[str, str]
    cluster_hash: str
    blueprint_hash: str
    state_dir: Path
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    def phase(self, *phases: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.phase in phases)

    def render(self) -> str:
        """The plan as a commented shell script (``--dry-run``)."""
        v = self.versions
        head = [
            "#!/bin/sh",
            f"# gauntlet up --target kind: plan for kind cluster '{self.name}' "
            f"(context {self.context}), {len(self.steps)} steps",
            f"# kind config: {self.kind_config}",
            f"# pins: kind {KIND_VERSION}, node image {self.node_image}, "
            f"Cilium {v['cilium']}, Gatekeeper {v['gatekeeper']}",
            f"# reuse: {state.CLUSTER_HASH_ANNOTATION}={self.cluster_hash}, "
            f"{state.BLUEPRINT_HASH_ANNOTATION}={self.blueprint_hash} on namespace kube-system",
            *(f"# note: {n}" for n in self.notes),
            "set -eu",
            f"mkdir -p {shlex.quote(str(self.state_dir / self.name))}",
        ]
        return "\n".join(head) + "\n\n" + render_steps(self.steps) + "\n"


def _kubectl(context: str, *args: str) -> tuple[str, ...]:
    return ("kubectl", "--context", context, *args)


def _rollout(context: str, namespace: str, what: str, timeout: str) -> Run:
    return Run(
        f"wait for {what} in {namespace} to be rolled out",
        _kubectl(context, "-n", namespace, "rollout", "status", what, f"--timeout={timeout}"),
    )


def _dump(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def load_config(path: Path) -> KindConfig:
    """The kind config, validated strictly and for Cilium; KindConfigError names file/field."""
    config, _ = load_kind_config(path)
    if problems := check_for_cilium(config, path):
        raise KindConfigError("\n".join(problems))
    return config


def plan(options: KindOptions, *, deploy: bool = True) -> Plan:
    """Every step of ``up`` in order. Reads the kind config and the blueprint (raising
    KindConfigError / BlueprintError), touches nothing else. ``deploy=False`` leaves the
    workloads to whoever deploys them later and records that in the blueprint hash."""
    from gauntlet.plugin import REFERENCE_PLATFORM

    name, context = options.name, f"kind-{options.name}"
    config_path = options.kind_config.resolve()
    config = load_config(config_path)
    platform = (options.platform or REFERENCE_PLATFORM).resolve()
    bp = manifests.split(load_blueprint(platform))
    root = (options.state_dir or state.state_dir()) / name
    image, pinned = node_image(options.kubernetes_version)
    cvalues = _dump(cilium_values(name, config))
    gvalues = _dump(gatekeeper_values(config))
    versions = {
        "node_image": image,
        "kubernetes": options.kubernetes_version,
        "cilium": options.cilium_version,
        "gatekeeper": options.gatekeeper_version,
        "helm_values": hashlib.sha256((cvalues + gvalues).encode()).hexdigest()[:12],
    }
    chash = config_hash(config, versions)
    bhash = bp.digest() + ("" if deploy else WITHOUT_WORKLOADS)
    notes: list[str] = []
    if not pinned:
        notes.append(
            f"{image} is not pinned by digest in versions.py; kind supports node images only "
            f"with the kind release they were built for (kind {KIND_VERSION} release notes)"
        )
    if bp.unserved:
        notes.append("not applied (no such API on this cluster): " + ", ".join(bp.unserved))
    if bp.installer_owned:
        notes.append("left to the cluster installer: " + ", ".join(bp.installer_owned))
    if not deploy:
        notes.append("workloads are not deployed by this plan (no Kubernetes driver given)")

    ks = "kube-system"
    steps: list[Step] = [
        Run(
            "create the kind cluster (Cilium-ready: no kindnet, no kube-proxy)",
            (
                "kind",
                "create",
                "cluster",
                "--name",
                name,
                "--config",
                str(config_path),
                "--image",
                image,
            ),
            timeout_s=900,
        ),
        Run(
            "add the Cilium Helm repository",
            ("helm", "repo", "add", CILIUM_REPO.name, CILIUM_REPO.url, "--force-update"),
        ),
        Run(
            "add the Gatekeeper Helm repository",
            ("helm", "repo", "add", GATEKEEPER_REPO.name, GATEKEEPER_REPO.url, "--force-update"),
        ),
        Run(
            "refresh both chart indexes",
            ("helm", "repo", "update", CILIUM_REPO.name, GATEKEEPER_REPO.name),
        ),
        WriteFile("Cilium Helm values", root / "cilium-values.yaml", cvalues),
        Run(
            f"install Cilium {options.cilium_version}",
            (
                "helm",
                "upgrade",
                "--install",
                "cilium",
                f"{CILIUM_REPO.name}/cilium",
                "--version",
                options.cilium_version,
                "--namespace",
                ks,
                "--kube-context",
                context,
                "--values",
                str(root / "cilium-values.yaml"),
            ),
        ),
        _rollout(context, ks, "daemonset/cilium", "10m"),
        _rollout(context, ks, "daemonset/cilium-envoy", "5m"),
        _rollout(context, ks, "deployment/cilium-operator", "5m"),
        Run(
            "wait for every node to be Ready (CNI up)",
            _kubectl(context, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=5m"),
        ),
        Run(
            "wait for Cilium's policy CRDs to be Established",
            _kubectl(
                context,
                "wait",
                "--for=condition=Established",
                "crd/ciliumnetworkpolicies.cilium.io",
                "crd/ciliumclusterwidenetworkpolicies.cilium.io",
                "--timeout=2m",
            ),
        ),
        _rollout(context, ks, "deployment/coredns", "5m"),
        _rollout(context, ks, "deployment/hubble-relay", "5m"),
        WriteFile("Gatekeeper Helm values", root / "gatekeeper-values.yaml", gvalues),
        Run(
            f"install Gatekeeper {options.gatekeeper_version} (its post-install job probes "
            "the webhook)",
            (
                "helm",
                "upgrade",
                "--install",
                "gatekeeper",
                f"{GATEKEEPER_REPO.name}/gatekeeper",
                "--version",
                options.gatekeeper_version,
                "--namespace",
                GATEKEEPER_NAMESPACE,
                "--create-namespace",
                "--kube-context",
                context,
                "--values",
                str(root / "gatekeeper-values.yaml"),
                "--wait",
                "--timeout",
                "10m",
            ),
            timeout_s=900,
        ),
        Run(
            "wait for the ConstraintTemplate CRD to be Established",
            _kubectl(
                context,
                "wait",
                "--for=condition=Established",
                "crd/constrainttemplates.templates.gatekeeper.sh",
                "--timeout=2m",
            ),
        ),
        _rollout(context, GATEKEEPER_NAMESPACE, "deployment/gatekeeper-controller-manager", "5m"),
        _rollout(context, GATEKEEPER_NAMESPACE, "deployment/gatekeeper-audit", "5m"),
        Run(
            "wait for the Gatekeeper webhook Service to have a ready endpoint",
            _kubectl(
                context,
                "-n",
                GATEKEEPER_NAMESPACE,
                "wait",
                "--for=jsonpath={.endpoints[0].conditions.ready}=true",
                "endpointslice",
                "-l",
                "kubernetes.io/service-name=gatekeeper-webhook-service",
                "--timeout=2m",
            ),
        ),
    ]
    steps += _agent_image_steps(name, options.agent_image)
    steps += _blueprint_steps(context, root, platform, bp, deploy=deploy)
    steps.append(
        Run(
            "record the reuse hashes on the cluster",
            _kubectl(
                context,
                "annotate",
                "namespace",
                ks,
                "--overwrite",
                f"{state.CLUSTER_HASH_ANNOTATION}={chash}",
                f"{state.BLUEPRINT_HASH_ANNOTATION}={bhash}",
            ),
            phase="record",
        )
    )
    return Plan(
        options=options,
        name=name,
        context=context,
        kind_config=config_path,
        node_image=image,
        image_pinned=pinned,
        versions=versions,
        cluster_hash=chash,
        blueprint_hash=bhash,
        state_dir=root.parent,
        steps=tuple(steps),
        notes=tuple(notes),
    )


def agent_source_image() -> str | None:
    """The stock image the Kubernetes driver runs the agent in (None: no driver installed)."""
    try:
        workloads = importlib.import_module("gauntlet.targets.kubernetes.workloads")
    except ImportError:
        return None
    return str(workloads.AGENT_IMAGE_DEFAULT)


def _agent_image_steps(name: str, agent_image: str | None) -> list[Step]:
    source = agent_source_image()
    if not agent_image or source is None:
        return []
    runtime = container_runtime()
    steps: list[Step] = [
        Run(f"pull the agent image {source}", (runtime, "pull", source), phase="agent")
    ]
    if agent_image != source:
        steps.append(
            Run(
                f"name it {agent_image}",
                (runtime, "tag", source, agent_image),
                phase="agent",
                timeout_s=60,
            )
        )
    steps.append(
        Run(
            "load it into every node (no registry needed)",
            ("kind", "load", "docker-image", agent_image, "--name", name),
            phase="agent",
        )
    )
    return steps


def _apply(context: str, path: Path, what: str) -> Run:
    return Run(
        f"server-side apply {what}",
        _kubectl(
            context, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", str(path)
        ),
        phase="blueprint",
    )


def _blueprint_steps(
    context: str, root: Path, platform: Path, bp: manifests.SplitBlueprint, *, deploy: bool
) -> list[Step]:
    steps: list[Step] = []
    if bp.objects:
        path = root / "blueprint-objects.yaml"
        steps += [
            WriteFile(
                f"blueprint objects ({len(bp.objects)}: namespaces, RBAC, quotas, "
                "network policies, services)",
                path,
                manifests.to_yaml(bp.objects),
                phase="blueprint",
            ),
            _apply(context, path, "the blueprint objects"),
        ]
    if bp.templates:
        path = root / "constraint-templates.yaml"
        crds = [f"crd/{k.lower()}.constraints.gatekeeper.sh" for k in bp.constraint_kinds]
        steps += [
            WriteFile(
                f"Gatekeeper ConstraintTemplates ({len(bp.templates)})",
                path,
                manifests.to_yaml(bp.templates),
                phase="blueprint",
            ),
            _apply(context, path, "the ConstraintTemplates"),
            Run(
                "wait for every ConstraintTemplate to report status.created",
                _kubectl(
                    context,
                    "wait",
                    "--for=jsonpath={.status.created}=true",
                    *manifests.resource_names(bp.templates, "constrainttemplate"),
                    "--timeout=3m",
                ),
                phase="blueprint",
            ),
            Run(
                "wait for the constraint CRDs to be Established",
                _kubectl(context, "wait", "--for=condition=Established", *crds, "--timeout=2m"),
                phase="blueprint",
            ),
        ]
    if bp.constraints:
        path = root / "constraints.yaml"
        expected = [f"{c['kind']}/{c['metadata']['name']}" for c in bp.constraints]
        steps += [
            WriteFile(
                f"Gatekeeper constraints ({len(bp.constraints)})",
                path,
                manifests.to_yaml(bp.constraints),
                phase="blueprint",
            ),
            _apply(context, path, "the constraints"),
            Poll(
                "wait for every Gatekeeper pod to enforce every constraint",
                _kubectl(context, "get", "constraints", "-o", "json"),
                condition="every constraint's status.byPod[].enforced is true",
                check=manifests.constraints_enforced(expected),
            ),
        ]
    if deploy:
        steps.append(
            Deploy(
                f"deploy the blueprint's {len(bp.workloads)} workloads and the probe agents "
                "(KubernetesTarget.deploy)",
                platform,
            )
        )
    return steps


# -- executing a plan -------------------------------------------------------------------------


@dataclass
class _Executor:
    runner: Runner
    progress: Progress
    deployer: Deployer | None
    cluster: KindCluster
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def run(self, plan_: Plan, steps: Sequence[Step]) -> None:
        total = len(steps)
        for index, step in enumerate(steps, 1):
            self.progress(f"[{index}/{total}] {step.title}")
            started = self.clock()
            self._one(plan_, step, f"step {index}/{total} ({step.title})")
            elapsed = self.clock() - started
            if elapsed >= 10:
                self.progress(f"  done in {elapsed:.0f}s")

    def _one(self, plan_: Plan, step: Step, where: str) -> None:
        if isinstance(step, WriteFile):
            step.path.parent.mkdir(parents=True, exist_ok=True)
            step.path.write_text(step.content, encoding="utf-8")
        elif isinstance(step, Run):
            result = self.runner(step.argv, timeout_s=step.timeout_s)
            if not result.ok:
                raise KindProvisionError(_failed(plan_, where, result))
        elif isinstance(step, Poll):
            self._poll(plan_, step, where)
        elif self.deployer is not None:
            try:
                self.deployer(self.cluster, step.platform)
            except Exception as exc:
                raise KindProvisionError(f"{where} failed: {exc}\n{_leftover_hint(plan_)}") from exc

    def _poll(self, plan_: Plan, step: Poll, where: str) -> None:
        deadline = self.clock() + step.timeout_s
        reason = "no answer yet"
        while True:
            result = self.runner(step.argv, timeout_s=60)
            if result.ok:
                missing = step.check(result.stdout)
                if missing is None:
                    return
                reason = missing
            else:
                reason = f"kubectl failed (exit {result.returncode}): {result.stderr.strip()}"
            if self.clock() >= deadline:
                raise KindProvisionError(
                    f"{where} timed out after {step.timeout_s:.0f}s; still waiting for: "
                    f"{reason}\n  polled: {shlex.join(step.argv)}\n{_leftover_hint(plan_)}"
                )
            self.sleep(step.interval_s)


def _leftover_hint(plan_: Plan) -> str:
    return (
        f"The cluster is left as it is for inspection (kubectl --context {plan_.context} ...). "
        f"Remove it with `gauntlet down --target kind --name {plan_.name}`, or start over "
        "with `gauntlet up --target kind --recreate`."
    )


def _failed(plan_: Plan, where: str, result: CommandResult) -> str:
    tail = result.stderr_tail()
    return (
        f"{where} failed (exit {result.returncode}):\n  {shlex.join(result.argv)}\n"
        + (f"{tail}\n" if tail else "")
        + _leftover_hint(plan_)
    )


# -- the entry points -------------------------------------------------------------------------


def required_tools() -> list[str]:
    return ["kind", "kubectl", "helm", container_runtime()]


def list_clusters(runner: Runner) -> list[str]:
    result = runner(("kind", "get", "clusters"), timeout_s=60)
    if not result.ok:
        raise KindProvisionError(
            f"`kind get clusters` failed (exit {result.returncode}); is "
            f"{container_runtime()} running?\n{result.stderr_tail()}"
        )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def recorded_hashes(runner: Runner, context: str) -> dict[str, str]:
    """The reuse annotations on namespace kube-system ({} when absent)."""
    result = runner(
        _kubectl(context, "get", "namespace", "kube-system", "-o", "json"), timeout_s=60
    )
    if not result.ok:
        raise KindProvisionError(
            f"the kind cluster exists but its API server does not answer (context {context}):"
            f"\n{result.stderr_tail()}\nRecreate it with `gauntlet up --target kind "
            "--recreate`, or remove it with `gauntlet down --target kind`."
        )
    try:
        annotations = json.loads(result.stdout).get("metadata", {}).get("annotations") or {}
    except json.JSONDecodeError:
        annotations = {}
    return {str(k): str(v) for k, v in annotations.items()}


def _mismatch(plan_: Plan, recorded: str | None, previous: state.KindState | None) -> str:
    name = plan_.name
    if recorded is None:
        why = (
            f"was not (fully) provisioned by gauntlet: namespace kube-system has no "
            f"{state.CLUSTER_HASH_ANNOTATION} annotation (an earlier `up` may have failed "
            "half-way, or the cluster was created by hand)"
        )
    else:
        why = (
            f"was provisioned from a different kind config or versions (hash {recorded}, "
            f"this run needs {plan_.cluster_hash})"
        )
        if previous is not None:
            changed = [
                f"{key}: {previous.versions.get(key, '?')} -> {value}"
                for key, value in plan_.versions.items()
                if previous.versions.get(key) != value
            ]
            if previous.kind_config != str(plan_.kind_config):
                changed.insert(0, f"kind config: {previous.kind_config} -> {plan_.kind_config}")
            if changed:
                why += "; changed: " + ", ".join(changed)
    return (
        f"kind cluster '{name}' exists but {why}. Recreate it with `gauntlet up --target kind "
        f"--name {name} --recreate`, or remove it with `gauntlet down --target kind --name "
        f"{name}`."
    )


def available_deployer(agent_image: str | None = None) -> Deployer | None:
    """``driver_deployer`` when the Kubernetes driver is installed, else None."""
    try:
        found = importlib.util.find_spec("gauntlet.targets.kubernetes.driver") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        return None

    def deploy(cluster: KindCluster, platform: Path) -> None:
        driver_deployer(cluster, platform, agent_image=agent_image)

    return deploy


def driver_deployer(
    cluster: KindCluster, platform: Path, *, agent_image: str | None = None
) -> None:
    """Deploy the blueprint (workloads + probe agents) with the Kubernetes driver, imported
    only when the step runs so provisioning never depends on it at import time. Not through
    ``driver.connect("kind")``: that calls ``ensure_cluster``, whose lock this step runs under."""
    from gauntlet.blueprint.probes import with_outsider

    client = importlib.import_module("gauntlet.targets.kubernetes.client")
    driver = importlib.import_module("gauntlet.targets.kubernetes.driver")
    target = driver.KubernetesTarget(
        client.KubeClient.from_kubeconfig(context=cluster.context),
        name="kind",
        # Gauntlet created this cluster: chaos and load may disrupt it.
        allowed_for_disruption=True,
        agent_image=agent_image,
    )
    target.deploy(with_outsider(load_blueprint(platform)))


def ensure_cluster(
    options: KindOptions,
    *,
    runner: Runner | None = None,
    deployer: Deployer | None = None,
    progress: Progress = stderr_progress,
    which: Callable[[str], str | None] = shutil.which,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> KindCluster:
    """A ready cluster for ``options``: reused when its recorded hash matches, else created.

    With ``options.dry_run`` the plan is printed to stdout and nothing runs."""
    plan_ = plan(options, deploy=deployer is not None)
    if options.dry_run:
        print(plan_.render(), end="")
        return KindCluster(plan_.name, plan_.context, False, plan_.cluster_hash)
    require_tools(required_tools(), which)
    run = runner or SubprocessRunner(progress)
    root = plan_.state_dir
    with state.cluster_lock(root, plan_.name, progress):
        reused = KindCluster(plan_.name, plan_.context, False, plan_.cluster_hash)
        if plan_.name in list_clusters(run):
            hashes = recorded_hashes(run, plan_.context)
            recorded = hashes.get(state.CLUSTER_HASH_ANNOTATION)
            if recorded == plan_.cluster_hash:
                if plan_.phase("agent"):
                    # Not part of the hash (a later `run` need not repeat it); idempotent.
                    _Executor(run, progress, deployer, reused, sleep, clock).run(
                        plan_, plan_.phase("agent")
                    )
                if not _blueprint_current(hashes.get(state.BLUEPRINT_HASH_ANNOTATION), plan_):
                    progress(
                        f"reusing kind cluster '{plan_.name}'; the blueprint changed: "
                        "applying it again"
                    )
                    _Executor(run, progress, deployer, reused, sleep, clock).run(
                        plan_, plan_.phase("blueprint", "record")
                    )
                    _record(plan_)
                else:
                    progress(f"reusing kind cluster '{plan_.name}' (hash {plan_.cluster_hash})")
                return reused
            if not options.recreate:
                raise ClusterMismatch(
                    _mismatch(plan_, recorded, state.read_state(root, plan_.name))
                )
            progress(f"--recreate: deleting kind cluster '{plan_.name}'")
            _delete(run, plan_.name)
        created = KindCluster(plan_.name, plan_.context, True, plan_.cluster_hash)
        _Executor(run, progress, deployer, created, sleep, clock).run(plan_, plan_.steps)
        _record(plan_)
        return created


def _blueprint_current(recorded: str | None, plan_: Plan) -> bool:
    """The blueprint on the cluster is this plan's; a plan that leaves workloads to someone
    else is also satisfied by a cluster where ``up`` deployed them."""
    full = plan_.blueprint_hash.removesuffix(WITHOUT_WORKLOADS)
    return recorded in (plan_.blueprint_hash, full)


def _record(plan_: Plan) -> None:
    state.write_state(
        plan_.state_dir,
        state.KindState(
            name=plan_.name,
            context=plan_.context,
            kind_config=str(plan_.kind_config),
            cluster_hash=plan_.cluster_hash,
            blueprint_hash=plan_.blueprint_hash,
            versions=plan_.versions,
        ),
    )


def _delete(runner: Runner, name: str) -> None:
    result = runner(("kind", "delete", "cluster", "--name", name), timeout_s=300)
    if not result.ok:
        raise KindProvisionError(
            f"`kind delete cluster --name {name}` failed (exit {result.returncode}):\n"
            f"{result.stderr_tail()}"
        )


def down(
    name: str | None = None,
    *,
    runner: Runner | None = None,
    progress: Progress = stderr_progress,
    which: Callable[[str], str | None] = shutil.which,
    state_root: Path | None = None,
) -> list[str]:
    """Delete kind cluster ``name`` (default: every cluster with a state file, and
    ``gauntlet``) if it exists; returns the names deleted. Waits for a provisioning run of
    the same cluster to finish first (its lock), so it never deletes half-way through."""
    require_tools(["kind", container_runtime()], which)
    run = runner or SubprocessRunner(progress)
    root = state_root or state.state_dir()
    names = [name] if name else sorted({*state.recorded_names(root), DEFAULT_NAME})
    existing = set(list_clusters(run))
    removed = []
    for cluster in names:
        if cluster in existing:
            with state.cluster_lock(root, cluster, progress):
                progress(f"deleting kind cluster '{cluster}'")
                _delete(run, cluster)
            removed.append(cluster)
        state.state_file(root, cluster).unlink(missing_ok=True)
        shutil.rmtree(root / cluster, ignore_errors=True)
    return removed
