"""JUnit XML rendered from a ``Scorecard``, for CI tools (GitHub/GitLab test reports, Jenkins).

Design notes:

- Layout: ``<testsuites name="gauntlet">`` > one ``<testsuite>`` per suite (plus ``"slo"`` when the
  run scored SLOs) > one ``<testcase classname="gauntlet.<suite>" name="<check id>">`` per check or
  SLO (``classname="gauntlet.slo"``, name ``<slo>`` or ``<slo> [<window>]`` outside the run
  window). An SLO's message states observed vs objective in its unit, the budget consumed, the
  peak burn rate and the alerts that fired, so a CI summary explains a breach in one line.
  Element and attribute order follow the Jenkins/Surefire schema that the others accept too.
- JUnit has no third verdict. ``inconclusive`` becomes ``<skipped message="inconclusive: ...">``,
  so it never shows as green, and a reader can still tell it from a deliberate skip by the message
  prefix. ``errors`` is always 0: a target error is an inconclusive verdict, not a harness crash.
- ElementTree escapes ``<``, ``&`` and quotes, but would happily write control characters, which
  XML 1.0 forbids and parsers reject (ANSI colours in a captured log are enough); those are written
  out as visible ``\\x1b``-style text instead.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path

from gauntlet.report import fmt
from gauntlet.report.scorecard import (
    Check,
    Evidence,
    Scorecard,
    SloResult,
    Verdict,
    atomic_write_text,
)

SLO_SUITE = "slo"
"""Name of the ``<testsuite>`` holding one ``<testcase>`` per SLO."""

_XML_INVALID = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _evidence_text(evidence: Iterable[Evidence]) -> str:
    return "\n\n".join(f"--- {e.title} ({e.kind}) ---\n{e.content}" for e in evidence)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in counts.items())


def _add_text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attrs.items()})
    if text:
        element.text = _xml_text(text)
    return element


def _outcome(testcase: ET.Element, verdict: Verdict, message: str, details: str) -> None:
    """Add the child that encodes ``verdict``; a pass needs none."""
    if verdict is Verdict.FAIL:
        body = "\n\n".join(part for part in (message, details) if part)
        _add_text(testcase, "failure", body, message=message or "failed", type="gauntlet.fail")
    elif verdict is Verdict.INCONCLUSIVE:
        _add_text(testcase, "skipped", "", message=f"inconclusive: {message or 'nothing proven'}")
    elif verdict is Verdict.SKIP:
        _add_text(testcase, "skipped", "", message=message or "skipped")


def _check_case(suite: ET.Element, check: Check) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": _xml_text(f"gauntlet.{check.suite}"),
            "name": _xml_text(check.id),
            "time": _seconds(check.duration_s),
        },
    )
    evidence = _evidence_text(check.evidence)
    _outcome(case, check.verdict, check.message, evidence)
    out = "\n\n".join(
        part
        for part in (check.title, _counts_text(check.counts) if check.counts else "", evidence)
        if part
    )
    if out:
        _add_text(case, "system-out", out)


def _slo_message(slo: SloResult) -> str:
    """One line: observed vs objective in the SLI's unit, budget, burn rate, alerts that fired."""
    observed = "no data" if slo.observed is None else f"observed {fmt.observed(slo)}"
    budget = (
        "error budget consumed: unknown"
        if slo.error_budget_consumed is None
        else f"error budget consumed: {fmt.budget(slo.error_budget_consumed)}"
    )
    parts = [f"{observed}, objective {fmt.objective(slo)}; {budget}"]
    if slo.peak_burn_rate is not None:
        parts.append(f"peak burn rate {slo.peak_burn_rate:.2f}x")
    fired = [a for a in slo.alerts if a.fired]
    if fired:
        parts.append(
            "alerts fired: " + ", ".join(f"{a.name} at {a.first_fired_s or 0:g} s" for a in fired)
        )
    critical = ", critical" if slo.critical else ""
    why = f" ({slo.message})" if slo.message else ""
    return "; ".join(parts) + critical + why


def _slo_details(slo: SloResult) -> str:
    lines = [slo.description] if slo.description else []
    lines.append(
        f"sli={slo.sli or '-'} unit={slo.unit or '-'} window={slo.window} source={slo.source} "
        f"weight={slo.weight:g}"
    )
    for a in slo.alerts:
        state = f"fired at {a.first_fired_s or 0:g} s" if a.fired else "did not fire"
        lines.append(
            f"alert {a.name}: burn rate >= {a.threshold:g}x over {a.long_window_s:g} s and "
            f"{a.short_window_s:g} s: {state}"
        )
    return "\n".join(lines)


def _slo_name(slo: SloResult) -> str:
    # The same SLO can be evaluated over several windows (the run, a chaos experiment); CI tools
    # key test cases by classname + name, so the window keeps them apart.
    return slo.name if slo.window == "run" else f"{slo.name} [{slo.window}]"


def _slo_case(suite: ET.Element, slo: SloResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": f"gauntlet.{SLO_SUITE}",
            "name": _xml_text(_slo_name(slo)),
            "time": _seconds(0),
        },
    )
    message = _slo_message(slo)
    details = _slo_details(slo)
    _outcome(case, slo.verdict, message, details)
    _add_text(case, "system-out", f"{message}\n{details}")


def _counts(cases: list[Verdict]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(cases.count(Verdict.FAIL)),
        "errors": "0",
        "skipped": str(cases.count(Verdict.SKIP) + cases.count(Verdict.INCONCLUSIVE)),
    }


def render_junit(sc: Scorecard) -> str:
    """JUnit XML for ``sc``, with an XML declaration, UTF-8, newline-terminated."""
    by_suite: dict[str, list[Check | SloResult]] = {name: [] for name in sc.suites}
    for check in sc.checks:
        by_suite.setdefault(check.suite, []).append(check)
    for slo in sc.slos:
        by_suite.setdefault(SLO_SUITE, []).append(slo)

    wall_clock_s = (sc.finished_at - sc.started_at).total_seconds()
    timestamp = sc.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element(
        "testsuites",
        {
            "name": "gauntlet",
            **_counts([item.verdict for items in by_suite.values() for item in items]),
            "time": _seconds(wall_clock_s),
        },
    )
    properties = {
        "run_id": sc.run_id,
        "target": sc.target,
        "profile": sc.profile,
        "platform": sc.platform,
        "distribution": sc.distribution.name,
        "score": f"{sc.score:.2f}",
        "verdict": str(sc.verdict),
    }
    if sc.load is not None:
        properties |= {
            "load.profile": sc.load.profile,
            "load.requests": str(sc.load.requests),
            "load.errors": str(sc.load.errors),
            "load.rps": f"{sc.load.rps:.1f}",
            "load.p95_ms": f"{sc.load.latency.p95_ms:.3f}",
            "load.p99_ms": f"{sc.load.latency.p99_ms:.3f}",
        }
    for name, items in by_suite.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _xml_text(name),
                **_counts([item.verdict for item in items]),
                "time": _seconds(sum(i.duration_s for i in items if isinstance(i, Check))),
                "timestamp": timestamp,
            },
        )
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": key, "value": _xml_text(value)})
        for item in items:
            if isinstance(item, Check):
                _check_case(suite, item)
            else:
                _slo_case(suite, item)

    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def write_junit(sc: Scorecard, path: str | os.PathLike[str]) -> None:
    """Write ``render_junit(sc)`` to ``path`` atomically; parent folders are created."""
    atomic_write_text(Path(path), render_junit(sc))
