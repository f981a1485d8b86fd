"""``gauntlet up/down --target kind`` through ``gauntlet.cli.main`` (no cluster, no tools):
the dry run prints the plan, errors exit with the documented codes, ``--target local`` is
unchanged; ``gauntlet run --target kind`` asks the driver for the very cluster ``up`` made."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import gauntlet.targets.kind.commands as commands
from gauntlet.cli import _pytest_args, build_parser, main
from gauntlet.exitcodes import ExitCode
from gauntlet.plugin import REFERENCE_PLATFORM, _kind_options
from gauntlet.targets.kind import versions
from gauntlet.targets.kind.provision import ClusterMismatch, KindCluster, KindOptions, plan
from gauntlet.targets.kind.runner import KindProvisionError

CONFIGS = Path(__file__).resolve().parents[1] / "kind-configs"
IMG = "registry.platform.example/library/python:3.12.8-slim-bookworm"

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No kind/helm/kubectl/docker on PATH, state in a temporary directory."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("GAUNTLET_KIND_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_dry_run_prints_the_plan_without_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--target", "kind", "--dry-run"]) == ExitCode.OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "#!/bin/sh"
    image = versions.NODE_IMAGES[versions.KUBERNETES_VERSION]
    assert (
        f"kind create cluster --name gauntlet --config {CONFIGS / 'cilium-3node.yaml'} "
        f"--image {image}"
    ) in lines
    assert (
        "helm upgrade --install cilium cilium/cilium --version "
        f"{versions.CILIUM_VERSION} --namespace kube-system --kube-context kind-gauntlet "
        "--values "
    ) in out
    assert "kubeProxyReplacement: true\nk8sServiceHost: gauntlet-control-plane\n" in out
    assert (
        "kubectl --context kind-gauntlet -n kube-system rollout status daemonset/cilium "
        "--timeout=10m"
    ) in lines
    assert (
        "kubectl --context kind-gauntlet wait --for=condition=Established "
        "crd/constrainttemplates.templates.gatekeeper.sh --timeout=2m"
    ) in lines
    assert f"gatekeeper/gatekeeper --version {versions.GATEKEEPER_VERSION}" in out
    assert "kind: ConstraintTemplate" in out and "kind: K8sGauntletNoPrivileged" in out


def test_dry_run_honours_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "up",
            "--target",
            "kind",
            "--dry-run",
            "--name",
            "ci",
            "--kind-config",
            str(CONFIGS / "cilium-single.yaml"),
            "--cilium-version",
            "1.19.6",
            "--gatekeeper-version",
            "3.22.2",
            "--kubernetes-version",
            "v1.35.0",
        ]
    )
    assert code == ExitCode.OK
    out = capsys.readouterr().out
    assert "kind create cluster --name ci --config " in out
    assert "cilium-single.yaml --image kindest/node:v1.35.0\n" in out
    assert "--version 1.19.6 --namespace kube-system --kube-context kind-ci" in out
    assert "gatekeeper/gatekeeper --version 3.22.2" in out
    assert "k8sServiceHost: ci-control-plane" in out
    assert "# note: kindest/node:v1.35.0 is not pinned by digest" in out


def test_bad_kind_config_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {kubeProxy: x}\n"
    )
    assert main(["up", "--target", "kind", "--dry-run", "--kind-config", str(bad)]) == 4
    assert "bad.yaml: networking.kubeProxy" in capsys.readouterr().err


def test_bad_blueprint_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--target", "kind", "--dry-run", "--platform", str(tmp_path / "no")]) == 4
    assert "not a directory of manifests" in capsys.readouterr().err


def test_missing_tools_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--target", "kind"]) == ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert "kind, kubectl, helm, docker" in err
    assert "https://helm.sh/docs/intro/install/" in err
    assert "--dry-run" in err


def test_up_reports_the_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[KindOptions] = []

    def fake_ensure(options: KindOptions, **_: object) -> KindCluster:
        seen.append(options)
        return KindCluster(options.name, f"kind-{options.name}", True, "abc")

    monkeypatch.setattr(commands, "ensure_cluster", fake_ensure)
    assert main(["up", "--target", "kind", "--recreate"]) == ExitCode.OK
    assert seen[0].recreate and seen[0].name == "gauntlet"
    out = capsys.readouterr().out
    assert "kind cluster 'gauntlet' ready (created" in out
    assert "run: gauntlet run --target kind;" in out


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ClusterMismatch("exists but differs"), ExitCode.USAGE_ERROR),
        (KindProvisionError("step 6/29 failed"), ExitCode.INCONCLUSIVE),
    ],
)
def test_up_failures_map_to_exit_codes(
    monkeypatch: pytest.MonkeyPatch, error: Exception, code: ExitCode
) -> None:
    def fake_ensure(options: KindOptions, **_: object) -> KindCluster:
        raise error

    monkeypatch.setattr(commands, "ensure_cluster", fake_ensure)
    assert main(["up", "--target", "kind"]) == code


def test_down_kind(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[str | None] = []

    def fake_down(name: str | None = None) -> list[str]:
        asked.append(name)
        return ["gauntlet"] if name in (None, "gauntlet") else []

    monkeypatch.setattr(commands, "down", fake_down)
    assert main(["down", "--target", "kind"]) == ExitCode.OK
    assert "deleted kind cluster gauntlet" in capsys.readouterr().out
    assert main(["down", "--target", "kind", "--name", "other"]) == ExitCode.OK
    assert "no gauntlet kind cluster to delete" in capsys.readouterr().out
    assert asked == [None, "other"]


def test_down_kind_without_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "--target", "kind"]) == ExitCode.USAGE_ERROR
    assert "https://kind.sigs.k8s.io/" in capsys.readouterr().err


def test_local_target_keeps_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["up"])
    assert args.target == "local" and args.name is None and not args.dry_run
    assert main(["up", "--target", "kubeconfig"]) == ExitCode.USAGE_ERROR
    assert "nothing to provision" in capsys.readouterr().err


def test_nightly_workflow_provisions_runs_uploads_and_always_tears_down() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / ".github/workflows/nightly-kind.yml").read_text())
    assert set(workflow[True]) == {"schedule", "workflow_dispatch"}  # YAML 1.1: on -> True
    steps = workflow["jobs"]["kind"]["steps"]
    runs = [(s.get("run", ""), s.get("if", "")) for s in steps]
    order = [
        next(i for i, (run, _) in enumerate(runs) if needle in run)
        for needle in (
            "python -m gauntlet.targets.kind.versions",
            "gauntlet up --target kind",
            "gauntlet run --target kind --profile",
            "gauntlet down --target kind",
        )
    ]
    assert order == sorted(order)
    assert "always()" in runs[order[-1]][1]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ env.REPORT_DIR }}"


def test_tox_envs_for_real_clusters() -> None:
    import configparser

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(Path(__file__).resolve().parents[1] / "tox.ini")
    kind = tox["testenv:kind"]
    assert kind["commands_pre"].strip().startswith("gauntlet up --target kind")
    assert kind["commands_post"].strip() == "gauntlet down --target kind"
    eks = tox["testenv:eks"]["commands"]
    assert (
        "--target kubeconfig --context {env:EKS_CONTEXT} --allow-context {env:EKS_CONTEXT}" in eks
    )
    assert {"tests", "unit", "lint", "types", "suites"} <= {
        s.removeprefix("testenv:") for s in tox.sections()
    }


# -- gauntlet run --target kind: the cluster up made ------------------------------------------

CLUSTER_FLAGS = [
    "--name",
    "ci",
    "--kind-config",
    str(CONFIGS / "cilium-single.yaml"),
    "--kubernetes-version",
    "v1.35.0",
    "--cilium-version",
    "1.19.6",
    "--gatekeeper-version",
    "3.22.2",
    "--agent-image",
    IMG,
    "--platform",
    str(REFERENCE_PLATFORM),
]


def _up_options(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> KindOptions:
    seen: list[KindOptions] = []

    def fake_ensure(options: KindOptions, **_: object) -> KindCluster:
        seen.append(options)
        return KindCluster(options.name, f"kind-{options.name}", True, "abc")

    monkeypatch.setattr(commands, "ensure_cluster", fake_ensure)
    assert main(["up", "--target", "kind", *argv]) == ExitCode.OK
    return seen[0]


def _run_options(pytester: pytest.Pytester, argv: list[str]) -> KindOptions:
    """What the plugin hands ``connect("kind")`` for ``gauntlet run --target kind ARGV``."""
    args = build_parser().parse_args(["run", "--suite", "isolation", "--target", "kind", *argv])
    forwarded = _pytest_args(args, pytester.path / "reports", [])
    return _kind_options(pytester.parseconfig(*forwarded))


@pytest.mark.parametrize("argv", [[], CLUSTER_FLAGS], ids=["defaults", "every-option"])
def test_run_provisions_or_reuses_the_cluster_up_built(
    monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester, argv: list[str]
) -> None:
    up = _up_options(monkeypatch, argv)
    run = _run_options(pytester, argv)
    assert run == up
    # Hence the same plan: same name, reuse hash, blueprint and agent image loaded into nodes.
    up_plan, run_plan = plan(up), plan(run, deploy=False)
    assert (run_plan.name, run_plan.cluster_hash) == (up_plan.name, up_plan.cluster_hash)
    assert run_plan.phase("agent") == up_plan.phase("agent")
    assert bool(run_plan.phase("agent")) == bool(run.agent_image)


def test_up_prints_the_run_command_that_reuses_its_cluster(
    monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    up = _up_options(monkeypatch, CLUSTER_FLAGS)
    hint = capsys.readouterr().out.split("run: ", 1)[1].split(";", 1)[0]
    argv = shlex.split(hint)
    assert argv[:4] == ["gauntlet", "run", "--target", "kind"]
    assert _run_options(pytester, argv[4:]) == up


def test_run_names_the_cluster_by_its_kind_context(pytester: pytest.Pytester) -> None:
    assert _run_options(pytester, ["--context", "kind-ci"]).name == "ci"
    assert _run_options(pytester, ["--context", "kind-ci", "--name", "x"]).name == "x"
    assert _run_options(pytester, []).name == "gauntlet"


def test_local_runs_get_no_kind_options() -> None:
    args = build_parser().parse_args(
        ["run", "--suite", "l7", "--name", "ci", "--cilium-version", "1.19.6"]
    )
    argv = _pytest_args(args, Path("r"), [])
    assert "--kind-name" not in argv and "--cilium-version" not in argv
