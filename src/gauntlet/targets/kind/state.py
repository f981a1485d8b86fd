"""Where a kind cluster's bookkeeping lives, and the lock that makes provisioning single-file.

The source of truth for "can this cluster be reused?" is the cluster itself: the last step of
a successful ``up`` annotates namespace ``kube-system`` with ``gauntlet.io/cluster-hash`` (kind
config + every pinned version + Helm values) and ``gauntlet.io/blueprint-hash``. A cluster
that was deleted behind Gauntlet's back, or whose provisioning died half-way, therefore never
looks reusable. The state file (``<state dir>/<name>.json``) is informational: it records what
the cluster was built from, so a mismatch message can say *which* version changed, and lets
``gauntlet down`` find clusters created under other names.

State lives in ``$GAUNTLET_KIND_STATE_DIR``, else ``$XDG_STATE_HOME/gauntlet/kind``, else
``~/.local/state/gauntlet/kind`` -- persistent like the cluster's containers, and outside the
local sandbox's runtime directory (whose ``down`` removes everything under it).

``cluster_lock`` is an ``fcntl.flock`` on ``<state dir>/<name>.lock``: pytest-xdist workers
(separate processes) and threads (each ``open`` is its own lock owner) that call
``ensure_cluster`` at once are serialised, so exactly one provisions and the others, once they
get the lock, find the annotations and reuse the cluster. The kernel drops the lock when its
holder dies, so a SIGKILLed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gauntlet.targets.kind.runner import Progress

CLUSTER_HASH_ANNOTATION = "gauntlet.io/cluster-hash"
BLUEPRINT_HASH_ANNOTATION = "gauntlet.io/blueprint-hash"
STATE_SCHEMA = "gauntlet.kind-state/v1"


def state_dir() -> Path:
    if explicit := os.environ.get("GAUNTLET_KIND_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gauntlet" / "kind"


class KindState(BaseModel):
    """``<state dir>/<name>.json``: what a cluster was provisioned from."""

    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(default=STATE_SCHEMA, alias="schema")
    name: str
    context: str
    kind_config: str
    cluster_hash: str
    blueprint_hash: str
    versions: dict[str, str]
    provisioned_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


def state_file(root: Path, name: str) -> Path:
    return root / f"{name}.json"


def read_state(root: Path, name: str) -> KindState | None:
    try:
        return KindState.model_validate_json(state_file(root, name).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def write_state(root: Path, state: KindState) -> None:
    root.mkdir(parents=True, exist_ok=True)
    path = state_file(root, state.name)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def recorded_names(root: Path) -> list[str]:
    """Clusters with a state file (what ``down`` without ``--name`` removes)."""
    if not root.is_dir():
        return []
    return sorted(p.stem for p in root.glob("*.json"))


@contextlib.contextmanager
def cluster_lock(root: Path, name: str, progress: Progress | None = None) -> Iterator[None]:
    """Hold the exclusive provisioning lock of cluster ``name`` (blocking)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress(
                    f"kind cluster '{name}' is being provisioned by another gauntlet process; "
                    f"waiting for it (lock {path})"
                )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
