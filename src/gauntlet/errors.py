"""Errors about an input file that name the file, the object and the field to change."""

from __future__ import annotations

from pathlib import Path


class LocatedError(Exception):
    """``<file>: <object>[: <field>]: <reason>``; the parts stay available as attributes.

    ``obj`` is e.g. ``Kind namespace/name`` (or ``document N`` when the object has no identity
    yet) and ``field`` a dotted path such as ``spec.ingress[0].fromRequires`` (may be empty).
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
