"""Process exit codes shared by the CLI and the pytest plugin (documented in README.md)."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit status of ``gauntlet`` commands; CI pipelines gate on these values."""

    OK = 0
    """Every check passed (and, where scored, every SLO held)."""
    CONFORMANCE_FAILED = 1
    """At least one conformance check observed behaviour that contradicts the blueprint."""
    SLO_BREACHED = 2
    """Conformance held but a critical SLO was breached or the score fell below its threshold."""
    INCONCLUSIVE = 3
    """Nothing failed, but some check could not observe what it claims, or the target errored."""
    USAGE_ERROR = 4
    """Bad command line, blueprint or configuration; nothing was run."""
