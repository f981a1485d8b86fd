"""``run_load``: drive the Locust child, collect its stream, build the ``LoadReport``.

Design notes
- The child (``gauntlet.load.child``) runs under the target's ``exec_prefix`` (on the sandbox,
  ``nsenter`` into the load source pod's network namespace), with a pipe for the stream passed
  as an extra descriptor; its stderr (Locust's log) goes to a temporary file and is quoted when
  the child fails.
- The harness process only parses lines and appends to arrays while the load runs; sorting,
  the HDR histogram and the per-second series are built once at the end, so the harness takes
  as little CPU as possible from the load generator (the benchmark holds it to >= 95 % of
  plain ``locust --headless``).
- Whatever happens (Ctrl-C, an exception in a progress callback, a child that goes silent),
  the child is terminated and reaped before ``run_load`` returns or raises; a SIGKILLed harness
  takes the child along through PR_SET_PDEATHSIG.
- Safety: load goes only to a target's own network (an ``exec_prefix`` puts the child inside
  the sandbox, which has no route out), to loopback, or to hosts listed in
  ``GAUNTLET_LOAD_ALLOWED_HOSTS`` (comma-separated): never to a cluster by accident.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import gauntlet
from gauntlet.load.profiles import LoadProfile
from gauntlet.load.protocol import Decoder, ProtocolError
from gauntlet.load.samples import (
    Samples,
    hdr_histogram_b64,
    latency_stats,
    per_second,
    percentile,
)
from gauntlet.report.scorecard import LatencySummary, LoadReport, PhaseMark, SeriesPoint

ALLOWED_HOSTS_ENV = "GAUNTLET_LOAD_ALLOWED_HOSTS"
LIVE_INTERVAL_S = 1.0
SILENCE_TIMEOUT_S = 30.0
"""The child reports its user count every second; this long without a line means it hung."""
TERMINATE_GRACE_S = 3.0
READ_CHUNK_BYTES = 1 << 16


class LoadError(RuntimeError):
    """The load could not run or its measurements are unusable (not an SLO breach)."""


@dataclass(frozen=True)
class LiveStats:
    """What the load is doing right now, handed to the ``progress`` callback every second."""

    elapsed_s: float
    phase: str
    users: int
    requests: int
    """Requests completed since the start, errors included."""
    errors: int
    rps: float
    """Requests per second over the last interval."""
    p95_ms: float | None
    """p95 latency over the last interval; None when no request completed in it."""


@dataclass(frozen=True)
class LoadRun:
    """A finished load run: the scorecard's ``LoadReport`` plus every request."""

    report: LoadReport
    samples: Samples
    ended: str
    """Why the load stopped: ``completed`` (the profile ended) or ``duration`` (hard stop)."""


