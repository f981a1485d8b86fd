"""Probe batches on a cluster: one ``exec`` per source pod runs the agent's ``probe`` command on
that source's whole row, all sources at once.

Design notes
- Upstream e2e and Cyclonus exec once per probe (93 s for an 81-cell matrix with 3 workers);
  here a row is one exec, whose agent probes its destinations concurrently, so a round costs
  about one probe timeout plus one exec round trip, whatever the matrix size.
- Destinations are pod IPs from ``PodRef`` (never Service names or DNS): the cell under test is
  the pod-to-pod path, and a DNS failure must not read as a policy drop.
- Anything that keeps a row from running (source pod missing, exec refused, agent crashed,
  unreadable output) makes every result of that row ``Outcome.ERROR`` with the reason in
  ``error_class`` and ``body``: an error is inconclusive, never a pass or a drop.
- The agent names itself ``ns/<real pod name>``; answers are translated back to blueprint keys
  (``ns/<deployment>-<i>``) so suites compare ``peer`` with the keys they asked about.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from gauntlet.targets.base import Outcome, ProbeRequest, ProbeResult, TargetError
from gauntlet.targets.kubernetes.client import KubeClient
from gauntlet.targets.kubernetes.workloads import AGENT_ARGV, PodRef

MAX_PARALLEL_EXECS = 32
"""Concurrent exec streams (each a websocket to the API server, proxied to the kubelet)."""
AGENT_CONCURRENCY = 256
"""Probes in flight per source pod; the agent also clamps to its descriptor budget."""
EXEC_OVERHEAD_S = 30.0
"""Slack on top of the probes' own timeouts: API server + kubelet + Python start-up."""
_OUTCOMES = {o.value: o for o in Outcome}


def run_probes(
    client: KubeClient,
    requests: Sequence[ProbeRequest],
    *,
    pods: Mapping[str, PodRef],
) -> list[ProbeResult]:
    """Results in request order; one exec per source pod, all sources concurrently."""
    rows: dict[str, list[int]] = {}
    for i, req in enumerate(requests):
        rows.setdefault(req.src, []).append(i)
    results: list[ProbeResult | None] = [None] * len(requests)
    names = {ref.key: key for key, ref in pods.items()}
    if rows:
        workers = min(MAX_PARALLEL_EXECS, len(rows))
        with ThreadPoolExecutor(workers, thread_name_prefix="probe-exec") as pool:
            futures = {
                src: pool.submit(
                    _run_row, client, pods.get(src), [requests[i] for i in idx], pods, names
                )
                for src, idx in rows.items()
            }
            for src, future in futures.items():
                for i, result in zip(rows[src], future.result(), strict=True):
                    results[i] = result
    return [r for r in results if r is not None]


def _error(req: ProbeRequest, error_class: str, detail: str) -> ProbeResult:
    return ProbeResult(
        id=req.id, outcome=Outcome.ERROR, latency_ms=0.0, error_class=error_class, body=detail
    )


def probe_item(req: ProbeRequest, host: str) -> dict[str, Any]:
    """One item of the agent's batch format (``agent.py`` ``parse_probe``)."""
    item: dict[str, Any] = {
        "id": req.id,
        "host": host,
        "port": req.port,
        "protocol": req.protocol,
        "mode": req.mode.value,
        "timeout_s": req.timeout_s,
    }
    if req.http is not None:
        item["http"] = {
            "method": req.http.method,
            "path": req.http.path,
            "headers": dict(req.http.headers),
        }
    return item


def _run_row(
    client: KubeClient,
    src: PodRef | None,
    row: list[ProbeRequest],
    pods: Mapping[str, PodRef],
    names: Mapping[str, str],
) -> list[ProbeResult]:
    """One source's row; never raises (a failure becomes ERROR results)."""
    if src is None or not src.name:
        return [_error(r, "SourcePodNotFound", f"no running pod for {r.src}") for r in row]
    out: list[ProbeResult | None] = [None] * len(row)
    items: list[dict[str, Any]] = []
    sent: list[int] = []
    for i, req in enumerate(row):
        dst = pods.get(req.dst)
        if dst is None or not dst.ip:
            out[i] = _error(req, "DestinationPodNotFound", f"no pod IP for {req.dst}")
            continue
        items.append(probe_item(req, dst.ip))
        sent.append(i)
    if items:
        answers = _exec_batch(client, src, items, [row[i] for i in sent])
        for i, result in zip(sent, answers, strict=True):
            out[i] = _with_key(result, names)
    return [r for r in out if r is not None]


def exec_timeout_s(items: Sequence[Mapping[str, Any]]) -> float:
    """How long one row may take: its waves of probes, each up to the longest timeout."""
    longest = max(float(item["timeout_s"]) for item in items)
    waves = math.ceil(len(items) / AGENT_CONCURRENCY)
    return waves * longest + EXEC_OVERHEAD_S


def _exec_batch(
    client: KubeClient, src: PodRef, items: list[dict[str, Any]], reqs: list[ProbeRequest]
) -> list[ProbeResult]:
    stdin = json.dumps({"probes": items, "concurrency": AGENT_CONCURRENCY}).encode()
    where = f"exec into {src.key}"
    try:
        done = client.exec(
            src.namespace,
            src.name,
            [*AGENT_ARGV, "probe"],
            stdin=stdin,
            timeout_s=exec_timeout_s(items),
        )
    except (TargetError, OSError) as exc:
        return [_error(r, f"ExecFailed({type(exc).__name__})", f"{where}: {exc}") for r in reqs]
    stderr = done.stderr.decode("utf-8", "replace").strip()[-2000:]
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or not reply.get("ok"):
        reason = reply.get("error") if isinstance(reply, dict) else None
        detail = f"{where}: exit code {done.exit_code}; {reason or stderr or 'no output'}"
        return [_error(r, f"AgentFailed(exit={done.exit_code})", detail) for r in reqs]
    answers = reply.get("results")
    if not isinstance(answers, list) or len(answers) != len(reqs):
        detail = f"{where}: agent returned {len(answers or [])} results for {len(reqs)} probes"
        return [_error(r, "AgentProtocolError", detail) for r in reqs]
    return [_parse_result(req, answer, where) for req, answer in zip(reqs, answers, strict=True)]


def _parse_result(req: ProbeRequest, answer: object, where: str) -> ProbeResult:
    if not isinstance(answer, dict) or answer.get("id") != req.id:
        return _error(req, "AgentProtocolError", f"{where}: result out of order for {req.id}")
    outcome = _OUTCOMES.get(str(answer.get("outcome")))
    if outcome is None:
        return _error(req, "AgentProtocolError", f"{where}: unknown outcome {answer!r}")
    status = answer.get("http_status")
    return ProbeResult(
        id=req.id,
        outcome=outcome,
        latency_ms=float(answer.get("latency_ms") or 0.0),
        error_class=answer.get("error_class"),
        http_status=int(status) if isinstance(status, int) else None,
        peer=answer.get("peer"),
        body=answer.get("body"),
    )


def _with_key(result: ProbeResult, names: Mapping[str, str]) -> ProbeResult:
    """``peer`` as the blueprint key of the pod that answered (unchanged if unknown)."""
    if result.peer is None or result.peer not in names:
        return result
    return replace(result, peer=names[result.peer])
