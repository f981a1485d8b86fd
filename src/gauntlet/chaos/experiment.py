"""Chaos experiments: Chaos Toolkit files plus Gauntlet's own settings in an extension.

An experiment in ``scenarios/chaos/`` is a plain Chaos Toolkit experiment (``chaos validate``
and ``chaos run`` accept it). What only Gauntlet reads goes into the ``gauntlet`` extension,
which Chaos Toolkit carries without interpreting::

    extensions:
      - name: gauntlet
        smoke: true                    # part of the chaos suite's smoke set
        canaries:                      # allowed traffic the recovery watcher checks
          - {src: ingress/ingress-gateway-0, dst: team-alpha/api-0, port: 8080}
        namespaces: [team-alpha]       # pods that must be ready (default: every pod)
        recovery_timeout_s: 20         # how long to wait for the steady state after the fault
        objectives: {availability: 0.99}   # per-experiment SLO objectives for its window
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gauntlet.errors import LocatedError

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios" / "chaos"


class ExperimentError(LocatedError):
    """A chaos experiment file that cannot run: names the file, the object and the field."""


class Canary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    src: str = Field(pattern=r"^[^/]+/[^/]+$")
    dst: str = Field(pattern=r"^[^/]+/[^/]+$")
    port: int = Field(ge=1, le=65535)
    protocol: str = "TCP"


class GauntletSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "gauntlet"
    smoke: bool = False
    canaries: list[Canary] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    recovery_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    objectives: dict[str, float] = Field(default_factory=dict)
    targets: list[str] = Field(default_factory=lambda: ["local", "kubernetes"])


class Experiment(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    path: Path
    title: str
    raw: dict[str, Any]
    settings: GauntletSettings

    @property
    def name(self) -> str:
        return self.path.stem

    def faults(self) -> list[str]:
        """Catalog fault ids the method injects (as far as its activities say)."""
        from gauntlet.chaos.actions import FAULT_OF_ACTION

        out: list[str] = []
        for activity in self.raw.get("method") or []:
            provider = activity.get("provider") or {}
            if provider.get("module") != "gauntlet.chaos.actions":
                continue
            func = provider.get("func", "")
            fault = FAULT_OF_ACTION.get(func)
            if func == "inject_fault":
                fault = (provider.get("arguments") or {}).get("fault")
            if fault and fault not in out:
                out.append(str(fault))
        return out


def available() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A scenario name (``pod-kill``) or a path to an experiment file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        return path
    candidate = SCENARIOS / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    raise ExperimentError(
        str(name_or_path), "", "", f"no such chaos scenario; available: {', '.join(available())}"
    )


def load_experiment(path: Path) -> Experiment:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ExperimentError(str(path), "", "", f"cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise ExperimentError(str(path), "", "", "an experiment is a mapping")
    title = str(raw.get("title", ""))
    try:
        ensure_experiment_is_valid(raw)
    except ChaosException as exc:
        raise ExperimentError(
            str(path), title, "", f"not a valid Chaos Toolkit experiment: {exc}"
        ) from exc
    ext = [
        e
        for e in raw.get("extensions") or []
        if isinstance(e, dict) and e.get("name") == "gauntlet"
    ]
    try:
        settings = GauntletSettings.model_validate(ext[0]) if ext else GauntletSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise ExperimentError(
            str(path), title, f"extensions[gauntlet].{field}", err["msg"]
        ) from exc
    return Experiment(path=path, title=title, raw=raw, settings=settings)
