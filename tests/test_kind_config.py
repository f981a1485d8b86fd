"""kind cluster configs: the shipped ones parse strictly and are ready for Cilium; mistakes are
reported with file and field; the reuse hash changes with the config and the versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gauntlet.targets.kind.config import (
    KindConfigError,
    check_for_cilium,
    config_hash,
    load_kind_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "kind-configs"


@pytest.mark.parametrize("name", ["cilium-3node.yaml", "cilium-single.yaml"])
def test_shipped_configs_are_ready_for_cilium(name: str) -> None:
    cluster, _ = load_kind_config(CONFIGS / name)
    assert check_for_cilium(cluster, CONFIGS / name) == []
    assert (30080, 30080, "127.0.0.1") in cluster.host_ports()


def test_three_node_shape() -> None:
    cluster, _ = load_kind_config(CONFIGS / "cilium-3node.yaml")
    assert [n.role for n in cluster.nodes] == ["control-plane", "worker", "worker"]
    assert cluster.workers == 2


def test_typo_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "kind.yaml"
    head = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
    bad.write_text(head + "networking:\n  disableDefaultCni: true\n")
    with pytest.raises(KindConfigError, match=r"kind.yaml: networking.disableDefaultCni"):
        load_kind_config(bad)


def test_default_cni_and_kube_proxy_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    cluster, _ = load_kind_config(plain)
    problems = check_for_cilium(cluster, plain)
    assert any("disableDefaultCNI" in p for p in problems)
    assert any("kubeProxyMode" in p for p in problems)


def test_hash_tracks_config_and_versions(tmp_path: Path) -> None:
    cluster, _ = load_kind_config(CONFIGS / "cilium-3node.yaml")
    single, _ = load_kind_config(CONFIGS / "cilium-single.yaml")
    versions = {"kubernetes": "v1.31.0", "cilium": "1.16.3", "gatekeeper": "3.17.1"}
    assert config_hash(cluster, versions) == config_hash(cluster, dict(reversed(versions.items())))
    assert config_hash(cluster, versions) != config_hash(single, versions)
    assert config_hash(cluster, versions) != config_hash(cluster, {**versions, "cilium": "1.17.0"})
