"""Evidence for a failed check on a cluster: what Hubble saw on the failing cell, Gatekeeper's
audit, the namespaces' events and the involved pods' logs, as (title, text) blocks.

Each piece is best effort: a missing component (no Hubble, no Gatekeeper) or a refused call
becomes a block that says why, never an exception, since evidence only explains a verdict that
is already decided.

Hubble: ``hubble observe`` runs inside a Cilium agent pod (the ``cilium-agent`` container
ships the CLI). With Hubble Relay (Service ``kube-system/hubble-relay``) one query sees every
node; without it each agent's local socket sees only its own node, so the agents on the
source's and the destination's nodes are both asked (egress is decided on the first, ingress on
the second).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes import inventory
from gauntlet.targets.kubernetes.client import KubeClient
from gauntlet.targets.kubernetes.workloads import PodRef

Evidence = tuple[str, str]

CILIUM_NAMESPACE = "kube-system"
CILIUM_SELECTOR = "k8s-app=cilium"
CILIUM_CONTAINER = "cilium-agent"
RELAY_SERVICE = "hubble-relay"
FLOWS_LAST = 50
EVENTS_LAST = 30
LOG_TAIL_LINES = 50


def collect_evidence(
    client: KubeClient,
    *,
    namespaces: Sequence[str],
    cell: tuple[str, str, int] | None,
    pods: Mapping[str, PodRef] | None = None,
) -> list[Evidence]:
    """Evidence blocks; ``cell`` is (source key, destination key, port) of a failing probe,
    keys as blueprint keys (translated through ``pods``) or ``ns/<real pod name>``."""
    refs = pods or {}
    out: list[Evidence] = []
    if cell is not None:
        src, dst = _pod(refs, cell[0]), _pod(refs, cell[1])
        out.append(_guard("Hubble flows", partial(hubble_flows, client, src, dst, cell[2])))
    out.append(_guard("Gatekeeper audit", partial(gatekeeper_audit, client, namespaces)))
    for ns in namespaces:
        out.append(_guard(f"Events in {ns}", partial(namespace_events, client, ns)))
    if cell is not None:
        for key in dict.fromkeys(cell[:2]):
            ref = _pod(refs, key)
            out.append(_guard(f"Logs of {key} ({ref.key})", partial(pod_logs, client, ref)))
    return out


def _pod(refs: Mapping[str, PodRef], key: str) -> PodRef:
    if key in refs:
        return refs[key]
    ns, _, name = key.partition("/")
    return PodRef(ns, name, "", "", False)


def _guard(title: str, fetch: Callable[[], str]) -> Evidence:
    try:
        return title, fetch()
    except (TargetError, OSError, ValueError, KeyError) as exc:
        return title, f"unavailable: {exc}"


# ---------------------------------------------------------------------------------------------
# Hubble


def hubble_flows(client: KubeClient, src: PodRef, dst: PodRef, port: int) -> str:
    agents = client.list("v1", "Pod", namespace=CILIUM_NAMESPACE, label_selector=CILIUM_SELECTOR)
    running = [p for p in agents if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        return f"unavailable: no running Cilium agent pod ({CILIUM_SELECTOR} in {CILIUM_NAMESPACE})"
    query = [
        "--from-pod",
        src.key,
        "--to-pod",
        dst.key,
        "--to-port",
        str(port),
        "-o",
        "jsonpb",
        "--last",
        str(FLOWS_LAST),
    ]
    relay = client.get("v1", "Service", RELAY_SERVICE, namespace=CILIUM_NAMESPACE)
    if relay is not None:
        relay_port = ((relay.get("spec") or {}).get("ports") or [{"port": 80}])[0]["port"]
        server = f"{RELAY_SERVICE}.{CILIUM_NAMESPACE}.svc:{relay_port}"
        chosen = _agent_on(running, src.node) or running[0]
        return _observe(client, chosen, ["--server", server, *query], f"via Hubble Relay {server}")
    blocks = []
    for node in dict.fromkeys(n for n in (src.node, dst.node) if n):
        agent = _agent_on(running, node)
        if agent is None:
            blocks.append(f"node {node}: no running Cilium agent pod")
            continue
        blocks.append(_observe(client, agent, query, f"local Hubble of node {node}"))
    if not blocks:
        return "unavailable: the pods' nodes are unknown and there is no Hubble Relay"
    return "\n\n".join(blocks)


def _agent_on(agents: Sequence[Mapping[str, Any]], node: str) -> Mapping[str, Any] | None:
    return next((p for p in agents if (p.get("spec") or {}).get("nodeName") == node), None)


def _observe(client: KubeClient, agent: Mapping[str, Any], args: list[str], where: str) -> str:
    name = str(agent["metadata"]["name"])
    done = client.exec(
        CILIUM_NAMESPACE,
        name,
        ["hubble", "observe", *args],
        container=CILIUM_CONTAINER,
        timeout_s=30.0,
    )
    if done.exit_code != 0:
        err = done.stderr.decode("utf-8", "replace").strip()[-500:]
        return f"{where} ({name}): hubble observe failed ({done.exit_code}): {err}"
    lines = [summarize_flow(line) for line in done.stdout.decode("utf-8", "replace").splitlines()]
    flows = [line for line in lines if line]
    body = "\n".join(flows) if flows else "no flows recorded for this cell"
    return f"{where} ({name}):\n{body}"


def summarize_flow(line: str) -> str:
    """One ``hubble observe -o jsonpb`` line as ``time verdict src -> dst proto/port ...``."""
    if not line.strip():
        return ""
    try:
        record = json.loads(line)
    except ValueError:
        return line.strip()
    flow = record.get("flow") if isinstance(record, dict) else None
    if not isinstance(flow, dict):
        return line.strip()
    ip = flow.get("IP") or {}
    l4 = flow.get("l4") or {}
    proto, ports = next(iter(l4.items()), ("", None))
    dport = ports.get("destination_port", "") if isinstance(ports, dict) else ""

    def endpoint(side: str, addr: str) -> str:
        ep = flow.get(side) or {}
        pod = f"{ep.get('namespace')}/{ep.get('pod_name')}" if ep.get("pod_name") else ""
        return pod or addr or "?"

    parts = [
        str(flow.get("time", "")),
        str(flow.get("verdict", "")),
        endpoint("source", str(ip.get("source", ""))),
        "->",
        endpoint("destination", str(ip.get("destination", ""))),
        f"{proto}/{dport}" if proto else "",
        str(flow.get("traffic_direction", "")),
    ]
    if flow.get("drop_reason_desc"):
        parts.append(f"drop: {flow['drop_reason_desc']}")
    http = (flow.get("l7") or {}).get("http")
    if isinstance(http, dict):
        parts.append(f"http {http.get('method', '')} {http.get('url', '')} {http.get('code', '')}")
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# Gatekeeper, events, logs


def gatekeeper_audit(client: KubeClient, namespaces: Sequence[str]) -> str:
    """Each constraint's audit status and its violations in ``namespaces`` (or cluster-wide)."""
    wanted = set(namespaces)
    lines = []
    for c in inventory.constraints(client):
        name = str((c.get("metadata") or {}).get("name"))
        status = c.get("status") or {}
        action = (c.get("spec") or {}).get("enforcementAction", "deny")
        stamp = status.get("auditTimestamp") or "never audited"
        lines.append(
            f"{c.get('kind')}/{name} ({action}): {status.get('totalViolations', 0)} "
            f"violations, audit {stamp}"
        )
        for v in status.get("violations") or []:
            ns = str(v.get("namespace") or "")
            if ns and ns not in wanted:
                continue
            where = f"{ns}/{v.get('name')}" if ns else str(v.get("name"))
            lines.append(f"  [{name}] {v.get('kind')} {where}: {v.get('message')}")
    return "\n".join(lines) if lines else "no constraints"


