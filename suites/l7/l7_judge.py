"""Judging one L7 request: what the oracle expects against what the probe observed.

A row is ``ok``, a ``mismatch`` (the platform contradicts the blueprint) or ``unjudged`` (the
observation says nothing either way: an agent error, a reset, an answer of a kind no verdict
predicts). Only mismatches fail a cell; unjudged rows make it inconclusive, never pass.

What each verdict looks like on the wire (Cilium's Envoy; the sandbox proxy answers alike):

* forwarded: the application answers (``X-Gauntlet-Pod`` names the destination pod) and echoes
  the target it received, which must be the oracle's ``upstream_path`` (Envoy normalises it);
* denied: ``403`` with body ``Access denied`` and no application header;
* redirected: ``307`` from the proxy (escaped slashes); rejected: ``400`` from the proxy;
* dropped: the client times out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from l7_requests import RequestCase

from gauntlet.oracle import Expectation
from gauntlet.oracle.l7 import L7Expectation, L7Request, L7Verdict
from gauntlet.targets.base import HttpRequest, L7Flow, Outcome, ProbeMode, ProbeRequest, ProbeResult

DENIED_BODY = "Access denied"  # Cilium's Envoy: the body of its 403 for an L7 miss
PROXY_STATUS = {L7Verdict.DENIED: 403, L7Verdict.REDIRECTED: 307, L7Verdict.REJECTED: 400}
# Outcomes a verdict can be read from; anything else (reset, refused, error) is unjudged.
JUDGEABLE = (Outcome.HTTP, Outcome.TIMEOUT)


class RowVerdict(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    UNJUDGED = "unjudged"


@dataclass(frozen=True)
class Row:
    case: RequestCase
    expected: L7Expectation
    observed: ProbeResult
    verdict: RowVerdict
    detail: str  # what was wrong, for mismatches and unjudged rows


def probe_requests(
    exp: Expectation, cases: Sequence[RequestCase], *, timeout_s: float
) -> list[ProbeRequest]:
    cell = exp.cell
    out = []
    for i, case in enumerate(cases):
        req = case.request
        headers = req.headers if req.host is None else (("host", req.host), *req.headers)
        out.append(
            ProbeRequest(
                id=f"l7-{i}",
                src=cell.src,
                dst=cell.dst,
                port=cell.port,
                protocol=cell.protocol,
                mode=ProbeMode.HTTP,
                timeout_s=timeout_s,
                http=HttpRequest(method=req.method, path=req.path, headers=headers),
            )
        )
    return out


def echoed(body: str | None) -> dict[str, str]:
    """``path`` and ``method`` the application echoed (its JSON body; the probe keeps only a
    preview, so a cut-off body is read up to the fields it still holds)."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return {k: v for k in ("path", "method") if isinstance(v := data.get(k), str)}
    out: dict[str, str] = {}
    decoder = json.JSONDecoder()
    for key in ("method", "path"):
        # The app writes pod, method, path after its own fields; the last occurrence is ours.
        at = body.rfind(f'"{key}":')
        if at >= 0:
            try:
                value, _ = decoder.raw_decode(body, at + len(key) + 3)
            except ValueError:
                continue
            if isinstance(value, str):
                out[key] = value
    return out


def judge(expected: L7Expectation, observed: ProbeResult, *, dst: str) -> tuple[RowVerdict, str]:
    req = expected.request
    if observed.outcome not in JUDGEABLE:
        return RowVerdict.UNJUDGED, f"observed {observed.outcome.value} ({observed.error_class})"
    if expected.verdict is L7Verdict.DROPPED:
        if observed.outcome is Outcome.TIMEOUT:
            return RowVerdict.OK, ""
        return RowVerdict.MISMATCH, "expected a drop, got an HTTP answer"
    if observed.outcome is Outcome.TIMEOUT:
        return RowVerdict.MISMATCH, "timed out"
    if expected.verdict is L7Verdict.FORWARDED:
        if observed.peer != dst:
            who = observed.peer or "the proxy"
            return RowVerdict.MISMATCH, f"answered by {who}, not by the application on {dst}"
        if req.method == "HEAD":
            return RowVerdict.OK, ""  # no body to read the echoed target from
        echo = echoed(observed.body)
        if "path" not in echo:
            return RowVerdict.UNJUDGED, "the application's answer does not echo its target"
        if echo["path"] != expected.upstream_path:
            return (
                RowVerdict.MISMATCH,
                f"the application received {echo['path']!r}, not {expected.upstream_path!r}",
            )
        if echo.get("method", req.method) != req.method:
            return RowVerdict.MISMATCH, f"the application received method {echo['method']}"
        return RowVerdict.OK, ""
    status = PROXY_STATUS[expected.verdict]
    problems = []
    if observed.http_status != status:
        problems.append(f"status {observed.http_status}, not {status}")
    if observed.peer is not None:
        problems.append(f"answered by the application on {observed.peer}, not by the proxy")
    if (
        expected.verdict is L7Verdict.DENIED
        and req.method != "HEAD"
        and (observed.body or "").strip() != DENIED_BODY
    ):
        problems.append(f"body {_short(observed.body or '', 30)!r}, not {DENIED_BODY!r}")
    if problems:
        return RowVerdict.MISMATCH, "; ".join(problems)
    return RowVerdict.OK, ""


