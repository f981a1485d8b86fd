"""Blueprint errors: every message names the file, the object and the field to change."""

from __future__ import annotations

from pathlib import Path


class BlueprintError(Exception):
    """A manifest that Gauntlet cannot load or does not support.

    ``obj`` is ``Kind namespace/name`` (or ``document N`` when the object has no identity yet) and
    ``field`` is a dotted path such as ``spec.ingress[0].fromRequires``.
    """

    def __init__(self, file: Path | str, obj: str, field: str, reason: str) -> None:
        self.file = str(file)
        self.obj = obj
        self.field = field
        self.reason = reason
        where = f"{self.file}: {obj}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {reason}")


class UnsupportedPolicyError(BlueprintError):
    """A policy construct the oracle cannot evaluate faithfully; never silently ignored."""
