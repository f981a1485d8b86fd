"""Tests for the probe agent, run as a real ``serve`` subprocess on loopback.

All traffic stays on 127.0.0.1. The agent binds port 0 and reports the ports it got over the
control socket, so tests never race for "free" ports. Silent destinations (what a policy DROP
looks like) are local sockets that never answer: a UDP socket nobody reads, a TCP listener that
never accepts, and a TCP listener whose accept queue is full.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gauntlet.agent import AGENT_PATH
from gauntlet.agent import agent as agent_module

POD = "tenant-a/web-0"
LOOPBACK = "127.0.0.1"
# -I -S: no site-packages, so a stray non-stdlib import would fail here as it would in the pod.
PYTHON = [sys.executable, "-I", "-S", str(AGENT_PATH)]


@dataclass(frozen=True)
class RunningAgent:
    process: subprocess.Popen[bytes]
    control: Path
    ready_file: Path
    tcp_ports: list[int]
    udp_ports: list[int]


def control(path: Path, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Send requests on one connection, one JSON line each; return the response lines."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(str(path))
        sock.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        buf = b""
        while buf.count(b"\n") < len(requests):
            chunk = sock.recv(65536)
            assert chunk, "control socket closed early"
            buf += chunk
    return [json.loads(line) for line in buf.splitlines()]


def start_agent(tmp: Path, *, tcp: str = "0,0", udp: str = "0") -> RunningAgent:
    ctl, ready = tmp / "ctl.sock", tmp / "ready"
    cmd = [*PYTHON, "serve", "--name", POD, "--tcp", tcp, "--udp", udp]
    cmd += ["--control", str(ctl), "--ready-file", str(ready)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5.0
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"agent did not become ready: {err.decode()}")
        time.sleep(0.01)
    (ping,) = control(ctl, {"op": "ping"})
    return RunningAgent(process, ctl, ready, ping["ports"]["tcp"], ping["ports"]["udp"])


def stop_agent(agent: RunningAgent) -> tuple[int, bytes]:
    agent.process.send_signal(signal.SIGTERM)
    _, err = agent.process.communicate(timeout=5)
    return agent.process.returncode, err


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path_factory.mktemp("agent"))
    yield running
    returncode, err = stop_agent(running)
    assert returncode == 0
    assert err == b"", err.decode()


@pytest.fixture
def silent_udp() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


@pytest.fixture
def never_accepting_tcp() -> Iterator[int]:
    """Completes handshakes (the kernel does) but never reads or answers."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(256)
        yield sock.getsockname()[1]


@pytest.fixture
def full_accept_queue_tcp() -> Iterator[int]:
    """Linux drops SYNs to a listener whose accept queue is full: connects go unanswered."""
    with socket.socket() as sock, socket.socket() as filler:
        sock.bind((LOOPBACK, 0))
        sock.listen(0)  # queue holds one connection
        filler.connect(sock.getsockname())
        yield sock.getsockname()[1]


