"""Blueprint errors: every message names the file, the object and the field to change."""

from __future__ import annotations

from gauntlet.errors import LocatedError


class BlueprintError(LocatedError):
    """A manifest that Gauntlet cannot load or does not support.

    ``obj`` is ``Kind namespace/name`` (or ``document N`` when the object has no identity yet) and
    ``field`` is a dotted path such as ``spec.ingress[0].fromRequires``.
    """


class UnsupportedPolicyError(BlueprintError):
    """A policy construct the oracle cannot evaluate faithfully; never silently ignored."""
