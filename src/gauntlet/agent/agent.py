#!/usr/bin/env python3
"""Gauntlet agent: serve a tenant's sample app and probe destinations, in one stdlib-only file.

Design notes
- The same file runs as a process inside a sandbox network namespace and as a container from a
  stock ``python:3.11-slim`` image with this file mounted from a ConfigMap. Hence: standard
  library only, a single file, nothing imported from ``gauntlet``, and no ``ssl`` (see the guard
  below the imports; it saves ~5 MiB of RSS per process).
- ``serve`` binds 0.0.0.0 on the app's TCP ports (minimal HTTP/1.1 with keep-alive, JSON
  bodies) and UDP ports (reply with the pod's identity). Every answer names the pod
  (``X-Gauntlet-Pod`` header, UDP payload) so a probe tells *who* answered, not only *that*
  something answered. An optional Unix control socket speaks newline-delimited JSON.
- ``probe`` runs one batch read from stdin or a file (Kubernetes drivers: one ``exec`` per source
  pod); ``probe-one`` runs a single probe (baseline for the one-process-per-probe benchmark);
  ``control`` sends one request line to a serving agent's control socket (clusters reach the
  socket only through ``exec`` into the pod).
- Probes use raw non-blocking sockets with the loop's ``sock_*`` calls rather than streams: fewer
  objects per probe and the errno stays visible for classification. A batch runs on at most
  ``concurrency`` workers, each holding at most one socket, so descriptors stay bounded; results
  keep request order. Each probe has its own deadline covering resolve + connect + exchange.
- Outcomes: ``connected`` / ``http`` / ``udp_reply`` on success; ``refused`` (RST, ICMP port
  unreachable), ``timeout`` (silence: what a policy DROP looks like), ``unreachable`` (ICMP
  host/net unreachable, which is also how Linux reports an ICMP admin-prohibited reject),
  ``reset`` (peer reset or closed after the handshake), ``error`` (anything else, including a
  malformed probe item). Local netfilter drops of *UDP* sends surface as ``error`` with
  ``PermissionError(EPERM)``: the kernel fails ``send()`` instead of staying silent.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "ssl" not in sys.modules:
    # asyncio imports ssl only optionally; a None entry makes that import fail cleanly, so the
    # agent never maps libssl/libcrypto (~5 MiB RSS). The agent speaks no TLS.
    sys.modules["ssl"] = None  # type: ignore[assignment]

import argparse
import asyncio
import contextlib
import errno
import json
import math
import os
import resource
import signal
import socket
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypedDict, cast

DEFAULT_CONCURRENCY = 1024
DEFAULT_TIMEOUT_S = 1.0
BODY_PREVIEW_CHARS = 512
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024
CONTROL_LINE_LIMIT_BYTES = 64 * 1024 * 1024
KEEPALIVE_IDLE_S = 60.0
LISTEN_BACKLOG = 1024
# Descriptors kept free for listeners, the control socket and stdio when clamping concurrency.
FD_RESERVE = 64
RESOLVER_THREADS = 16
UDP_PROBE_PREFIX = b"gauntlet-probe "
USER_AGENT = "gauntlet-agent/1"

OUTCOMES = ("connected", "http", "udp_reply", "refused", "timeout", "unreachable", "reset", "error")
_UNREACHABLE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN})
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


# --------------------------------------------------------------------------------------------
# Probe data


class ProbeResult(TypedDict):
    id: str
    outcome: str
    latency_ms: float
    error_class: str | None
    http_status: int | None
    peer: str | None
    body: str | None


class Probe(NamedTuple):
    id: str
    host: str
    port: int
    protocol: str
    mode: str
    timeout_s: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class InvalidProbe(ValueError):
    """A probe item the agent cannot run; ``field`` names the offending key."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class PeerClosed(ConnectionError):
    """The peer closed the connection before a complete response arrived."""


class ProtocolError(ValueError):
    """The peer answered something that is not HTTP/1.x."""


def _is_header_safe(text: str) -> bool:
    return "\r" not in text and "\n" not in text and "\0" not in text


