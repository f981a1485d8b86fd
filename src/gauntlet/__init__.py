"""CaaS Gauntlet: prove a namespace-as-a-service platform keeps its promises.

The public surface is deliberately small: the blueprint loader, the oracle, the ``Target``
protocol and the exit codes. Everything else lives in private-by-convention subpackages.
"""

from gauntlet.exitcodes import ExitCode

__all__ = ["ExitCode", "__version__"]
__version__ = "0.1.0"
