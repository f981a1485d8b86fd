"""run_load end to end without the sandbox: the Locust child against a stub HTTP server on
loopback, its stream, the report, errors, and cleanup on Ctrl-C, crash and SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from gauntlet.load.profiles import LoadProfile
from gauntlet.load.runner import LiveStats, LoadError, check_entrypoint, run_load

SHAPED = """
from locust import FastHttpUser, LoadTestShape, constant_throughput, task


class Client(FastHttpUser):
    wait_time = constant_throughput(50)

    @task(3)
    def ok(self):
        self.client.get("/ok")

    @task(1)
    def fail(self):
        self.client.get("/fail")


class TwoPhases(LoadTestShape):
    def tick(self):
        return None if self.get_run_time() > 2 else (4, 20)

    def phase_at(self, t):
        return "warm" if t < 1 else "hold"
"""

SHAPELESS = """
from locust import FastHttpUser, constant_throughput, task


class Client(FastHttpUser):
    wait_time = constant_throughput(20)

    @task
    def ok(self):
        self.client.get("/ok")
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = 503 if self.path == "/fail" else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _locustfile(tmp_path: Path, text: str, name: str = "profile.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _load_children() -> list[int]:
    pids = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"gauntlet.load.child" in cmdline:
                pids.append(int(pid))
    return pids


def _gone(pid: int, *, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_shaped_profile_streams_every_request(stub_url: str, tmp_path: Path) -> None:
    live: list[LiveStats] = []
    run = run_load(
        LoadProfile("two-phases", _locustfile(tmp_path, SHAPED)), stub_url, progress=live.append
    )
    report = run.report
    assert run.ended == "completed" and report.profile == "two-phases"
    assert report.requests == len(run.samples) > 50
    assert set(report.status_counts) == {"200", "503"}
    assert report.errors == report.status_counts["503"] == report.error_counts["HTTP 503"]
    assert {s.name for s in run.samples} == {"GET /ok", "GET /fail"}
    assert [p.name for p in report.phases] == ["warm", "hold"]
    assert report.phases[-1].end_s == report.duration_s
    assert 2.0 <= report.duration_s < 5.0
    assert sum(s.requests for s in report.series) == report.requests
    assert sum(s.errors for s in report.series) == report.errors
    hist = HdrHistogram.decode(report.histogram.encode())
    assert hist.get_total_count() == report.requests
    assert live and live[-1].requests <= report.requests and live[-1].users == 4
    ordered = sorted(s.latency_ms for s in run.samples)
    assert report.latency.max_ms == ordered[-1]


def test_shapeless_locustfile_runs_for_the_duration(stub_url: str, tmp_path: Path) -> None:
    run = run_load(_locustfile(tmp_path, SHAPELESS), stub_url, duration_s=1.5, users=2)
    assert run.ended == "duration" and run.report.profile == "profile"
    assert 1.5 <= run.report.duration_s < 3.0
    assert run.report.errors == 0 and run.report.requests > 10
    assert [p.name for p in run.report.phases][-1] == "steady"


def test_connection_errors_are_errors_with_their_latency(tmp_path: Path) -> None:
    with socket_closed_port() as port:
        run = run_load(
            _locustfile(tmp_path, SHAPELESS), f"http://127.0.0.1:{port}", duration_s=1, users=1
        )
    report = run.report
    assert report.requests > 0 and report.errors == report.requests
    assert report.status_counts == {"0": report.requests}
    (kind,) = report.error_counts
    assert "ConnectionRefused" in kind


class socket_closed_port:
    """A loopback port nobody listens on (bound, never listened, so nothing else takes it)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_broken_locustfile_is_a_load_error_quoting_the_child(
    stub_url: str, tmp_path: Path
) -> None:
    with pytest.raises(LoadError, match="no User class"):
        run_load(_locustfile(tmp_path, "X = 1\n"), stub_url, duration_s=1)
    with pytest.raises(LoadError, match="ZeroDivisionError"):
        run_load(_locustfile(tmp_path, "1 / 0\n"), stub_url, duration_s=1)
    with pytest.raises(LoadError, match="does not exist"):
        run_load(tmp_path / "missing.py", stub_url)
    assert _load_children() == []


def test_a_failing_progress_callback_leaves_no_child(stub_url: str, tmp_path: Path) -> None:
    def explode(stats: LiveStats) -> None:
        raise RuntimeError("terminal gone")

    with pytest.raises(RuntimeError, match="terminal gone"):
        run_load(_locustfile(tmp_path, SHAPELESS), stub_url, duration_s=30, progress=explode)
    assert _load_children() == []


def test_entrypoints_outside_the_target_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    check_entrypoint("http://127.0.0.1:8080", exec_prefix=())
    check_entrypoint("http://localhost", exec_prefix=())
    check_entrypoint("http://10.96.0.13:80", exec_prefix=["nsenter", "-t", "1", "-n"])
    with pytest.raises(LoadError, match=r"GAUNTLET_LOAD_ALLOWED_HOSTS=api\.example\.com"):
        check_entrypoint("https://api.example.com/", exec_prefix=())
    monkeypatch.setenv("GAUNTLET_LOAD_ALLOWED_HOSTS", "staging.example.com, api.example.com")
    check_entrypoint("https://api.example.com/", exec_prefix=())
    with pytest.raises(LoadError, match="http"):
        check_entrypoint("ftp://127.0.0.1/", exec_prefix=())


HARNESS = """
import sys
from pathlib import Path
from gauntlet.load.runner import run_load

def tick(stats):
    print("running", stats.requests, flush=True)

run_load(Path(sys.argv[1]), sys.argv[2], duration_s=60, users=1, progress=tick)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_ctrl_c_or_sigkill_of_the_harness_takes_the_child_along(
    sig: signal.Signals, stub_url: str, tmp_path: Path
) -> None:
    script = _locustfile(tmp_path, HARNESS, "harness.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(_locustfile(tmp_path, SHAPELESS)), stub_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("running"), proc.stderr
        children = [
            int(pid)
            for task in Path(f"/proc/{proc.pid}/task").iterdir()
            for pid in (task / "children").read_text().split()
        ]
        assert len(children) == 1
        os.kill(proc.pid, sig)
        proc.wait(timeout=15)
        assert _gone(children[0]), "the Locust child outlived the harness"
        if sig == signal.SIGINT:
            assert "KeyboardInterrupt" in proc.communicate()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