def parse_probe(item: object) -> Probe:
    """Validate one request item; raise `InvalidProbe` naming the field to fix."""
    if not isinstance(item, dict):
        raise InvalidProbe("item", "must be a JSON object")
    probe_id = item.get("id")
    if not isinstance(probe_id, str):
        raise InvalidProbe("id", "must be a string")
    host = item.get("host")
    if not isinstance(host, str) or not host or not _is_header_safe(host):
        raise InvalidProbe("host", "must be a non-empty string")
    port = item.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidProbe("port", "must be an integer in 1..65535")
    mode = item.get("mode")
    protocol = item.get("protocol")
    if mode is None:
        mode = "udp" if protocol == "UDP" else "tcp"
    if protocol is None:
        protocol = "UDP" if mode == "udp" else "TCP"
    if mode not in ("tcp", "http", "udp"):
        raise InvalidProbe("mode", "must be one of tcp, http, udp")
    if protocol not in ("TCP", "UDP") or (protocol == "UDP") != (mode == "udp"):
        raise InvalidProbe("protocol", "must be TCP for modes tcp/http and UDP for mode udp")
    timeout_s = item.get("timeout_s", DEFAULT_TIMEOUT_S)
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not math.isfinite(timeout_s)
        or timeout_s <= 0
    ):
        raise InvalidProbe("timeout_s", "must be a positive number of seconds")
    http = item.get("http") or {}
    if not isinstance(http, dict):
        raise InvalidProbe("http", "must be an object")
    method = http.get("method", "GET")
    if not isinstance(method, str) or not method or not set(method) <= _TOKEN_CHARS:
        raise InvalidProbe("http.method", "must be an HTTP token such as GET")
    path = http.get("path", "/")
    if not isinstance(path, str) or not path or any(c.isspace() for c in path) or "\0" in path:
        raise InvalidProbe("http.path", "must be a request target without whitespace")
    headers = http.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str)
        and isinstance(v, str)
        and k
        and set(k) <= _TOKEN_CHARS
        and _is_header_safe(v)
        for k, v in headers.items()
    ):
        raise InvalidProbe("http.headers", "must map header names to single-line strings")
    body = http.get("body", "")
    if not isinstance(body, str):
        raise InvalidProbe("http.body", "must be a string")
    return Probe(
        id=probe_id,
        host=host,
        port=port,
        protocol=protocol,
        mode=mode,
        timeout_s=float(timeout_s),
        method=method,
        path=path,
        headers=dict(headers),
        body=body.encode(),
    )


def _result(
    probe_id: str,
    outcome: str,
    *,
    latency_ms: float = 0.0,
    error_class: str | None = None,
    http_status: int | None = None,
    peer: str | None = None,
    body: str | None = None,
) -> ProbeResult:
    return {
        "id": probe_id,
        "outcome": outcome,
        "latency_ms": round(latency_ms, 3),
        "error_class": error_class,
        "http_status": http_status,
        "peer": peer,
        "body": body,
    }


def error_class_of(exc: BaseException) -> str:
    """``ClassName(ERRNO)`` when the exception carries an errno, else ``ClassName``."""
    name = type(exc).__name__
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        return name
    if isinstance(exc, socket.gaierror):
        label = next(
            (n for n in dir(socket) if n.startswith("EAI_") and getattr(socket, n) == code),
            str(code),
        )
    else:
        label = errno.errorcode.get(code, str(code))
    return f"{name}({label})"


def classify(exc: BaseException, *, connected: bool) -> str:
    """Map a probe failure to an outcome; ``connected`` tells a reset from a refusal."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(
        exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | PeerClosed
    ):
        # An RST answering the SYN is a refusal; one after the handshake is a reset.
        return "reset" if connected else "refused"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return "unreachable"
    return "error"


# --------------------------------------------------------------------------------------------
# Running probes

_resolver: ThreadPoolExecutor | None = None


async def _resolve(host: str, port: int, *, socktype: int) -> tuple[int, tuple[Any, ...]]:
    """Return (family, sockaddr); IP literals skip the resolver entirely."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family, ((host, port) if family == socket.AF_INET else (host, port, 0, 0))
    global _resolver
    if _resolver is None:
        # Own executor, not the loop's default: asyncio.run() joins the default executor at
        # exit, and a getaddrinfo() stuck on an unreachable DNS server cannot be cancelled.
        _resolver = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="resolve")
    loop = asyncio.get_running_loop()
    infos = await loop.run_in_executor(
        _resolver, lambda: socket.getaddrinfo(host, port, type=socktype)
    )
    # Prefer IPv4: the app listens on 0.0.0.0 only, and "localhost" often resolves to ::1 first.
    family, _, _, _, sockaddr = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return family, sockaddr


