"""The Rego worker: a child process that hosts the native Rego engine.

Run as ``python -m gauntlet.admission.worker``. regorus is native code; a panic or a crash in it
must end this process, not the harness run (the parent sees EOF, reports the crash and starts a
new worker). The protocol is length-prefixed JSON frames on stdin/stdout:

- ``{"op": "load", "templates": {tid: {"version": "v0"|"v1", "modules": [[name, src], ...],
  "rule": "data.<pkg>.violation"}}, "constraints": {cid: [tid, parameters]}}``
- ``{"op": "data", "data": {...}}`` replaces the referential data (``data.inventory``);
- ``{"op": "eval", "items": [[review, [cid, ...]], ...]}`` evaluates each review against the
  named constraints and answers ``{"results": [[violations | {"error": str}, ...], ...]}``;
- ``{"op": "crash"}`` aborts the process (used by the tests of the crash path).

Every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": str}``. One engine per
template: Gatekeeper compiles each template into its own namespace, and two templates may ship
libraries with the same package name.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Any, BinaryIO

_HEADER = struct.Struct("!I")


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at end of stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return body


def write_frame(stream: BinaryIO, body: bytes) -> None:
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


class _Host:
    def __init__(self) -> None:
        # Imported here: only the worker process loads native code.
        import regorus  # type: ignore[import-untyped]

        self._regorus = regorus
        self.engines: dict[str, Any] = {}
        self.rules: dict[str, str] = {}
        self.constraints: dict[str, tuple[str, str]] = {}
        self.data: str | None = None

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        for tid, spec in msg.get("templates", {}).items():
            engine = self._regorus.Engine()
            engine.set_rego_v0(spec.get("version", "v0") == "v0")
            try:
                for name, source in spec["modules"]:
                    engine.add_policy(name, source)
                if self.data is not None:
                    engine.add_data_json(self.data)
            except Exception as exc:  # regorus raises RuntimeError with the parser's report
                errors[tid] = _first_lines(str(exc))
                continue
            self.engines[tid] = engine
            self.rules[tid] = spec["rule"]
        for cid, (tid, parameters) in msg.get("constraints", {}).items():
            self.constraints[cid] = (tid, json.dumps(parameters, separators=(",", ":")))
        return {"ok": True, "errors": errors}

    def set_data(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.data = json.dumps(msg.get("data", {}), separators=(",", ":"))
        for engine in self.engines.values():
            engine.clear_data()
            engine.add_data_json(self.data)
        return {"ok": True}

    def evaluate(self, msg: dict[str, Any]) -> dict[str, Any]:
        results: list[list[Any]] = []
        for review, cids in msg["items"]:
            # The parent sends each review already serialised (it had to encode it anyway).
            review_json = review if isinstance(review, str) else json.dumps(review)
            answers: list[Any] = []
            for cid in cids:
                tid, params_json = self.constraints[cid]
                engine = self.engines.get(tid)
                if engine is None:
                    answers.append({"error": f"template {tid} is not loaded"})
                    continue
                engine.set_input_json(
                    '{"review":' + review_json + ',"parameters":' + params_json + "}"
                )
                try:
                    answers.append(json.loads(engine.eval_rule_as_json(self.rules[tid])))
                except Exception as exc:
                    answers.append({"error": _first_lines(str(exc))})
            results.append(answers)
        return {"ok": True, "results": results}


def _first_lines(text: str, limit: int = 8) -> str:
    """regorus appends a Rust backtrace to its errors; the report before it is what helps."""
    lines = text.strip().splitlines()
    cut = next((i for i, line in enumerate(lines) if line.startswith("Stack backtrace")), None)
    return "\n".join(lines[:cut][:limit]).strip()


def main() -> int:
    # regorus prints Rust backtraces when RUST_BACKTRACE is set; they only add noise here.
    os.environ.pop("RUST_BACKTRACE", None)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    host = _Host()
    ops = {"load": host.load, "data": host.set_data, "eval": host.evaluate}
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return 0
        msg = json.loads(frame)
        op = msg.get("op")
        if op == "crash":
            os.abort()
        handler = ops.get(str(op))
        if handler is None:
            reply: dict[str, Any] = {"ok": False, "error": f"unknown op {op!r}"}
        else:
            try:
                reply = handler(msg)
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {_first_lines(str(exc))}"}
        write_frame(stdout, json.dumps(reply, separators=(",", ":")).encode())


if __name__ == "__main__":
    raise SystemExit(main())
