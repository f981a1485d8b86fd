"""JSON Schema of ``scorecard.json``, generated from the pydantic model so the two cannot disagree.

Regenerate the committed copy after changing ``gauntlet.report.scorecard``::

    python -m gauntlet.report.schema            # writes docs/scorecard.schema.json

``tests/test_report.py`` fails when the committed file differs from what this module generates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gauntlet.exitcodes import ExitCode
from gauntlet.report.scorecard import Scorecard, atomic_write_text

DEFAULT_PATH = Path("docs/scorecard.schema.json")
"""Where ``main`` writes without an argument, relative to the working directory (the repo root)."""

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def scorecard_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) a ``scorecard.json`` file validates against."""
    # Validation mode: the schema says what ``load_scorecard`` accepts.
    return {"$schema": _DIALECT, **Scorecard.model_json_schema(by_alias=True)}


def render_schema() -> str:
    """``scorecard_json_schema()`` as the text committed to ``docs/scorecard.schema.json``."""
    return json.dumps(scorecard_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the schema to ``argv[0]`` (default ``docs/scorecard.schema.json``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print("usage: python -m gauntlet.report.schema [OUTPUT.json]", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    path = Path(args[0]) if args else DEFAULT_PATH
    atomic_write_text(path, render_schema())
    print(f"wrote {path}")
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