class _Attempt:
    """Mutable progress of one probe, read by the runner when the probe fails or times out."""

    __slots__ = ("connected", "sock")

    def __init__(self) -> None:
        self.connected = False
        self.sock: socket.socket | None = None


async def _connect_tcp(probe: Probe, attempt: _Attempt) -> socket.socket:
    family, sockaddr = await _resolve(probe.host, probe.port, socktype=socket.SOCK_STREAM)
    sock = attempt.sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    attempt.connected = True
    return sock


async def _probe_udp(probe: Probe, attempt: _Attempt) -> ProbeResult:
    family, sockaddr = await _resolve(probe.host, probe.port, socktype=socket.SOCK_DGRAM)
    sock = attempt.sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    # A connected UDP socket receives ICMP port-unreachable as ECONNREFUSED on recv().
    sock.connect(sockaddr)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, UDP_PROBE_PREFIX + probe.id.encode())
    reply = await loop.sock_recv(sock, 65535)
    text = reply.decode("utf-8", "replace")
    return _result(probe.id, "udp_reply", peer=text)


def _http_request(probe: Probe) -> bytes:
    host = f"[{probe.host}]" if ":" in probe.host else probe.host
    headers = {"host": f"{host}:{probe.port}", "user-agent": USER_AGENT, "accept": "*/*"}
    headers.update((k.lower(), v) for k, v in probe.headers.items())
    # Always close: one exchange per connection keeps the probe's deadline meaningful.
    headers["connection"] = "close"
    if probe.body or probe.method in ("POST", "PUT", "PATCH"):
        headers["content-length"] = str(len(probe.body))
    lines = [f"{probe.method} {probe.path} HTTP/1.1"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + probe.body


def _dechunk(data: bytes) -> bytes | None:
    """Decode a chunked body; None while incomplete. Trailers are ignored."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(data[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("bad chunk size") from None
        pos = eol + 2
        if size == 0:
            return bytes(out)
        if len(data) < pos + size + 2:
            return None
        out += data[pos : pos + size]
        pos += size + 2


def _parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError("not an HTTP/1.x status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _probe_http(probe: Probe, attempt: _Attempt) -> ProbeResult:
    sock = await _connect_tcp(probe, attempt)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, _http_request(probe))
    buf = bytearray()

    async def receive() -> None:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            raise PeerClosed("peer closed before the response was complete")
        buf.extend(chunk)

    while True:  # skip interim 1xx responses
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise ProtocolError("response head too large")
            await receive()
        status, headers = _parse_response_head(bytes(buf[:end]))
        del buf[: end + 4]
        if not 100 <= status < 200 or status == 101:
            break
    if probe.method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while (decoded := _dechunk(bytes(buf))) is None and len(buf) < MAX_BODY_BYTES:
            await receive()
        body = decoded if decoded is not None else bytes(buf)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise ProtocolError("bad Content-Length") from None
        while len(buf) < min(length, MAX_BODY_BYTES):
            await receive()
        body = bytes(buf[:length])
    else:  # delimited by close, which we asked for
        while len(buf) < MAX_BODY_BYTES:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                break
            buf.extend(chunk)
        body = bytes(buf)
    return _result(
        probe.id,
        "http",
        http_status=status,
        peer=headers.get("x-gauntlet-pod"),
        body=body.decode("utf-8", "replace")[:BODY_PREVIEW_CHARS],
    )


async def _probe_tcp(probe: Probe, attempt: _Attempt) -> ProbeResult:
    await _connect_tcp(probe, attempt)
    return _result(probe.id, "connected")


_MODES = {"tcp": _probe_tcp, "http": _probe_http, "udp": _probe_udp}


async def run_probe(item: object, *, index: int = 0) -> ProbeResult:
    """Run one request item to a result. Never raises (except on cancellation)."""
    try:
        probe = parse_probe(item)
    except InvalidProbe as exc:
        raw_id = item.get("id") if isinstance(item, dict) else None
        probe_id = raw_id if isinstance(raw_id, str) else f"#{index}"
        return _result(probe_id, "error", error_class=f"InvalidProbe({exc.field})", body=str(exc))
    attempt = _Attempt()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(probe.timeout_s):
            result = await _MODES[probe.mode](probe, attempt)
    except Exception as exc:  # one bad probe must not sink the batch
        result = _result(
            probe.id, classify(exc, connected=attempt.connected), error_class=error_class_of(exc)
        )
    finally:
        if attempt.sock is not None:
            attempt.sock.close()
    result["latency_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    return result


def fd_budget() -> int:
    """How many probe sockets may be open at once, after raising the soft descriptor limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(1, (1 << 20 if soft == resource.RLIM_INFINITY else soft) - FD_RESERVE)


async def run_batch(items: list[object], *, concurrency: int) -> list[ProbeResult]:
    """Run probes concurrently on at most ``concurrency`` workers; results in request order."""
    results: list[ProbeResult | None] = [None] * len(items)
    pending = iter(range(len(items)))  # shared: each worker pulls the next index

    async def worker() -> None:
        for i in pending:
            results[i] = await run_probe(items[i], index=i)

    workers = min(concurrency, fd_budget(), len(items))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return [r for r in results if r is not None]


async def handle_probe_request(request: dict[str, Any]) -> dict[str, Any]:
    """``{"probes": [...], "concurrency": N}`` to ``{"ok": true, "results": [...]}``."""
    probes = request.get("probes")
    if not isinstance(probes, list):
        return {"ok": False, "error": "'probes' must be a list of probe objects"}
    concurrency = request.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        return {"ok": False, "error": "'concurrency' must be a positive integer"}
    return {"ok": True, "results": await run_batch(probes, concurrency=concurrency)}


# --------------------------------------------------------------------------------------------
# Serving


class AgentState:
    """What the serving agent knows about itself; ``latency_s`` and ``error_ratio`` (planted
    faults) are set over the control socket."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.name_bytes = name.encode()
        self.tcp_ports: list[int] = []
        self.udp_ports: list[int] = []
        self.latency_s = 0.0
        self.error_ratio = 0.0
        self.answered = 0

    def next_fails(self) -> bool:
        """Whether the next HTTP answer is an injected 503: exactly ``error_ratio`` of the
        answers since the ratio was set, evenly spaced (deterministic, unlike a coin flip, so a
        short run sees its share)."""
        if self.error_ratio <= 0:
            return False
        self.answered += 1
        n = self.answered
        return int(n * self.error_ratio) > int((n - 1) * self.error_ratio)


class HttpRequest(NamedTuple):
    method: str
    target: str
    version: str
    headers: dict[str, str]


class BadRequest(ValueError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def parse_request_head(head: bytes) -> HttpRequest:
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[0]:
        raise BadRequest(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"malformed header line {line!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return HttpRequest(method=parts[0], target=parts[1], version=parts[2], headers=headers)


def _route_path(target: str) -> str:
    if "://" in target:  # absolute-form, as sent to forward proxies
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0]


def route(request: HttpRequest, *, pod: str, port: int) -> tuple[int, dict[str, Any]]:
    """The sample app. ``/admin`` is allowed here on purpose: denying it is the policy's job."""
    path = _route_path(request.target)
    items_prefix = "/api/v1/items/"
    payload: dict[str, Any]
    if path in ("/api/v1/health", "/healthz"):
        if request.method in ("GET", "HEAD"):
            status, payload = 200, {"status": "ok"}
        else:
            status, payload = 405, {"error": "method not allowed"}
    elif path.startswith(items_prefix) and "/" not in (item_id := path[len(items_prefix) :]):
        status, payload = (200, {"item": item_id}) if item_id else (404, {"error": "not found"})
    elif path == "/admin" or path.startswith("/admin/"):
        status, payload = 200, {"admin": True}
    elif path == "/":
        status, payload = 200, {"port": port}
    else:
        status, payload = 404, {"error": "not found"}
    payload.update(pod=pod, method=request.method, path=request.target, headers=request.headers)
    return status, payload


def encode_response(
    status: int, payload: dict[str, Any], *, pod: str, keep_alive: bool, head_only: bool = False
) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Gauntlet-Pod: {pod}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)


