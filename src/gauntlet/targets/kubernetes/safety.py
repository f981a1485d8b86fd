"""Which kubeconfig contexts Gauntlet may disrupt (load and chaos).

Deploying a blueprint into its own namespaces is routine; pushing load or killing pods, scaling
Gatekeeper to zero or pausing a node is not, and a kubeconfig's current context is too easily the
production cluster. So load and chaos refuse every context not allowed explicitly, from any of:

- ``--allow-context NAME`` (repeatable; shell-style patterns such as ``kind-*`` work),
- ``GAUNTLET_ALLOW_CONTEXTS`` (comma-separated),
- ``allow_contexts: [..]`` in ``gauntlet.yaml`` in the working directory,

plus the kind clusters Gauntlet creates itself (``kind-gauntlet*``), allowed by default.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from gauntlet.targets.base import TargetError

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ALLOWED",
    "ENV_VAR",
    "allowed_patterns",
    "check_disruption_allowed",
    "is_allowed",
]

DEFAULT_ALLOWED: tuple[str, ...] = ("kind-gauntlet*",)
ENV_VAR = "GAUNTLET_ALLOW_CONTEXTS"
CONFIG_FILE = "gauntlet.yaml"


def _from_config(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TargetError(f"{path}: cannot read it: {exc}") from None
    value = data.get("allow_contexts", []) if isinstance(data, dict) else None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TargetError(f"{path}: allow_contexts must be a list of context names or patterns")
    return value


def allowed_patterns(
    cli: Iterable[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    config: Path | None = None,
) -> tuple[str, ...]:
    """Every allowed context name or pattern, defaults first."""
    environ = os.environ if env is None else env
    from_env = [p.strip() for p in environ.get(ENV_VAR, "").split(",") if p.strip()]
    from_file = _from_config(config if config is not None else Path.cwd() / CONFIG_FILE)
    return tuple(dict.fromkeys([*DEFAULT_ALLOWED, *cli, *from_env, *from_file]))


def is_allowed(context: str | None, patterns: Iterable[str]) -> bool:
    """Case-sensitive shell-pattern match; no context (an in-cluster config) is never allowed
    implicitly."""
    return bool(context) and any(fnmatch.fnmatchcase(str(context), p) for p in patterns)


def check_disruption_allowed(context: str | None, *, allowed: bool, what: str) -> None:
    """Raise a TargetError naming the context and the ways to allow it."""
    if allowed:
        return
    name = context or "(none)"
    raise TargetError(
        f"refusing {what} on kubeconfig context {name!r}: load and chaos run only on contexts "
        f"allowed explicitly. If this cluster may be disrupted, pass --allow-context {name} "
        f"(or set {ENV_VAR}={name}, or list it under allow_contexts in {CONFIG_FILE}); kind "
        f"clusters created by Gauntlet ({', '.join(DEFAULT_ALLOWED)}) are allowed by default"
    )
