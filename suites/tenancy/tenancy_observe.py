"""Reading what the target holds, with "could not list" kept apart from "holds nothing".

A ``TargetError`` from ``objects`` means the check did not observe the kind (inconclusive); an
empty list means the platform holds none (possibly a failure). The two must never be merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gauntlet.targets.base import Target, TargetError


def list_objects(
    target: Target, kind: str, namespace: str | None
) -> tuple[list[dict[str, Any]], str]:
    """(objects, "") or ([], the target's error)."""
    try:
        return target.objects(kind, namespace), ""
    except TargetError as exc:
        return [], str(exc)


def names(docs: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str((d.get("metadata") or {}).get("name")) for d in docs}