def _wants_keep_alive(request: HttpRequest) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    if request.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _serve_http(
    state: AgentState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    port = int(writer.get_extra_info("sockname")[1])
    try:
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_IDLE_S):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, TimeoutError):
                return
            except asyncio.LimitOverrunError:
                raise BadRequest(431, "request head too large") from None
            request = parse_request_head(head)
            if "transfer-encoding" in request.headers:
                raise BadRequest(501, "only Content-Length request bodies are supported")
            length_text = request.headers.get("content-length", "0")
            if not length_text.isdigit():
                raise BadRequest(400, "bad Content-Length")
            if int(length_text) > MAX_REQUEST_BODY_BYTES:
                raise BadRequest(413, "request body too large")
            if request.headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # else curl stalls 1 s
            await reader.readexactly(int(length_text))
            status, payload = route(request, pod=state.name, port=port)
            if state.next_fails():
                status, payload = 503, {"error": "injected fault: error_ratio", "pod": state.name}
            keep_alive = _wants_keep_alive(request)
            if state.latency_s > 0:
                await asyncio.sleep(state.latency_s)
            writer.write(
                encode_response(
                    status,
                    payload,
                    pod=state.name,
                    keep_alive=keep_alive,
                    head_only=request.method == "HEAD",
                )
            )
            await writer.drain()
            if not keep_alive:
                return
    except BadRequest as exc:
        payload = {"error": str(exc), "pod": state.name}
        with contextlib.suppress(OSError):
            writer.write(encode_response(exc.status, payload, pod=state.name, keep_alive=False))
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        # Shutdown cancels open keep-alive connections. Returning instead of re-raising avoids
        # Python 3.11's StreamReaderProtocol calling task.exception() on a cancelled task and
        # logging a traceback (fixed in 3.12).
        pass
    finally:
        writer.close()


