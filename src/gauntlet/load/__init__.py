"""Load: Locust profiles run in a child process, exact latencies, per-second series.

``run_load(profile, entrypoint, ...) -> LoadRun`` is the one entry point; ``LoadRun.report`` is
the scorecard's ``LoadReport`` and ``LoadRun.samples`` every request. How it works and how to
write a locustfile for Gauntlet: docs/load.md.

The names below are imported lazily: ``python -m gauntlet.load.child`` imports this package
before Locust, and Locust (gevent) must monkey-patch the process before anything imports
``ssl`` (pydantic, through the scorecard models, does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gauntlet.load.profiles import LoadProfile, UnknownProfile, load_profile
    from gauntlet.load.runner import LiveStats, LoadError, LoadRun, run_load
    from gauntlet.load.samples import Sample, Samples

_EXPORTS = {
    "LiveStats": "gauntlet.load.runner",
    "LoadError": "gauntlet.load.runner",
    "LoadProfile": "gauntlet.load.profiles",
    "LoadRun": "gauntlet.load.runner",
    "Sample": "gauntlet.load.samples",
    "Samples": "gauntlet.load.samples",
    "UnknownProfile": "gauntlet.load.profiles",
    "load_profile": "gauntlet.load.profiles",
    "run_load": "gauntlet.load.runner",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gauntlet.load' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "LiveStats",
    "LoadError",
    "LoadProfile",
    "LoadRun",
    "Sample",
    "Samples",
    "UnknownProfile",
    "load_profile",
    "run_load",
]
