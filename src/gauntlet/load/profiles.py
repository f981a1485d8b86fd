"""Load profiles: named locustfiles in ``scenarios/load/`` and which one a run profile uses.

A profile is a plain locustfile (it runs with ``locust -f`` as well); its ``LoadTestShape``
decides users over time and names the phases. ``users`` and ``duration_s`` here are only
overrides handed to the shape (``GAUNTLET_LOAD_USERS`` / ``GAUNTLET_LOAD_DURATION_S``); None
keeps the locustfile's own numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SCENARIOS_DIR = Path(
    os.environ.get(
        "GAUNTLET_LOAD_SCENARIOS", Path(__file__).resolve().parents[3] / "scenarios" / "load"
    )
)


@dataclass(frozen=True)
class LoadProfile:
    """A locustfile plus optional overrides of its peak users and length."""

    name: str
    """Short name, reported as ``LoadReport.profile``."""
    locustfile: Path
    users: int | None = None
    """Peak users; None: the locustfile's default."""
    duration_s: float | None = None
    """Length of the whole profile in seconds (the shape scales its stages); None: default."""

    @classmethod
    def from_path(cls, path: Path) -> LoadProfile:
        return cls(name=path.stem, locustfile=path)


LOAD_PROFILES = ("smoke", "steady", "ramp", "spike")
"""The profiles shipped in ``scenarios/load/``."""

RUN_PROFILE_LOAD = {"smoke": "smoke", "nightly": "ramp", "gameday": "spike"}
"""Which load profile ``gauntlet run --profile X`` sends: smoke stays under 20 s; nightly ramps
to a plateau (ramp + steady phases); gameday adds a spike."""


class UnknownProfile(ValueError):
    """A profile name with no locustfile behind it."""


def load_profile(name: str) -> LoadProfile:
    """The shipped profile ``name`` (``smoke``, ``steady``, ``ramp``, ``spike``), or the load
    profile of a run profile (``nightly``, ``gameday``)."""
    name = RUN_PROFILE_LOAD.get(name, name) if name not in LOAD_PROFILES else name
    path = SCENARIOS_DIR / f"{name}.py"
    if name not in LOAD_PROFILES or not path.is_file():
        known = ", ".join((*LOAD_PROFILES, *RUN_PROFILE_LOAD))
        raise UnknownProfile(f"no load profile {name!r} (known: {known}; looked in {path})")
    return LoadProfile(name=name, locustfile=path)


__all__ = [
    "LOAD_PROFILES",
    "RUN_PROFILE_LOAD",
    "SCENARIOS_DIR",
    "LoadProfile",
    "UnknownProfile",
    "load_profile",
]