@pytest.fixture
def closed_tcp() -> Iterator[int]:
    """Bound but not listening: a SYN gets an RST, and nobody else can take the port."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


def http_exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        sock.sendall(raw)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(body)


def get(path: str, *, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


# ------------------------------------------------------------------------------------------
# Serving


def test_ready_file_names_the_pod_and_control_socket_is_private(agent: RunningAgent) -> None:
    assert agent.ready_file.read_text() == POD
    assert agent.control.stat().st_mode & 0o777 == 0o600
    assert len(agent.tcp_ports) == 2 and all(p > 0 for p in agent.tcp_ports)


@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        ("GET", "/api/v1/health", 200, {"status": "ok"}),
        ("GET", "/healthz", 200, {"status": "ok"}),
        ("DELETE", "/api/v1/items/42?x=1", 200, {"item": "42"}),
        ("GET", "/admin", 200, {"admin": True}),
        ("POST", "/admin/users", 200, {"admin": True}),
        ("GET", "/nope", 404, {"error": "not found"}),
        ("GET", "/api/v1/items/", 404, {"error": "not found"}),
    ],
)
def test_http_routes(
    agent: RunningAgent, method: str, path: str, status: int, expected: dict[str, Any]
) -> None:
    got_status, headers, body = http_exchange(agent.tcp_ports[0], get(path, method=method))
    assert got_status == status
    assert headers["x-gauntlet-pod"] == POD
    assert headers["content-type"] == "application/json"
    assert body.items() >= expected.items()
    assert body["pod"] == POD and body["method"] == method and body["path"] == path
    assert body["headers"]["host"] == "x"


def test_root_names_the_port_it_was_reached_on(agent: RunningAgent) -> None:
    for port in agent.tcp_ports:
        _, _, body = http_exchange(port, get("/"))
        assert body["port"] == port


def test_keep_alive_serves_two_requests_on_one_connection(agent: RunningAgent) -> None:
    with socket.create_connection((LOOPBACK, agent.tcp_ports[0]), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/items/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        status, headers, body = read_response(sock)
        assert (status, headers["connection"], body["item"]) == (200, "keep-alive", "a")
        sock.sendall(get("/api/v1/items/b"))
        status, headers, body = read_response(sock)
        assert (status, headers["connection"], body["item"]) == (200, "close", "b")
        assert sock.recv(1) == b""  # Connection: close honoured


def test_udp_replies_with_pod_identity(agent: RunningAgent) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"hi", (LOOPBACK, agent.udp_ports[0]))
        assert sock.recvfrom(1024)[0] == POD.encode()


def test_control_ping_and_errors_share_one_connection(agent: RunningAgent) -> None:
    ping, unknown, not_object = control(agent.control, {"op": "ping"}, {"op": "x"}, [])  # type: ignore[arg-type]
    assert ping == {
        "ok": True,
        "name": POD,
        "pid": agent.process.pid,
        "ports": {"tcp": agent.tcp_ports, "udp": agent.udp_ports},
    }
    assert unknown["ok"] is False and "unknown op" in unknown["error"]
    assert not_object["ok"] is False


def test_set_latency_delays_http_responses(agent: RunningAgent) -> None:
    assert control(agent.control, {"op": "set_latency", "latency_ms": 150}) == [{"ok": True}]
    try:
        started = time.monotonic()
        http_exchange(agent.tcp_ports[0], get("/healthz"))
        assert time.monotonic() - started >= 0.15
    finally:
        control(agent.control, {"op": "set_latency", "latency_ms": 0})
    (bad,) = control(agent.control, {"op": "set_latency", "latency_ms": -1})
    assert bad["ok"] is False


def test_sigterm_exits_cleanly_and_removes_control_socket(tmp_path: Path) -> None:
    running = start_agent(tmp_path, tcp="0", udp="")
    with (
        socket.create_connection((LOOPBACK, running.tcp_ports[0]), timeout=5) as idle_http,
        socket.socket(socket.AF_UNIX) as idle_control,
    ):
        idle_http.sendall(b"GET / HTTP/1.1\r\n\r\n")
        read_response(idle_http)  # now an idle keep-alive connection
        idle_control.connect(str(running.control))
        returncode, err = stop_agent(running)
    assert returncode == 0
    assert err == b"", err.decode()
    assert not running.control.exists()


def test_serve_refuses_to_delete_a_regular_file_at_control_path(tmp_path: Path) -> None:
    precious = tmp_path / "ctl.sock"
    precious.write_text("keep me")
    cmd = [*PYTHON, "serve", "--name", POD, "--control", str(precious)]
    done = subprocess.run(cmd, capture_output=True, timeout=5)
    assert done.returncode == 1
    assert b"not a socket" in done.stderr
    assert precious.read_text() == "keep me"


# ------------------------------------------------------------------------------------------
# Probing


def test_probe_batch_classifies_every_outcome_in_request_order(
    agent: RunningAgent,
    silent_udp: int,
    never_accepting_tcp: int,
    full_accept_queue_tcp: int,
    closed_tcp: int,
) -> None:
    http_port, udp_port = agent.tcp_ports[0], agent.udp_ports[0]
    probes: list[Any] = [
        {"id": "tcp", "host": LOOPBACK, "port": http_port, "protocol": "TCP", "mode": "tcp"},
        {
            "id": "http",
            "host": LOOPBACK,
            "port": http_port,
            "protocol": "TCP",
            "mode": "http",
            "timeout_s": 2.0,
            "http": {"method": "GET", "path": "/admin", "headers": {"X-Tenant": "a"}},
        },
        {"id": "refused", "host": LOOPBACK, "port": closed_tcp, "mode": "tcp"},
        {"id": "udp", "host": LOOPBACK, "port": udp_port, "protocol": "UDP", "mode": "udp"},
        {"id": "udp-drop", "host": LOOPBACK, "port": silent_udp, "mode": "udp", "timeout_s": 0.3},
        {"id": "http-hang", "host": LOOPBACK, "port": never_accepting_tcp, "mode": "http"},
        {"id": "syn-drop", "host": LOOPBACK, "port": full_accept_queue_tcp, "mode": "tcp"},
        {"id": "bad-port", "host": LOOPBACK, "port": 0},
        "not an object",
    ]
    for probe in probes[5:7]:
        probe["timeout_s"] = 0.3
    (response,) = control(agent.control, {"op": "probe", "probes": probes, "concurrency": 4})
    assert response["ok"] is True
    results = response["results"]
    assert [r["id"] for r in results] == [*(p["id"] for p in probes[:-1]), "#8"]
    by_id = {r["id"]: r for r in results}
    assert {k: r["outcome"] for k, r in by_id.items()} == {
        "tcp": "connected",
        "http": "http",
        "refused": "refused",
        "udp": "udp_reply",
        "udp-drop": "timeout",
        "http-hang": "timeout",
        "syn-drop": "timeout",
        "bad-port": "error",
        "#8": "error",
    }
    http = by_id["http"]
    assert (http["http_status"], http["peer"], http["error_class"]) == (200, POD, None)
    echoed = json.loads(http["body"])
    assert echoed["admin"] is True and echoed["headers"]["x-tenant"] == "a"
    assert by_id["udp"]["peer"] == POD
    assert by_id["refused"]["error_class"] == "ConnectionRefusedError(ECONNREFUSED)"
    assert by_id["bad-port"]["error_class"] == "InvalidProbe(port)"
    assert 250 <= by_id["udp-drop"]["latency_ms"] < 1000
    for result in results:
        assert set(result) == {
            "id",
            "outcome",
            "latency_ms",
            "error_class",
            "http_status",
            "peer",
            "body",
        }


def test_probe_batch_rejects_a_batch_that_is_not_a_list(agent: RunningAgent) -> None:
    (response,) = control(agent.control, {"op": "probe", "probes": {}})
    assert response["ok"] is False


def test_200_silent_probes_run_concurrently(
    agent: RunningAgent, silent_udp: int, never_accepting_tcp: int
) -> None:
    probes = [
        {"id": str(i), "host": LOOPBACK, "port": silent_udp, "mode": "udp", "timeout_s": 0.5}
        if i % 2
        else {"id": str(i), "host": LOOPBACK, "port": never_accepting_tcp, "mode": "http"}
        | {"timeout_s": 0.5}
        for i in range(200)
    ]
    started = time.monotonic()
    (response,) = control(agent.control, {"op": "probe", "probes": probes})
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert [r["id"] for r in response["results"]] == [str(i) for i in range(200)]
    assert {r["outcome"] for r in response["results"]} == {"timeout"}


def test_probe_command_reads_batch_from_stdin(agent: RunningAgent, closed_tcp: int) -> None:
    batch = {
        "probes": [
            {"id": "a", "host": "localhost", "port": agent.tcp_ports[1], "mode": "http"},
            {"id": "b", "host": LOOPBACK, "port": closed_tcp, "mode": "http"},
        ],
        "concurrency": 2,
    }
    done = subprocess.run(
        [*PYTHON, "probe"], input=json.dumps(batch).encode(), capture_output=True, timeout=10
    )
    assert done.returncode == 0, done.stderr.decode()
    response = json.loads(done.stdout)
    assert [(r["id"], r["outcome"]) for r in response["results"]] == [
        ("a", "http"),
        ("b", "refused"),
    ]
    assert response["results"][0]["peer"] == POD


def test_probe_command_reports_unreadable_batch(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text("{not json")
    done = subprocess.run([*PYTHON, "probe", "--input", str(batch)], capture_output=True)
    assert done.returncode == 2
    assert json.loads(done.stdout)["ok"] is False


def test_probe_one_prints_a_single_result(agent: RunningAgent) -> None:
    port = str(agent.udp_ports[0])
    cmd = [*PYTHON, "probe-one", "--host", LOOPBACK, "--port", port, "--protocol", "UDP"]
    done = subprocess.run(cmd, capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert (result["outcome"], result["peer"]) == ("udp_reply", POD)


# ------------------------------------------------------------------------------------------
# Units


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ([], "item"),
        ({"host": "h", "port": 1}, "id"),
        ({"id": "x", "host": "", "port": 1}, "host"),
        ({"id": "x", "host": "h", "port": True}, "port"),
        ({"id": "x", "host": "h", "port": 70000}, "port"),
        ({"id": "x", "host": "h", "port": 1, "mode": "icmp"}, "mode"),
        ({"id": "x", "host": "h", "port": 1, "protocol": "UDP", "mode": "http"}, "protocol"),
        ({"id": "x", "host": "h", "port": 1, "timeout_s": 0}, "timeout_s"),
        ({"id": "x", "host": "h", "port": 1, "http": {"path": "/a b"}}, "http.path"),
        (
            {"id": "x", "host": "h", "port": 1, "http": {"headers": {"a": "b\r\nc: d"}}},
            "http.headers",
        ),
    ],
)
def test_parse_probe_names_the_bad_field(item: object, field: str) -> None:
    with pytest.raises(agent_module.InvalidProbe) as caught:
        agent_module.parse_probe(item)
    assert caught.value.field == field


def test_parse_probe_defaults_mode_and_protocol_from_each_other() -> None:
    udp = agent_module.parse_probe({"id": "u", "host": "h", "port": 53, "protocol": "UDP"})
    tcp = agent_module.parse_probe({"id": "t", "host": "h", "port": 80})
    assert (udp.mode, tcp.protocol, tcp.mode, tcp.timeout_s) == ("udp", "TCP", "tcp", 1.0)


@pytest.mark.parametrize(
    ("exc", "connected", "outcome"),
    [
        (TimeoutError(), False, "timeout"),
        (ConnectionRefusedError(111, "x"), False, "refused"),
        (ConnectionResetError(104, "x"), False, "refused"),
        (ConnectionResetError(104, "x"), True, "reset"),
        (agent_module.PeerClosed(), True, "reset"),
        (OSError(113, "no route"), False, "unreachable"),
        (OSError(101, "net unreachable"), False, "unreachable"),
        (PermissionError(1, "EPERM"), False, "error"),
        (socket.gaierror(-2, "unknown"), False, "error"),
    ],
)
def test_classify(exc: BaseException, connected: bool, outcome: str) -> None:
    assert agent_module.classify(exc, connected=connected) == outcome


def test_error_class_names_errno() -> None:
    assert agent_module.error_class_of(OSError(113, "x")) == "OSError(EHOSTUNREACH)"
    assert agent_module.error_class_of(socket.gaierror(-2, "x")) == "gaierror(EAI_NONAME)"
    assert agent_module.error_class_of(TimeoutError()) == "TimeoutError"


def test_agent_imports_only_the_standard_library() -> None:
    tree = ast.parse(AGENT_PATH.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in agent.py"
            imported.add((node.module or "").split(".")[0])
    assert imported - {"__future__"} <= sys.stdlib_module_names
    assert "gauntlet" not in imported


def test_agent_file_is_executable_by_path() -> None:
    assert os.access(AGENT_PATH, os.R_OK)
    assert AGENT_PATH.read_text().startswith("#!/usr/bin/env python3\n")