def judge_rows(
    cases: Sequence[RequestCase],
    expected: Sequence[L7Expectation],
    observed: Sequence[ProbeResult],
    *,
    dst: str,
) -> list[Row]:
    rows = []
    for case, exp, obs in zip(cases, expected, observed, strict=True):
        verdict, detail = judge(exp, obs, dst=dst)
        rows.append(Row(case, exp, obs, verdict, detail))
    return rows


# -- rendering -------------------------------------------------------------------------------


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def request_text(req: L7Request) -> str:
    parts = [req.method, req.path]
    if req.host is not None:
        parts.append(f"host={req.host}")
    parts += [f"{name}: {value}" for name, value in req.headers]
    return " ".join(parts)


def expected_text(exp: L7Expectation) -> str:
    if exp.verdict is L7Verdict.FORWARDED:
        return f"forwarded as {exp.upstream_path}"
    if exp.verdict is L7Verdict.DROPPED:
        return "dropped"
    return f"{exp.verdict.value} {exp.status}"


def observed_text(obs: ProbeResult) -> str:
    if obs.outcome is not Outcome.HTTP:
        return obs.outcome.value + (f" ({obs.error_class})" if obs.error_class else "")
    who = obs.peer or "proxy"
    path = echoed(obs.body).get("path")
    if obs.peer and path is not None:
        return f"{obs.http_status} from {who}, got {path}"
    body = (obs.body or "").strip()
    return f"{obs.http_status} from {who}" + (f" {_short(body, 24)!r}" if body else "")


def table(rows: Sequence[Row], *, limit: int = 25) -> str:
    """A fixed-width table: request, expected, observed, and why the request was sent."""
    head = ("request", "expected", "observed", "case")
    lines = [
        (
            _short(request_text(r.expected.request), 56),
            _short(expected_text(r.expected), 30),
            # A mismatch speaks for itself (expected vs observed); say why only when unjudged.
            _short(
                observed_text(r.observed)
                + (f" [{r.detail}]" if r.verdict is RowVerdict.UNJUDGED else ""),
                56,
            ),
            _short(f"{r.case.kind.value}: {r.case.label}", 48),
        )
        for r in rows[:limit]
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    if len(rows) > limit:
        out.append(f"... and {len(rows) - limit} more")
    return "\n".join(out)


def flow_lines(
    flows: Sequence[L7Flow], exp: Expectation, *, rows: Sequence[Row], limit: int = 40
) -> list[str]:
    """Access-log lines of the cell for the requests of ``rows`` (both proxies, oldest first),
    and how many other lines the cell has."""
    cell = exp.cell
    wanted = {(r.expected.request.method, r.expected.request.path) for r in rows}
    mine = [
        f
        for f in flows
        if f.source == cell.src and f.destination == cell.dst and f.port == cell.port
    ]
    hits = [f for f in mine if (f.method, f.path) in wanted]
    lines = [
        f"{f.time:.3f} {f.source} -> {f.destination}:{f.port} {f.method} {f.path} "
        f"{f.verdict} {f.status}"
        + (f" side={f.side}" if f.side else "")
        + (f" host={f.host}" if f.host else "")
        + (f" ({f.reason})" if f.reason else "")
        for f in hits[:limit]
    ]
    if len(hits) > limit:
        lines.append(f"... and {len(hits) - limit} more lines for these requests")
    if len(mine) > len(hits):
        lines.append(f"({len(mine) - len(hits)} other lines of this cell: requests judged ok)")
    return lines
