"""Where load enters a cluster: an ingress URL, a kind port mapping, or ``kubectl port-forward``.

Priority, most faithful first:
1. An explicit ingress URL (``--ingress-url``): the platform's real north-south path.
2. kind: when the Service is a NodePort whose node port a kind ``extraPortMappings`` entry
   exposes on the host (``kind-configs/cilium-3node.yaml`` maps the ingress gateway's 30080 to
   127.0.0.1:30080), the host port. Traffic then enters like external traffic does: node port,
   Cilium's service load balancing over every backend, the policies (``fromEntities: world``).
3. ``kubectl port-forward svc/<name> :<port>``: always works, but it tunnels through the API
   server to *one* pod picked at start, bypassing Service load balancing, and Cilium sees the
   traffic as coming from the node (host entity). The URL is correct, the path is not the
   production one; prefer 1 or 2 for SLOs.

kubectl writes "Handling connection for N" to stdout for every connection: the pipe is drained
by a thread, or kubectl blocks once the pipe buffer is full and the load stalls.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from gauntlet.targets.base import TargetError
from gauntlet.targets.kind.config import KindConfigError, load_kind_config
from gauntlet.targets.kubernetes.client import KubeClient

DEFAULT_KIND_CONFIG = Path("kind-configs") / "cilium-3node.yaml"
_CHECKOUT = Path(__file__).resolve().parents[4]
PORT_FORWARD_READY_S = 15.0
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")

Popen = Callable[..., "subprocess.Popen[str]"]
_forwards: list[subprocess.Popen[str]] = []
_lock = threading.Lock()


def default_kind_config() -> Path:
    """The kind config of the working directory, else of this checkout."""
    return DEFAULT_KIND_CONFIG if DEFAULT_KIND_CONFIG.is_file() else _CHECKOUT / DEFAULT_KIND_CONFIG


def load_entrypoint(
    client: KubeClient,
    namespace: str,
    service: str,
    *,
    port: int,
    ingress_url: str | None,
    kind_config: Path | None = None,
    popen: Popen = subprocess.Popen,
) -> str:
    """A base URL (no trailing slash) through which load reaches ``service:port``.

    ``kind_config`` is the cluster's kind config; by default the repository's when the
    context is a kind one (``kind-<cluster>``).
    """
    if ingress_url:
        return ingress_url.rstrip("/")
    svc = client.get("v1", "Service", service, namespace=namespace)
    if svc is None:
        raise TargetError(f"no Service {namespace}/{service} to send load to")
    spec = svc.get("spec") or {}
    svc_port = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
    if svc_port is None:
        raise TargetError(f"Service {namespace}/{service} has no port {port}")
    config = kind_config
    if config is None and (client.context or "").startswith("kind-"):
        config = default_kind_config()
    if config is not None and spec.get("type") in ("NodePort", "LoadBalancer"):
        mapped = kind_host_port(config, int(svc_port.get("nodePort") or 0))
        if mapped is not None:
            return mapped
    return port_forward(client.context, namespace, service, port, popen=popen)


def kind_host_port(config: Path, node_port: int) -> str | None:
    """``http://host:port`` where kind exposes ``node_port`` on the host, or None."""
    if not node_port:
        return None
    try:
        cluster, _ = load_kind_config(config)
    except KindConfigError:
        return None
    for container_port, host_port, listen in cluster.host_ports():
        if container_port == node_port:
            host = listen if listen and listen not in ("0.0.0.0", "::") else "127.0.0.1"
            return f"http://{host}:{host_port or container_port}"
    return None


def port_forward_argv(context: str | None, namespace: str, service: str, port: int) -> list[str]:
    argv = ["kubectl"]
    if context:
        argv += ["--context", context]
    return [
        *argv,
        "-n",
        namespace,
        "port-forward",
        "--address",
        "127.0.0.1",
        f"svc/{service}",
        f":{port}",
    ]


def port_forward(
    context: str | None,
    namespace: str,
    service: str,
    port: int,
    *,
    popen: Popen = subprocess.Popen,
    ready_s: float = PORT_FORWARD_READY_S,
) -> str:
    """Start ``kubectl port-forward`` and return its local URL once it listens."""
    argv = port_forward_argv(context, namespace, service, port)
    try:
        proc = popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        raise TargetError(f"cannot run kubectl for port-forward: {exc}") from None
    with _lock:
        _forwards.append(proc)
    local = _wait_forwarding(proc, ready_s)
    if local is None:
        _stop(proc)
        err = proc.stderr.read() if proc.stderr is not None else ""
        raise TargetError(
            f"kubectl port-forward svc/{service} in {namespace} did not start within "
            f"{ready_s:.0f}s: {err.strip()[-500:] or 'no output'}"
        )
    return f"http://127.0.0.1:{local}"


def _wait_forwarding(proc: subprocess.Popen[str], ready_s: float) -> int | None:
    """The local port from kubectl's first "Forwarding from" line; stdout is drained from
    then on."""
    found: list[int] = []
    ready = threading.Event()
    stream = proc.stdout
    if stream is None:
        return None

    def drain(out: IO[str]) -> None:
        for line in out:
            match = _FORWARDING.search(line)
            if match and not found:
                found.append(int(match.group(1)))
                ready.set()
        ready.set()  # EOF: kubectl exited

    threading.Thread(target=drain, args=(stream,), daemon=True, name="port-forward").start()
    deadline = time.monotonic() + ready_s
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            return None
    return found[0] if found else None


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def close_port_forwards() -> None:
    """Stop every port-forward this process started."""
    with _lock:
        procs, _forwards[:] = list(_forwards), []
    for proc in procs:
        _stop(proc)


def active_port_forwards() -> Sequence[subprocess.Popen[str]]:
    with _lock:
        return tuple(_forwards)
