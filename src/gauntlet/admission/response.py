"""Gatekeeper's answer as clients see it, and the parser that reads it back.

The webhook refuses with HTTP 403 and the message ``[<constraint>] <msg>`` per deny violation,
joined by newlines (``pkg/webhook/policy.go``); the API server wraps it as
``admission webhook "validation.gatekeeper.sh" denied the request: <message>``, and newer API
servers prepend ``<resource> "<name>" is forbidden: ``. Warn violations come back as response
warnings, ``[<constraint>] <msg>`` each. The parser reads only the ``[name] msg`` lines so that
it works on every API server version and on both the sandbox and real clusters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gauntlet.admission.gatekeeper import Violation
from gauntlet.admission.templates import EnforcementAction
from gauntlet.targets.base import Denial

WEBHOOK_NAME = "validation.gatekeeper.sh"
_PREFIX = f'admission webhook "{WEBHOOK_NAME}" denied the request: '
# "[name] message": constraint names are DNS-1123 subdomains, so "]" cannot occur in them.
_LINE = re.compile(r"^\[(?P<name>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)\] (?P<msg>.*)$")


def deny_lines(violations: Sequence[Violation]) -> list[str]:
    return [
        f"[{v.constraint_name}] {v.message}"
        for v in violations
        if v.action is EnforcementAction.DENY
    ]


def warning_lines(violations: Sequence[Violation]) -> list[str]:
    return [
        f"[{v.constraint_name}] {v.message}"
        for v in violations
        if v.action is EnforcementAction.WARN
    ]


def webhook_denial_message(violations: Sequence[Violation]) -> str:
    """The API server's message for a request the Gatekeeper webhook refused."""
    return _PREFIX + "\n".join(deny_lines(violations))


def parse_denials(message: str) -> tuple[Denial, ...]:
    """The ``(constraint, message)`` pairs in an admission error message.

    Only text after Gatekeeper's ``denied the request:`` counts; a line that does not start a
    new ``[name]`` continues the previous message (a violation message may contain newlines).
    """
    at = message.find(_PREFIX)
    if at < 0:
        return ()
    body = message[at + len(_PREFIX) :]
    denials: list[Denial] = []
    for line in body.split("\n"):
        found = _LINE.match(line)
        if found:
            denials.append(Denial(constraint=found["name"], message=found["msg"]))
        elif denials:
            last = denials[-1]
            denials[-1] = Denial(constraint=last.constraint, message=f"{last.message}\n{line}")
    return tuple(denials)


def parse_warnings(warnings: Sequence[str]) -> tuple[Denial, ...]:
    """Warnings that are Gatekeeper's ``[name] msg`` lines, as (constraint, message) pairs."""
    out: list[Denial] = []
    for warning in warnings:
        found = _LINE.match(warning.strip())
        if found:
            out.append(Denial(constraint=found["name"], message=found["msg"]))
    return tuple(out)