def check_entrypoint(url: str, *, exec_prefix: Sequence[str]) -> None:
    """Refuse to send load anywhere but a target's own network, loopback or allowed hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(f"load entrypoint {url!r} is not an http(s) URL with a host")
    if exec_prefix:
        return
    host = parts.hostname
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return
    if host == "localhost":
        return
    allowed = {h.strip() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()}
    if host not in allowed:
        raise LoadError(
            f"refusing to send load to {host}: it is neither inside the target nor loopback; "
            f"if this platform is yours to load, set {ALLOWED_HOSTS_ENV}={host}"
        )


def run_load(
    profile: LoadProfile | Path,
    entrypoint: str,
    *,
    duration_s: float | None = None,
    users: int | None = None,
    exec_prefix: Sequence[str] = (),
    progress: Callable[[LiveStats], None] | None = None,
    stop: threading.Event | None = None,
    hold: bool = False,
) -> LoadRun:
    """Run ``profile``'s locustfile against ``entrypoint`` and measure every request.

    ``duration_s`` and ``users`` override the profile's (the shape scales to them); the load
    runs under ``exec_prefix`` (``Target.load_exec_prefix()``). Setting ``stop`` ends the load
    early, the way Ctrl-C ends Locust: the child stops its users and reports what it measured.
    ``hold`` keeps the profile's last stage going until ``stop`` (chaos under load).
    Raises ``LoadError`` when the
    child cannot start, dies, or goes silent.
    """
    prof = profile if isinstance(profile, LoadProfile) else LoadProfile.from_path(profile)
    check_entrypoint(entrypoint, exec_prefix=exec_prefix)
    if not prof.locustfile.is_file():
        raise LoadError(f"locustfile {prof.locustfile} does not exist")
    duration = duration_s if duration_s is not None else prof.duration_s
    peak = users if users is not None else prof.users

    env = dict(os.environ)
    src = str(Path(gauntlet.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    if duration is not None:
        env["GAUNTLET_LOAD_DURATION_S"] = f"{duration:g}"
    if peak is not None:
        env["GAUNTLET_LOAD_USERS"] = str(peak)
    if hold:
        env["GAUNTLET_LOAD_HOLD"] = "1"

    read_fd, write_fd = os.pipe()
    argv = [
        *exec_prefix,
        sys.executable,
        "-m",
        "gauntlet.load.child",
        "--locustfile",
        str(prof.locustfile.resolve()),
        "--host",
        entrypoint,
        "--fd",
        str(write_fd),
        "--parent-pid",
        str(os.getpid()),
    ]
    if duration is not None:
        argv += ["--duration-s", f"{duration:g}"]
    if peak is not None:
        argv += ["--users", str(peak)]
    decoder = Decoder()
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,),
                env=env,
            )
        except OSError as exc:
            os.close(read_fd)
            raise LoadError(f"cannot start the load child ({argv[0]}): {exc}") from exc
        finally:
            os.close(write_fd)
        try:
            _pump(read_fd, proc, decoder, progress, stop)
            code = proc.wait(timeout=TERMINATE_GRACE_S + 10)
        finally:
            os.close(read_fd)
            _stop(proc)
        if code != 0 or decoder.ended is None or decoder.t0 is None:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace")[-3000:].strip()
            raise LoadError(
                f"the load child exited with {code} after {len(decoder.samples)} requests: "
                f"{tail or '(no output)'}"
            )
    return LoadRun(
        report=build_report(decoder, profile=prof.name, entrypoint=entrypoint),
        samples=decoder.samples,
        ended=decoder.ended,
    )


def _pump(
    fd: int,
    proc: subprocess.Popen[bytes],
    decoder: Decoder,
    progress: Callable[[LiveStats], None] | None,
    stop: threading.Event | None = None,
) -> None:
    """Read the stream until the child closes it; report live stats every second."""
    stopping = False
    last_data = time.monotonic()
    next_live = last_data + LIVE_INTERVAL_S
    seen = 0
    while True:
        readable, _, _ = select.select([fd], [], [], 0.25)
        now = time.monotonic()
        if stop is not None and stop.is_set() and not stopping:
            # SIGTERM: the child's own handler stops the users and ends the stream cleanly.
            stopping = True
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if readable:
            data = os.read(fd, READ_CHUNK_BYTES)
            if not data:
                return
            last_data = now
            try:
                decoder.feed(data)
            except ProtocolError as exc:
                raise LoadError(f"unreadable load stream: {exc}") from exc
        elif now - last_data > SILENCE_TIMEOUT_S:
            raise LoadError(f"the load child sent nothing for {SILENCE_TIMEOUT_S:.0f}s")
        if progress is not None and now >= next_live:
            progress(_live(decoder, seen, interval_s=LIVE_INTERVAL_S + (now - next_live)))
            seen = len(decoder.samples)
            next_live = now + LIVE_INTERVAL_S


def _live(decoder: Decoder, seen: int, *, interval_s: float) -> LiveStats:
    samples = decoder.samples
    recent = sorted(samples.latency_us[seen:])
    return LiveStats(
        elapsed_s=decoder.last_t_us / 1e6,
        phase=decoder.phases[-1][1] if decoder.phases else "starting",
        users=decoder.users,
        requests=len(samples),
        errors=samples.error_count,
        rps=len(recent) / interval_s,
        p95_ms=percentile(recent, 95) / 1000.0 if recent else None,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_report(decoder: Decoder, *, profile: str, entrypoint: str) -> LoadReport:
    """The scorecard's ``LoadReport`` from a complete stream."""
    if decoder.t0 is None:
        raise LoadError("the load stream has no header")
    samples = decoder.samples
    duration_s = decoder.last_t_us / 1e6
    stats = latency_stats(samples.latency_us)
    errors = Counter(samples.error_id)
    errors.pop(-1, None)
    phases: list[PhaseMark] = []
    for i, (start, name) in enumerate(decoder.phases):
        end = decoder.phases[i + 1][0] if i + 1 < len(decoder.phases) else duration_s
        if end > start:
            phases.append(PhaseMark(name=name, start_s=start, end_s=end))
    return LoadReport(
        profile=profile,
        entrypoint=entrypoint,
        started_at=datetime.fromtimestamp(decoder.t0, UTC),
        duration_s=duration_s,
        requests=len(samples),
        errors=samples.error_count,
        rps=len(samples) / duration_s if duration_s > 0 else 0.0,
        status_counts={str(k): v for k, v in sorted(Counter(samples.status).items())},
        error_counts={samples.errors[k]: v for k, v in errors.most_common()},
        latency=LatencySummary(**asdict(stats)),
        series=[SeriesPoint(**asdict(s)) for s in per_second(samples, duration_s=duration_s)],
        phases=phases,
        histogram=hdr_histogram_b64(samples.latency_us),
    )


__all__ = ["ALLOWED_HOSTS_ENV", "LiveStats", "LoadError", "LoadRun", "check_entrypoint", "run_load"]