class EchoIdentity(asyncio.DatagramProtocol):
    """Answer every datagram with the pod's name, so the prober learns who received it."""

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport at runtime.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(self.name, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies; nothing to do


def _finite_number(value: object) -> float | None:
    """A JSON number (not a boolean, not NaN/inf) as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


async def handle_control(state: AgentState, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except ValueError as exc:
        return {"ok": False, "error": f"invalid JSON: {exc}"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    op = request.get("op")
    if op == "ping":
        return {
            "ok": True,
            "name": state.name,
            "pid": os.getpid(),
            "ports": {"tcp": state.tcp_ports, "udp": state.udp_ports},
        }
    if op == "probe":
        return await handle_probe_request(request)
    if op == "set_latency":
        latency_ms = _finite_number(request.get("latency_ms"))
        if latency_ms is None or latency_ms < 0:
            return {"ok": False, "error": "'latency_ms' must be a non-negative number"}
        state.latency_s = latency_ms / 1000.0
        return {"ok": True}
    if op == "set_error_ratio":
        ratio = _finite_number(request.get("error_ratio"))
        if ratio is None or not 0 <= ratio <= 1:
            return {"ok": False, "error": "'error_ratio' must be a number in 0..1"}
        state.error_ratio = ratio
        state.answered = 0
        return {"ok": True}
    return {
        "ok": False,
        "error": f"unknown op {op!r}; expected ping, probe, set_latency or set_error_ratio",
    }


async def _serve_control(
    state: AgentState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # line longer than the stream limit
                writer.write(b'{"ok":false,"error":"request line too long"}\n')
                await writer.drain()
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                response = await handle_control(state, line)
            except Exception as exc:  # a bug here must not cost the caller its connection
                response = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(response, separators=(",", ":")).encode() + b"\n")
            await writer.drain()
    except OSError:
        pass
    except asyncio.CancelledError:
        pass  # shutdown; see _serve_http
    finally:
        writer.close()


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(errno.EEXIST, "exists and is not a socket; remove it", path)
    os.unlink(path)


def _write_ready_file(path: str, name: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name)
    os.replace(tmp, path)


async def serve(
    name: str,
    *,
    tcp_ports: list[int],
    udp_ports: list[int],
    control: str | None,
    ready_file: str | None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fd_budget()  # raise the soft descriptor limit once, before listeners and probes need it
    state = AgentState(name)
    servers: list[asyncio.Server] = []
    transports: list[asyncio.BaseTransport] = []
    control_bound = False
    try:
        for port in tcp_ports:
            server = await asyncio.start_server(
                lambda r, w: _serve_http(state, r, w),
                host="0.0.0.0",
                port=port,
                limit=MAX_HEAD_BYTES,
                backlog=LISTEN_BACKLOG,
            )
            servers.append(server)
            state.tcp_ports.append(server.sockets[0].getsockname()[1])
        for port in udp_ports:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: EchoIdentity(state.name_bytes), local_addr=("0.0.0.0", port)
            )
            transports.append(udp)
            state.udp_ports.append(udp.get_extra_info("sockname")[1])
        if control is not None:
            _remove_stale_socket(control)
            old_umask = os.umask(0o177)  # never expose the socket, even briefly
            try:
                servers.append(
                    await asyncio.start_unix_server(
                        lambda r, w: _serve_control(state, r, w),
                        path=control,
                        limit=CONTROL_LINE_LIMIT_BYTES,
                    )
                )
            finally:
                os.umask(old_umask)
            control_bound = True
            os.chmod(control, 0o600)
        if ready_file is not None:
            _write_ready_file(ready_file, name)
        await stop.wait()
        return 0
    except OSError as exc:
        print(f"agent: cannot listen: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.close()
        for transport in transports:
            transport.close()
        if control is not None and control_bound:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(control)


# --------------------------------------------------------------------------------------------
# Command line


def _port_list(text: str) -> list[int]:
    try:
        ports = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ports like 8080,9090") from None
    if not all(0 <= p <= 65535 for p in ports):
        raise argparse.ArgumentTypeError(f"{text!r}: ports must be in 0..65535 (0 = any free)")
    return ports


def _pod_name(text: str) -> str:
    if not text or not text.isprintable() or not text.isascii():
        raise argparse.ArgumentTypeError("--name must be printable ASCII, e.g. tenant-a/web-0")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("serve", help="serve the sample app and the control socket")
    s.add_argument("--name", required=True, type=_pod_name, help="NS/POD identity")
    s.add_argument("--tcp", type=_port_list, default=[], help="HTTP ports, e.g. 8080,9090")
    s.add_argument("--udp", type=_port_list, default=[], help="UDP echo-identity ports")
    s.add_argument("--control", help="Unix socket for newline-delimited JSON control")
    s.add_argument("--ready-file", help="written with NS/POD once every listener is bound")
    p = commands.add_parser("probe", help="run one JSON batch and print the results")
    p.add_argument("--input", default="-", help="file with the batch JSON; '-' for stdin")
    o = commands.add_parser("probe-one", help="run a single probe and print its result")
    o.add_argument("--host", required=True)
    o.add_argument("--port", required=True, type=int)
    o.add_argument("--protocol", choices=("TCP", "UDP"), default=None)
    o.add_argument("--mode", choices=("tcp", "http", "udp"), default=None)
    o.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    o.add_argument("--path", default="/", help="request target for mode http")
    o.add_argument("--method", default="GET", help="request method for mode http")
    c = commands.add_parser("control", help="send one request to a serving agent's socket")
    c.add_argument("--socket", required=True, help="the serving agent's --control socket")
    c.add_argument("request", help='one JSON object, e.g. {"op":"set_latency","latency_ms":500}')
    c.add_argument("--timeout", type=float, default=10.0, help="seconds")
    return parser


def send_control(path: str, request: str, *, timeout_s: float) -> dict[str, Any]:
    """One request line to a serving agent's control socket, its one response line back (for
    clusters, where only ``exec`` reaches the socket inside the pod)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(request.strip().encode() + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf.extend(chunk)
    response = json.loads(buf) if buf.strip() else {"ok": False, "error": "no response"}
    return response if isinstance(response, dict) else {"ok": False, "error": "not an object"}


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return asyncio.run(
            serve(
                args.name,
                tcp_ports=args.tcp,
                udp_ports=args.udp,
                control=args.control,
                ready_file=args.ready_file,
            )
        )
    if args.command == "probe":
        try:
            if args.input == "-":
                raw = sys.stdin.read()
            else:
                with open(args.input, encoding="utf-8") as f:
                    raw = f.read()
            request = json.loads(raw)
        except (OSError, ValueError) as exc:
            _print_json({"ok": False, "error": f"cannot read batch: {exc}"})
            return 2
        if not isinstance(request, dict):
            _print_json({"ok": False, "error": 'batch must be {"probes": [...]}'})
            return 2
        response = asyncio.run(handle_probe_request(request))
        _print_json(response)
        return 0 if response["ok"] else 2
    if args.command == "control":
        try:
            reply = send_control(args.socket, args.request, timeout_s=args.timeout)
        except (OSError, ValueError) as exc:
            reply = {"ok": False, "error": f"control socket {args.socket}: {exc}"}
        _print_json(reply)
        return 0 if reply.get("ok") else 2
    item: dict[str, Any] = {"id": "probe-one", "host": args.host, "port": args.port}
    item.update(timeout_s=args.timeout, http={"method": args.method, "path": args.path})
    if args.protocol is not None:
        item["protocol"] = args.protocol
    if args.mode is not None:
        item["mode"] = args.mode
    _print_json(asyncio.run(run_probe(item)))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's join of resolver threads: one stuck in getaddrinfo() on a dead DNS
    # server would hold the exit for tens of seconds after the results are already printed.
    os._exit(code)
