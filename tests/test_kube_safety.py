"""Which contexts load and chaos may disrupt."""

from __future__ import annotations

from pathlib import Path

import pytest

from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes.safety import (
    allowed_patterns,
    check_disruption_allowed,
    is_allowed,
)


def test_only_gauntlet_kind_clusters_by_default(tmp_path: Path) -> None:
    patterns = allowed_patterns(env={}, config=tmp_path / "absent.yaml")
    assert patterns == ("kind-gauntlet*",)
    assert is_allowed("kind-gauntlet", patterns) and is_allowed("kind-gauntlet-2", patterns)
    assert not is_allowed("kind-other", patterns)
    assert not is_allowed("arn:aws:eks:eu-west-1:1:cluster/prod", patterns)
    assert not is_allowed(None, ["*"])


def test_flag_env_and_config_file_add_up(tmp_path: Path) -> None:
    config = tmp_path / "gauntlet.yaml"
    config.write_text("allow_contexts: [staging-*]\n")
    patterns = allowed_patterns(
        ["kind-ci"], env={"GAUNTLET_ALLOW_CONTEXTS": "lab, dev-eks"}, config=config
    )
    assert patterns == ("kind-gauntlet*", "kind-ci", "lab", "dev-eks", "staging-*")
    assert is_allowed("staging-eu", patterns) and not is_allowed("Staging-eu", patterns)


def test_bad_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "gauntlet.yaml"
    config.write_text("allow_contexts: prod\n")
    with pytest.raises(TargetError, match=r"gauntlet\.yaml: allow_contexts must be a list"):
        allowed_patterns(env={}, config=config)


def test_refusal_names_the_context_and_the_flag() -> None:
    check_disruption_allowed("kind-gauntlet", allowed=True, what="load")
    with pytest.raises(TargetError) as err:
        check_disruption_allowed("prod-eks", allowed=False, what="fault pod-kill")
    text = str(err.value)
    assert "refusing fault pod-kill on kubeconfig context 'prod-eks'" in text
    assert "--allow-context prod-eks" in text and "GAUNTLET_ALLOW_CONTEXTS" in text
