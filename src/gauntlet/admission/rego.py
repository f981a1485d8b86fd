"""Client side of the Rego worker (see ``worker.py`` for why the engine runs in a child process).

``RegoWorker`` starts the worker lazily, replays what it loaded after a crash, and turns a dead
or hung worker into ``RegoEngineCrashed`` so that the caller can report the request as
inconclusive instead of guessing an answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from gauntlet.admission.worker import read_frame, write_frame
from gauntlet.targets.base import TargetError


class RegoEngineCrashed(TargetError):
    """The Rego worker died or stopped answering; the request it was serving has no answer."""


class RegoEngineError(TargetError):
    """The worker answered with an error (for example an unknown operation)."""


@dataclass(frozen=True)
class RegoModuleSet:
    """The Rego of one ConstraintTemplate: its main module and libraries, and the rule to ask."""

    modules: tuple[tuple[str, str], ...]
    rule: str
    version: str = "v0"


class RegoWorker:
    """A Rego engine in a child process, with one engine per template inside it."""

    def __init__(self, *, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._templates: dict[str, RegoModuleSet] = {}
        self._constraints: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._data: Mapping[str, Any] | None = None
        self._lock = threading.Lock()
        self.crashes = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.pop("RUST_BACKTRACE", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gauntlet.admission.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._proc = proc
        if self._data is not None:
            self._call({"op": "data", "data": self._data})
        if self._templates:
            self._call(self._load_message(self._templates, self._constraints))
        return proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RegoWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations --------------------------------------------------------------------------

    def load(
        self,
        templates: Mapping[str, RegoModuleSet],
        constraints: Mapping[str, tuple[str, Mapping[str, Any]]],
    ) -> dict[str, str]:
        """Compile templates and register constraints (id -> (template id, parameters)).

        Returns the compile errors per template id; templates that failed are not kept.
        """
        with self._lock:
            reply = self._call(self._load_message(templates, constraints))
            errors: dict[str, str] = dict(reply.get("errors", {}))
            self._templates.update({k: v for k, v in templates.items() if k not in errors})
            self._constraints.update(constraints)
            return errors

    def set_data(self, data: Mapping[str, Any]) -> None:
        """Replace the referential data every template sees (``data.inventory``)."""
        with self._lock:
            self._data = data
            self._call({"op": "data", "data": data})

    def evaluate(
        self, items: Sequence[tuple[Mapping[str, Any] | str, Sequence[str]]]
    ) -> list[list[Any]]:
        """For each (review or its JSON text, constraint ids): the raw violation sets, or
        ``{"error": ...}``."""
        if not items:
            return []
        texts = [
            (r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))).encode()
            for r, _ in items
        ]
        header = {
            "op": "evalraw",
            "items": [[len(t), list(c)] for t, (_, c) in zip(texts, items, strict=True)],
        }
        with self._lock:
            reply = self._call(header, blob=b"".join(texts))
            results: list[list[Any]] = reply["results"]
            return results

    def crash_for_test(self) -> None:
        """Make the worker abort mid-request, as a native crash would; raises RegoEngineCrashed
        exactly like a crash during a real evaluation (tests of the crash path)."""
        with self._lock:
            self._call({"op": "crash"})

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _load_message(
        templates: Mapping[str, RegoModuleSet],
        constraints: Mapping[str, tuple[str, Mapping[str, Any]]],
    ) -> dict[str, Any]:
        return {
            "op": "load",
            "templates": {
                tid: {"version": t.version, "modules": list(t.modules), "rule": t.rule}
                for tid, t in templates.items()
            },
            "constraints": {cid: [tid, params] for cid, (tid, params) in constraints.items()},
        }

    def _call(self, msg: Mapping[str, Any], *, blob: bytes = b"") -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = cast(BinaryIO, proc.stdin), cast(BinaryIO, proc.stdout)
        timed_out = False
        try:
            body = json.dumps(msg, separators=(",", ":")).encode()
            write_frame(stdin, body + b"\n" + blob if blob else body)
            ready, _, _ = select.select([stdout], [], [], self.timeout_s)
            timed_out = not ready
            frame = read_frame(stdout) if ready else None
        except (BrokenPipeError, OSError):
            frame = None
        if frame is None:
            self._died(proc, hung=timed_out)
        assert frame is not None
        reply: dict[str, Any] = json.loads(frame)
        if not reply.get("ok"):
            raise RegoEngineError(f"Rego worker: {reply.get('error')}")
        return reply

    def _died(self, proc: subprocess.Popen[bytes], *, hung: bool) -> None:
        self.crashes += 1
        if hung:
            proc.kill()
        proc.wait()
        stderr = b""
        if proc.stderr is not None:
            with contextlib.suppress(OSError):
                stderr = proc.stderr.read() or b""
        self._proc = None
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        why = (
            f"did not answer within {self.timeout_s:g} s and was killed"
            if hung
            else f"exited with status {proc.returncode}"
        )
        detail = ("; stderr: " + " | ".join(tail)) if tail else ""
        raise RegoEngineCrashed(
            f"the Rego engine process {why}{detail}; it is restarted for the next request"
        )
