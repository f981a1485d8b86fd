"""kind provisioning without a cluster: the plan's steps and values, reuse by hash, the lock
shared by concurrent callers, missing tools, failures, and ``down`` -- all through a fake
kind/helm/kubectl (``kindfakes.FakeTools``)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.kind import state, versions
from gauntlet.targets.kind.config import KindConfigError, load_kind_config
from gauntlet.targets.kind.provision import (
    ClusterMismatch,
    KindCluster,
    KindOptions,
    Plan,
    down,
    ensure_cluster,
    plan,
)
from gauntlet.targets.kind.runner import KindProvisionError, SubprocessRunner, ToolsMissing
from gauntlet.targets.kind.steps import Deploy, Poll, Run, WriteFile
from kindfakes import FakeTools

CONFIGS = Path(__file__).resolve().parents[1] / "kind-configs"
ALL_TOOLS = "/usr/bin/{}".format


@pytest.fixture
def options(tmp_path: Path) -> KindOptions:
    return KindOptions(state_dir=tmp_path / "state")


def _argv_index(p: Plan, *fragment: str) -> int:
    for i, step in enumerate(p.steps):
        if isinstance(step, Run | Poll) and all(f in step.argv for f in fragment):
            return i
    raise AssertionError(f"no step with {fragment}")


def _values(p: Plan, filename: str) -> dict[str, object]:
    [step] = [s for s in p.steps if isinstance(s, WriteFile) and s.path.name == filename]
    data = yaml.safe_load(step.content)
    assert isinstance(data, dict)
    return data


def _quiet(_: str) -> None:
    pass


def _ensure(options: KindOptions, tools: FakeTools, **kw: object) -> KindCluster:
    return ensure_cluster(
        options,
        runner=tools,
        progress=_quiet,
        which=ALL_TOOLS,
        sleep=lambda _: None,
        **kw,  # type: ignore[arg-type]
    )


# -- the plan ---------------------------------------------------------------------------------


def test_kind_create_uses_the_cilium_ready_config_and_the_pinned_image(
    options: KindOptions,
) -> None:
    p = plan(options)
    first = p.steps[0]
    assert isinstance(first, Run)
    assert first.argv[:3] == ("kind", "create", "cluster")
    assert first.argv[first.argv.index("--name") + 1] == "gauntlet"
    config_path = Path(first.argv[first.argv.index("--config") + 1])
    assert config_path == CONFIGS / "cilium-3node.yaml"
    config, _ = load_kind_config(config_path)
    assert config.networking.disable_default_cni
    assert config.networking.kube_proxy_mode == "none"
    image = first.argv[first.argv.index("--image") + 1]
    assert image == versions.NODE_IMAGES[versions.KUBERNETES_VERSION]
    assert image.startswith(f"kindest/node:{versions.KUBERNETES_VERSION}@sha256:")
    assert len(image.split("@sha256:")[1]) == 64
    # kind's --wait waits for a Ready control plane, impossible before the CNI exists.
    assert "--wait" not in first.argv
    assert p.context == "kind-gauntlet"


def test_cilium_values_replace_kube_proxy_and_enable_hubble_and_l7(options: KindOptions) -> None:
    p = plan(options)
    install = p.steps[_argv_index(p, "upgrade", "cilium")]
    assert isinstance(install, Run)
    argv = install.argv
    assert argv[:5] == ("helm", "upgrade", "--install", "cilium", "cilium/cilium")
    assert argv[argv.index("--version") + 1] == versions.CILIUM_VERSION
    assert argv[argv.index("--namespace") + 1] == "kube-system"
    assert argv[argv.index("--kube-context") + 1] == "kind-gauntlet"
    values = _values(p, "cilium-values.yaml")
    assert Path(argv[argv.index("--values") + 1]).name == "cilium-values.yaml"
    assert values["kubeProxyReplacement"] is True
    assert values["k8sServiceHost"] == "gauntlet-control-plane"
    assert values["k8sServicePort"] == 6443
    assert values["l7Proxy"] is True
    assert values["hubble"] == {"enabled": True, "relay": {"enabled": True}}
    assert values["ipam"] == {"mode": "kubernetes"}
    assert values["operator"] == {"replicas": 2}


def test_gatekeeper_chart_pinned_and_waited_for(options: KindOptions) -> None:
    p = plan(options)
    install = p.steps[_argv_index(p, "upgrade", "gatekeeper")]
    assert isinstance(install, Run)
    argv = install.argv
    assert "gatekeeper/gatekeeper" in argv
    assert argv[argv.index("--version") + 1] == versions.GATEKEEPER_VERSION
    assert argv[argv.index("--namespace") + 1] == "gatekeeper-system"
    assert "--wait" in argv
    assert _values(p, "gatekeeper-values.yaml")["replicas"] == 2
    repos = {
        s.argv[3]: s.argv[4]
        for s in p.steps
        if isinstance(s, Run) and s.argv[1:3] == ("repo", "add")
    }
    assert repos == {
        "cilium": versions.CILIUM_REPO.url,
        "gatekeeper": versions.GATEKEEPER_REPO.url,
    }


def test_readiness_waits_come_in_dependency_order(options: KindOptions) -> None:
    p = plan(options)
    order = [
        _argv_index(p, "kind", "create"),
        _argv_index(p, "upgrade", "cilium"),
        _argv_index(p, "rollout", "daemonset/cilium"),
        _argv_index(p, "rollout", "daemonset/cilium-envoy"),
        _argv_index(p, "rollout", "deployment/cilium-operator"),
        _argv_index(p, "--for=condition=Ready", "nodes"),
        _argv_index(p, "crd/ciliumnetworkpolicies.cilium.io"),
        _argv_index(p, "rollout", "deployment/hubble-relay"),
        _argv_index(p, "upgrade", "gatekeeper"),
        _argv_index(p, "crd/constrainttemplates.templates.gatekeeper.sh"),
        _argv_index(p, "rollout", "deployment/gatekeeper-controller-manager"),
        _argv_index(p, "rollout", "deployment/gatekeeper-audit"),
        _argv_index(p, "--for=jsonpath={.endpoints[0].conditions.ready}=true"),
        _argv_index(p, "--for=jsonpath={.status.created}=true"),
        _argv_index(p, "crd/k8sgauntletnoprivileged.constraints.gatekeeper.sh"),
        _argv_index(p, "get", "constraints"),
        _argv_index(p, "annotate", "namespace", "kube-system"),
    ]
    assert order == sorted(order)
    deploy = next(i for i, s in enumerate(p.steps) if isinstance(s, Deploy))
    assert order[-2] < deploy < order[-1]


def test_policies_are_applied_server_side_templates_before_constraints(
    options: KindOptions,
) -> None:
    p = plan(options)
    applies = [s for s in p.steps if isinstance(s, Run) and "apply" in s.argv]
    assert [Path(s.argv[-1]).name for s in applies] == [
        "blueprint-objects.yaml",
        "constraint-templates.yaml",
        "constraints.yaml",
    ]
    assert all("--server-side" in s.argv and "--field-manager=gauntlet" in s.argv for s in applies)
    files = {
        s.path.name: list(yaml.safe_load_all(s.content))
        for s in p.steps
        if isinstance(s, WriteFile)
    }
    objects = files["blueprint-objects.yaml"]
    assert objects[0]["kind"] == "Namespace"
    kinds = {d["kind"] for d in objects}
    assert "Deployment" not in kinds and "PrometheusRule" not in kinds
    # kind's own kube-dns Service belongs to kubeadm: not re-applied.
    assert not any(
        d["kind"] == "Service" and d["metadata"].get("namespace") == "kube-system" for d in objects
    )
    assert {d["kind"] for d in files["constraint-templates.yaml"]} == {"ConstraintTemplate"}
    assert len(files["constraints.yaml"]) == 7
    assert any("PrometheusRule" in n for n in p.notes)
    created = p.steps[_argv_index(p, "--for=jsonpath={.status.created}=true")]
    assert isinstance(created, Run)
    assert "constrainttemplate/k8sgauntletnoprivileged" in created.argv


def test_every_cluster_command_names_its_context(options: KindOptions) -> None:
    for step in plan(options).steps:
        if isinstance(step, Run | Poll) and step.argv[0] == "kubectl":
            assert step.argv[1:3] == ("--context", "kind-gauntlet")
        if isinstance(step, Run) and step.argv[:2] == ("helm", "upgrade"):
            assert "--kube-context" in step.argv


def test_single_node_and_ha_control_plane_variants(tmp_path: Path) -> None:
    single = plan(
        KindOptions(name="s", kind_config=CONFIGS / "cilium-single.yaml", state_dir=tmp_path)
    )
    assert _values(single, "cilium-values.yaml")["operator"] == {"replicas": 1}
    assert _values(single, "gatekeeper-values.yaml")["replicas"] == 1
    ha = tmp_path / "ha.yaml"
    ha.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
        "networking: {disableDefaultCNI: true, kubeProxyMode: none}\n"
        "nodes: [{role: control-plane}, {role: control-plane}, {role: worker}]\n"
    )
    p = plan(KindOptions(name="h", kind_config=ha, state_dir=tmp_path))
    assert _values(p, "cilium-values.yaml")["k8sServiceHost"] == "h-external-load-balancer"


def test_a_config_with_kindnet_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "plain.yaml"
    bad.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    with pytest.raises(KindConfigError, match=r"plain.yaml: networking.disableDefaultCNI"):
        plan(KindOptions(kind_config=bad, state_dir=tmp_path))


def test_versions_change_the_cluster_hash_not_the_blueprint_hash(options: KindOptions) -> None:
    base = plan(options)
    other = plan(KindOptions(state_dir=options.state_dir, cilium_version="1.19.6"))
    assert base.cluster_hash != other.cluster_hash
    assert base.blueprint_hash == other.blueprint_hash
    assert plan(options).cluster_hash == base.cluster_hash


def test_unpinned_kubernetes_version_uses_the_tag_and_says_so(options: KindOptions) -> None:
    p = plan(KindOptions(state_dir=options.state_dir, kubernetes_version="1.35.0"))
    assert p.node_image == "kindest/node:v1.35.0" and not p.image_pinned
    assert any("not pinned by digest" in n for n in p.notes)


def test_render_is_a_commented_shell_script(options: KindOptions) -> None:
    text = plan(options).render()
    assert text.startswith("#!/bin/sh\n")
    assert "\nkind create cluster --name gauntlet --config " in text
    assert "cat > " in text and "<<'EOF'\nkubeProxyReplacement: true\n" in text
    assert "# poll every 3s for up to 300s until every constraint's status.byPod[].enforced" in text


def test_tool_pins_for_ci() -> None:
    assert versions.tool_pins() == {
        "kind": versions.KIND_VERSION,
        "kubectl": versions.KUBECTL_VERSION,
        "helm": versions.HELM_VERSION,
    }


# -- ensure_cluster: create, reuse, mismatch ---------------------------------------------------


def test_creates_then_reuses_by_hash(options: KindOptions) -> None:
    tools = FakeTools()
    deployed: list[tuple[KindCluster, Path]] = []
    first = _ensure(options, tools, deployer=lambda c, p: deployed.append((c, p)))
    assert first.created and first.context == "kind-gauntlet"
    assert len(tools.commands("kind", "create")) == 1
    assert deployed == [(first, REFERENCE_PLATFORM.resolve())]
    recorded = tools.annotations["kind-gauntlet"]
    assert recorded[state.CLUSTER_HASH_ANNOTATION] == first.config_hash
    saved = state.read_state(options.state_dir or Path(), "gauntlet")
    assert saved is not None and saved.versions["cilium"] == versions.CILIUM_VERSION

    calls = len(tools.calls)
    again = _ensure(options, tools, deployer=lambda c, p: deployed.append((c, p)))
    assert not again.created and again.config_hash == first.config_hash
    assert len(deployed) == 1
    # Only the look-ups ran: kind get clusters + the annotations.
    assert [c[:2] for c in tools.calls[calls:]] == [("kind", "get"), ("kubectl", "--context")]


def test_different_pins_refuse_with_what_changed(options: KindOptions) -> None:
    tools = FakeTools()
    _ensure(options, tools)
    newer = KindOptions(state_dir=options.state_dir, cilium_version="1.19.6")
    with pytest.raises(ClusterMismatch) as err:
        _ensure(newer, tools)
    message = str(err.value)
    assert f"cilium: {versions.CILIUM_VERSION} -> 1.19.6" in message
    assert "--recreate" in message and "gauntlet down --target kind --name gauntlet" in message
    assert len(tools.commands("kind", "delete")) == 0


def test_recreate_deletes_and_provisions_again(options: KindOptions) -> None:
    tools = FakeTools()
    _ensure(options, tools)
    newer = KindOptions(state_dir=options.state_dir, cilium_version="1.19.6", recreate=True)
    cluster = _ensure(newer, tools)
    assert cluster.created
    assert len(tools.commands("kind", "delete")) == 1
    assert len(tools.commands("kind", "create")) == 2


def test_cluster_not_provisioned_by_gauntlet_is_not_reused(options: KindOptions) -> None:
    tools = FakeTools(clusters=["gauntlet"])
    with pytest.raises(ClusterMismatch, match=r"was not \(fully\) provisioned by gauntlet"):
        _ensure(options, tools)


def test_changed_blueprint_is_reapplied_on_the_reused_cluster(
    options: KindOptions, tmp_path: Path
) -> None:
    tools = FakeTools()
    _ensure(options, tools, deployer=lambda c, p: None)
    platform = tmp_path / "platform"
    platform.mkdir()
    (platform / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: solo}\n")
    calls = len(tools.calls)
    changed = KindOptions(state_dir=options.state_dir, platform=platform)
    cluster = _ensure(changed, tools, deployer=lambda c, p: None)
    assert not cluster.created
    later = tools.calls[calls:]
    assert not any(c[0] in ("helm",) or c[:2] == ("kind", "create") for c in later)
    assert any("apply" in c for c in later)
    assert (
        tools.annotations["kind-gauntlet"][state.BLUEPRINT_HASH_ANNOTATION]
        == plan(changed).blueprint_hash
    )


def test_without_a_driver_the_blueprint_hash_says_so(options: KindOptions) -> None:
    tools = FakeTools()
    _ensure(options, tools)
    assert tools.annotations["kind-gauntlet"][state.BLUEPRINT_HASH_ANNOTATION].endswith(
        "-without-workloads"
    )
    # A later run with the driver deploys the workloads on the same cluster.
    deployed: list[str] = []
    cluster = _ensure(options, tools, deployer=lambda c, p: deployed.append(c.name))
    assert not cluster.created and deployed == ["gauntlet"]


def test_a_cluster_with_workloads_satisfies_a_run_without_a_driver(options: KindOptions) -> None:
    tools = FakeTools()
    _ensure(options, tools, deployer=lambda c, p: None)
    calls = len(tools.calls)
    assert not _ensure(options, tools).created
    assert len(tools.calls) == calls + 2  # the two look-ups, nothing re-applied


MIRRORED = "registry.platform.example/library/python:3.12.8-slim-bookworm"


def test_agent_image_is_pulled_renamed_and_loaded_before_the_blueprint(
    options: KindOptions,
) -> None:
    from gauntlet.targets.kind.provision import agent_source_image

    source = agent_source_image()
    if source is None:
        pytest.skip("the Kubernetes driver is not installed")
    p = plan(KindOptions(state_dir=options.state_dir, agent_image=MIRRORED))
    agent = [s.argv for s in p.phase("agent") if isinstance(s, Run)]
    assert agent == [
        ("docker", "pull", source),
        ("docker", "tag", source, MIRRORED),
        ("kind", "load", "docker-image", MIRRORED, "--name", "gauntlet"),
    ]
    load = _argv_index(p, "kind", "load")
    assert _argv_index(p, "upgrade", "gatekeeper") < load < _argv_index(p, "apply")
    # Not part of the reuse hash: a later `gauntlet run` without the option reuses the cluster.
    assert p.cluster_hash == plan(options).cluster_hash
    assert plan(options).phase("agent") == ()


def test_reuse_reloads_the_agent_image(options: KindOptions) -> None:
    from gauntlet.targets.kind.provision import agent_source_image

    if agent_source_image() is None:
        pytest.skip("the Kubernetes driver is not installed")
    tools = FakeTools()
    _ensure(options, tools)
    assert tools.commands("kind", "load") == []
    again = _ensure(KindOptions(state_dir=options.state_dir, agent_image=MIRRORED), tools)
    assert not again.created
    assert tools.commands("kind", "load") == [
        ("kind", "load", "docker-image", MIRRORED, "--name", "gauntlet")
    ]


# -- failures ----------------------------------------------------------------------------------


def test_missing_tools_are_listed_with_install_docs(options: KindOptions) -> None:
    def which(tool: str) -> str | None:
        return None if tool in ("kind", "helm") else f"/usr/bin/{tool}"

    with pytest.raises(ToolsMissing) as err:
        ensure_cluster(options, runner=FakeTools(), progress=_quiet, which=which)
    message = str(err.value)
    assert "kind, helm" in message
    assert "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" in message
    assert "https://helm.sh/docs/intro/install/" in message
    assert "kubectl:" not in message


def test_dry_run_needs_no_tools(options: KindOptions, capsys: pytest.CaptureFixture[str]) -> None:
    dry = KindOptions(state_dir=options.state_dir, dry_run=True)
    cluster = ensure_cluster(dry, progress=_quiet, which=lambda _: None)
    assert not cluster.created
    assert "kind create cluster --name gauntlet" in capsys.readouterr().out
    assert not (options.state_dir or Path("/nonexistent")).exists()


def test_a_failing_step_names_itself_and_quotes_stderr(options: KindOptions) -> None:
    tools = FakeTools(fail=("upgrade --install cilium", 1, "Error: INSTALLATION FAILED: boom\n"))
    with pytest.raises(KindProvisionError) as err:
        _ensure(options, tools)
    message = str(err.value)
    assert "install Cilium" in message and "(exit 1)" in message
    assert "helm upgrade --install cilium cilium/cilium" in message
    assert "INSTALLATION FAILED: boom" in message
    assert "gauntlet down --target kind --name gauntlet" in message
    # Nothing after the failure ran, and nothing was recorded as reusable.
    assert not tools.commands("kubectl", "--context", "kind-gauntlet", "-n", "kube-system")
    assert "kind-gauntlet" not in tools.annotations


def test_constraints_never_enforced_time_out_with_the_laggards(options: KindOptions) -> None:
    tools = FakeTools(enforced=False)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(KindProvisionError) as err:
        ensure_cluster(
            options,
            runner=tools,
            progress=_quiet,
            which=ALL_TOOLS,
            sleep=sleep,
            clock=lambda: now[0],
        )
    message = str(err.value)
    assert "timed out after 300s" in message
    assert "not enforced on gatekeeper-controller-manager-1" in message
    assert "kubectl --context kind-gauntlet get constraints -o json" in message


def test_deployer_failure_is_a_provision_error(options: KindOptions) -> None:
    def broken(cluster: KindCluster, platform: Path) -> None:
        raise RuntimeError("agent image not allowed")

    with pytest.raises(KindProvisionError, match="agent image not allowed"):
        _ensure(options, FakeTools(), deployer=broken)


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_callers_provision_once(options: KindOptions) -> None:
    tools = FakeTools(create_delay_s=0.3)
    results: list[KindCluster] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(_ensure(options, tools))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(tools.commands("kind", "create")) == 1
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.config_hash for r in results}) == 1


def test_lock_waits_for_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from gauntlet.targets.kind.state import cluster_lock\n"
            "with cluster_lock(Path(sys.argv[1]), 'gauntlet'):\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(0.6)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    messages: list[str] = []
    started = time.monotonic()
    with state.cluster_lock(tmp_path, "gauntlet", messages.append):
        waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert waited >= 0.3
    assert messages and "being provisioned by another gauntlet process" in messages[0]


# -- down ----------------------------------------------------------------------------------------


def test_down_deletes_only_gauntlet_clusters(options: KindOptions) -> None:
    root = options.state_dir or Path()
    tools = FakeTools()
    _ensure(KindOptions(name="mine", state_dir=root), tools)
    tools.clusters.append("someone-elses")
    removed = down(runner=tools, progress=_quiet, which=ALL_TOOLS, state_root=root)
    assert removed == ["mine"]
    assert tools.clusters == ["someone-elses"]
    assert state.read_state(root, "mine") is None
    assert not (root / "mine").exists()
    assert down("absent", runner=tools, progress=_quiet, which=ALL_TOOLS, state_root=root) == []


def test_down_needs_kind(options: KindOptions) -> None:
    with pytest.raises(ToolsMissing, match="kind"):
        down("gauntlet", runner=FakeTools(), which=lambda _: None, state_root=options.state_dir)


# -- the real runner ------------------------------------------------------------------------------


def test_subprocess_runner_captures_failures_and_beats() -> None:
    lines: list[str] = []
    runner = SubprocessRunner(lines.append, heartbeat_s=0.1)
    result = runner(["sh", "-c", "sleep 0.35; echo oops >&2; exit 3"])
    assert result.returncode == 3 and "oops" in result.stderr_tail()
    assert any("still running" in line for line in lines)
    assert runner(["gauntlet-no-such-tool"]).returncode == 127
    assert runner(["sleep", "5"], timeout_s=0.2).returncode == 124
