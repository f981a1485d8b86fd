"""The probe agent: one stdlib-only file shipped verbatim to sandbox namespaces and pods.

``agent.py`` imports nothing from ``gauntlet`` and nothing outside the standard library, so the
local sandbox can run it as ``python3 -I -S agent.py serve ...`` and Kubernetes can mount it from a
ConfigMap into a stock ``python:3.11-slim`` container. Drivers find the file through `AGENT_PATH`.
"""

from pathlib import Path

AGENT_PATH: Path = Path(__file__).with_name("agent.py")
"""Absolute path of the agent script, to copy into a ConfigMap or pass to ``python3``."""

__all__ = ["AGENT_PATH"]
