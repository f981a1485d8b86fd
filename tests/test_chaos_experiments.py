"""The shipped experiments are valid Chaos Toolkit experiments (``chaos validate`` too)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gauntlet.chaos.catalog import CATALOG
from gauntlet.chaos.experiment import SCENARIOS, ExperimentError, load_experiment, resolve

PATHS = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_experiment_loads_and_names_catalog_faults(path: object) -> None:
    exp = load_experiment(path)  # type: ignore[arg-type]
    assert exp.raw.get("rollbacks"), "every experiment has rollbacks"
    assert exp.raw.get("steady-state-hypothesis"), "every experiment has a hypothesis"
    assert exp.faults() and all(f in CATALOG for f in exp.faults())


def test_smoke_set_exists() -> None:
    assert sum(load_experiment(p).settings.smoke for p in PATHS) >= 3


@pytest.mark.skipif(shutil.which("chaos") is None, reason="the chaos CLI is not installed")
def test_chaos_validate_accepts_them(tmp_path: object) -> None:
    for path in PATHS:
        proc = subprocess.run(
            ["chaos", "--no-log-file", "validate", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_scenario_lists_the_available_ones() -> None:
    with pytest.raises(ExperimentError) as err:
        resolve("no-such-thing")
    assert "pod-kill" in str(err.value)
