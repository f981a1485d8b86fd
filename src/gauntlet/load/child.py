"""The Locust child: runs one locustfile with Locust as a library and streams every request.

Run by the harness as ``[*exec_prefix, python, -m, gauntlet.load.child, ...]`` (on the sandbox
the prefix is ``nsenter`` into the load source pod's network namespace). Importing ``locust``
monkey-patches socket/ssl/threading for the whole process (gevent), which is why this is a
process of its own and why ``locust`` is imported before anything that could import ``ssl``:
``gauntlet.load``'s ``__init__`` is lazy for that reason.

Every completed request becomes one line on the pipe descriptor ``--fd`` (format:
``gauntlet.load.protocol``), flushed every ``FLUSH_S``. The child exits on its own when the
profile's shape ends or ``--duration-s`` passes, on SIGTERM/SIGINT (after a last flush), and,
through PR_SET_PDEATHSIG, when the harness dies: it never outlives its parent.

Locustfiles run here unchanged; the conventions Gauntlet reads (all optional):
- a ``LoadTestShape`` with a ``phase_at(run_time_s) -> str | None`` method names the phases;
  without one the phase is ``ramp`` while users spawn and ``steady`` afterwards;
- shapes may read ``GAUNTLET_LOAD_USERS`` / ``GAUNTLET_LOAD_DURATION_S`` from the environment,
  which the harness sets from ``run_load(users=..., duration_s=...)``.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import logging
import os
import signal
import sys
import time
from typing import Any

FLUSH_S = 0.1
STATUS_S = 1.0
PHASE_POLL_S = 0.25
MAX_ERROR_KINDS = 256
DEFAULT_DURATION_S = 60.0
SHAPE_GRACE_S = 5.0
"""A shape given ``--duration-s`` ends by itself; the hard stop only catches one that does not."""
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Get SIGKILL when the harness dies (Linux), and exit if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent_pid and os.getppid() != parent_pid:
        os._exit(3)


def error_kind(exception: BaseException | None, status: int) -> str | None:
    """A short, stable label for why a request failed (the key of ``error_counts``)."""
    if exception is None:
        return None
    code = getattr(exception, "code", None)
    if status >= 400 or (isinstance(code, int) and code >= 400):
        return f"HTTP {status if status >= 400 else code}"
    name = type(exception).__name__
    if name == "CatchResponseError":  # response.failure("why") in a locustfile
        return str(exception) or name
    number = getattr(exception, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        return f"{name}({errno.errorcode[number]})"
    return name


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gauntlet.load.child")
    p.add_argument("--locustfile", required=True)
    p.add_argument("--host", required=True, help="base URL the users send to")
    p.add_argument("--fd", type=int, required=True, help="pipe descriptor for the stream")
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument(
        "--duration-s",
        type=float,
        default=None,
        help="profile length: the run stops then (a shape: a few seconds later, if it has not)",
    )
    p.add_argument("--users", type=int, default=1, help="users (locustfiles without a shape)")
    p.add_argument("--spawn-rate", type=float, default=None, help="users/s (default: users/2s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _die_with_parent(args.parent_pid)

    import gevent  # type: ignore[import-untyped]
    import locust  # noqa: F401 - monkey-patches the process first
    from locust.env import Environment
    from locust.runners import STATE_SPAWNING, STATE_STOPPED
    from locust.util.load_locustfile import load_locustfile

    from gauntlet.load.protocol import clean, header_line

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    user_classes, shapes = load_locustfile(os.path.abspath(args.locustfile))
    if not user_classes:
        print(f"{args.locustfile}: no User class found", file=sys.stderr)
        return 2
    if len(shapes) > 1:
        print(f"{args.locustfile}: more than one LoadTestShape", file=sys.stderr)
        return 2
    shape: Any = shapes[0] if shapes else None
    env = Environment(
        user_classes=list(user_classes.values()),
        shape_class=shape,
        host=args.host,
        locustfile=os.path.basename(args.locustfile),
    )
    runner = env.create_local_runner()

    out = args.fd
    os.set_blocking(out, True)
    buf: list[str] = []
    names: dict[tuple[str, str], int] = {}
    errors: dict[str, int] = {}
    t0 = time.time()

    def us(at: float) -> int:
        return int((at - t0) * 1e6)

    def flush() -> None:
        if buf:
            data = "".join(buf).encode()
            buf.clear()
            try:
                _write_all(out, data)
            except BrokenPipeError:  # the harness is gone: nothing left to do
                os._exit(3)

    def on_request(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        response: Any = None,
        start_time: float | None = None,
        **_kw: Any,
    ) -> None:
        key = (request_type, name)
        nid = names.get(key)
        if nid is None:
            nid = names[key] = len(names)
            buf.append(f"N\t{nid}\t{clean(f'{request_type} {name}')}\n")
        status = getattr(response, "status_code", 0) or 0
        code = getattr(exception, "code", None)
        if not status and isinstance(code, int):
            status = code
        latency_us = round((response_time or 0.0) * 1000)
        started = start_time if start_time is not None else time.time() - latency_us / 1e6
        eid: int | str = ""
        kind = error_kind(exception, status)
        if kind is not None:
            kind = clean(kind)
            if kind not in errors and len(errors) >= MAX_ERROR_KINDS:
                kind = "other"
            eid = errors.get(kind, -1)
            if eid == -1:
                eid = errors[kind] = len(errors)
                buf.append(f"E\t{eid}\t{kind}\n")
        buf.append(f"R\t{us(started) + latency_us}\t{nid}\t{latency_us}\t{status}\t{eid}\n")

    env.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]

    stop_reason: list[str] = []

    def request_stop(reason: str) -> None:
        if not stop_reason:
            stop_reason.append(reason)

    gevent.signal_handler(signal.SIGTERM, request_stop, "terminated")
    gevent.signal_handler(signal.SIGINT, request_stop, "interrupted")

    def flusher() -> None:
        while True:
            gevent.sleep(FLUSH_S)
            flush()

    def phase_now(run_time_s: float) -> str | None:
        if shape is not None and hasattr(shape, "phase_at"):
            name = shape.phase_at(run_time_s)
            return None if name is None else clean(str(name))
        return "ramp" if runner.state == STATE_SPAWNING else "steady"

    _write_all(out, header_line(t0).encode())
    if shape is not None:
        runner.start_shape()
    else:
        rate = args.spawn_rate or max(1.0, args.users / 2.0)
        runner.start(args.users, rate)
    greenlets = [gevent.spawn(flusher)]
    if args.duration_s is not None:
        hard_stop_s: float | None = args.duration_s + (SHAPE_GRACE_S if shape is not None else 0)
    else:
        hard_stop_s = None if shape is not None else DEFAULT_DURATION_S
    deadline = None if hard_stop_s is None else time.monotonic() + hard_stop_s
    phase: str | None = None
    next_status = 0.0
    while not stop_reason:
        now = time.monotonic()
        if runner.state == STATE_STOPPED:
            request_stop("completed")
            break
        if deadline is not None and now >= deadline:
            request_stop("duration")
            break
        current = phase_now(time.time() - t0)
        if current is not None and current != phase:
            phase = current
            buf.append(f"P\t{us(time.time())}\t{phase}\n")
        if now >= next_status:
            buf.append(f"U\t{us(time.time())}\t{runner.user_count}\n")
            next_status = now + STATUS_S
        gevent.sleep(PHASE_POLL_S)
    runner.quit()
    for g in greenlets:
        g.kill()
    buf.append(f"X\t{us(time.time())}\t{stop_reason[0]}\n")
    flush()
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Locust's and gevent's atexit handlers may wait on greenlets of stopped users; the stream
    # is complete already.
    os._exit(code)