def _event_time(event: Mapping[str, Any]) -> str:
    meta = event.get("metadata") or {}
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def namespace_events(client: KubeClient, namespace: str) -> str:
    events = sorted(client.list("v1", "Event", namespace=namespace), key=_event_time)
    lines = []
    for e in events[-EVENTS_LAST:]:
        obj = e.get("involvedObject") or {}
        count = e.get("count")
        repeat = f" (x{count})" if isinstance(count, int) and count > 1 else ""
        lines.append(
            f"{_event_time(e)} {e.get('type', '')} {e.get('reason', '')} "
            f"{obj.get('kind', '')}/{obj.get('name', '')}: {e.get('message', '')}{repeat}"
        )
    return "\n".join(lines) if lines else "no events"


def pod_logs(client: KubeClient, pod: PodRef) -> str:
    if not pod.name:
        return "unavailable: no live pod"
    path = f"{client.resource_path('v1', 'Pod', namespace=pod.namespace, name=pod.name)}/log"
    resp = client.request("GET", path, query={"tailLines": str(LOG_TAIL_LINES)})
    body = resp.body
    # Logs are text/plain: the client hands non-JSON bodies over as {"message": text}.
    text = str(body["message"]) if set(body) == {"message"} else json.dumps(body)
    if not 200 <= resp.status < 300:
        return f"unavailable: {resp.status} {text}"
    return text.rstrip() or "(empty log)"
