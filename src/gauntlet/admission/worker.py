"""The Rego worker: a child process that hosts the native Rego engine.

Run as ``python -m gauntlet.admission.worker``. regorus is native code; a panic or a crash in it
must end this process, not the harness run (the parent sees EOF, reports the crash and starts a
new worker). The protocol is length-prefixed JSON frames on stdin/stdout:

- ``{"op": "load", "templates": {tid: {"version": "v0"|"v1", "modules": [[name, src], ...],
  "rule": "data.<pkg>.violation"}}, "constraints": {cid: [tid, parameters]}}``
- ``{"op": "data", "data": {...}}`` replaces the referential data (``data.inventory``);
- ``{"op": "evalraw", "items": [[n_bytes, [cid, ...]], ...]}`` followed by a newline and the
  reviews' JSON texts back to back evaluates each review against the named constraints and
  answers ``{"results": [[violations | {"error": str}, ...], ...]}``;
- ``{"op": "crash"}`` aborts the process (used by the tests of the crash path).

Every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": str}``.

Templates share an engine unless their packages clash (two templates may ship different
libraries under the same package name; Gatekeeper keeps each template in its own namespace), and
constraints share one input where no template can tell the difference: parsing the input costs
as much as evaluating a simple template, and Gatekeeper's own driver likewise evaluates every
template in one engine. Constraints with equal parameters always share. Constraints with
different parameters share an input holding the union of their parameters when each template
reads its parameters only as ``input.parameters.<name>`` (or ``input.parameters["<name>"]``)
and every name it reads has the same value, or the same absence, in the union as in its own
constraint (see ``parameter_reads``); a template that touches ``input`` any other way (an
alias, ``object.get(input.parameters, ...)``, an import, ``with input as``) gets its
constraint's exact parameters.
"""

from __future__ import annotations

import json
import os
import re
import struct
import sys
from typing import Any, BinaryIO

_HEADER = struct.Struct("!I")
PACKAGE_RE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_INPUT_RE = re.compile(r"(?<![\w])input(?![\w])")
_REVIEW_RE = re.compile(r"\.review(?![\w])")
_PARAM_RE = re.compile(r'\.parameters(?:\.([A-Za-z_]\w*)|\["([^"\\]*)"\])')
_ABSENT = object()


def parameter_reads(sources: list[str]) -> frozenset[str] | None:
    """The parameter names a template reads, or None when it may observe its parameters in a
    way other than ``input.parameters.<name>``; then it must see exactly its own.

    Conservative by construction: every occurrence of the word ``input`` (in code, strings
    or comments alike) must be ``input.review`` or ``input.parameters.<name>``.
    """
    names: set[str] = set()
    for source in sources:
        for found in _INPUT_RE.finditer(source):
            rest = source[found.end() : found.end() + 200]
            if _REVIEW_RE.match(rest):
                continue
            param = _PARAM_RE.match(rest)
            if param is None:
                return None
            names.add(param.group(1) if param.group(1) is not None else param.group(2))
    return frozenset(names)


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
        self.engines: dict[str, Any] = {}  # template id -> its (possibly shared) engine
        self.shared: list[tuple[Any, dict[str, str]]] = []  # engine, package -> source
        self.rules: dict[str, str] = {}
        self.constraints: dict[str, tuple[str, str]] = {}
        self.params: dict[str, dict[str, Any] | None] = {}  # constraint id -> its parameters
        self.reads: dict[str, frozenset[str] | None] = {}  # template id -> parameter_reads
        # constraint ids of a request -> [(engine, input parameters JSON, [(position, tid)])]
        self.plans: dict[tuple[str, ...], list[tuple[Any, str, list[tuple[int, str]]]]] = {}
        self.data: str | None = None

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        for tid, spec in msg.get("templates", {}).items():
            modules = [(name, source) for name, source in spec["modules"]]
            packages = {_package(source): source for _, source in modules}
            # The Rego version is an engine setting: templates of both versions never share.
            packages["\0version"] = spec.get("version", "v0")
            v0 = packages["\0version"] == "v0"
            engine = self._engine_for(packages, v0=v0)
            trial = engine.clone()
            try:
                for name, source in modules:
                    trial.add_policy(name, source)
                if self.data is not None and not self._has_data(engine):
                    trial.add_data_json(self.data)
            except Exception as exc:  # regorus raises RuntimeError with the parser's report
                errors[tid] = _first_lines(str(exc))
                continue
            # Commit: the shared engine becomes the one with this template added.
            for index, (candidate, known) in enumerate(self.shared):
                if candidate is engine:
                    known.update(packages)
                    self.shared[index] = (trial, known)
                    for other, eng in list(self.engines.items()):
                        if eng is engine:
                            self.engines[other] = trial
                    break
            else:
                self.shared.append((trial, dict(packages)))
            self.engines[tid] = trial
            self.rules[tid] = spec["rule"]
            self.reads[tid] = parameter_reads([source for _, source in modules])
        for cid, (tid, parameters) in msg.get("constraints", {}).items():
            self.constraints[cid] = (tid, json.dumps(parameters, separators=(",", ":")))
            # Parameters that are not an object are never merged (None).
            self.params[cid] = parameters if isinstance(parameters, dict) else None
        self.plans.clear()
        return {"ok": True, "errors": errors}

    def plan(self, cids: tuple[str, ...]) -> list[tuple[Any, str, list[tuple[int, str]]]]:
        """How to evaluate one request's constraints: the inputs to set, and per input the
        constraints to evaluate (see the module docstring for when constraints share)."""
        cached = self.plans.get(cids)
        if cached is not None:
            return cached
        # Per group: engine, merged parameters (None: exact), exact JSON, members.
        groups: list[tuple[Any, dict[str, Any] | None, str, list[tuple[int, str, str]]]] = []
        for pos, cid in enumerate(cids):
            tid, params_json = self.constraints[cid]
            engine = self.engines.get(tid)
            if engine is None:
                continue
            own = self.params[cid]
            mergeable = own is not None and self.reads.get(tid) is not None
            for index, (g_engine, merged, exact, members) in enumerate(groups):
                if g_engine is not engine:
                    continue
                if merged is None or not mergeable:
                    if exact == params_json:
                        members.append((pos, tid, cid))
                        break
                    continue
                union = self._merge(merged, members, cid, tid)
                if union is not None:
                    groups[index] = (engine, union, exact, [*members, (pos, tid, cid)])
                    break
            else:
                start = dict(own) if own is not None and mergeable else None
                groups.append((engine, start, params_json, [(pos, tid, cid)]))
        plan = [
            (
                engine,
                exact if merged is None else json.dumps(merged, separators=(",", ":")),
                [(pos, tid) for pos, tid, _ in members],
            )
            for engine, merged, exact, members in groups
        ]
        if len(self.plans) < 4096:
            self.plans[cids] = plan
        return plan

    def _merge(
        self, merged: dict[str, Any], members: list[tuple[int, str, str]], cid: str, tid: str
    ) -> dict[str, Any] | None:
        """The union of ``merged`` and ``cid``'s parameters when every member (and ``cid``)
        reads the same values from it as from its own parameters; else None."""
        union = dict(merged)
        for key, value in (self.params[cid] or {}).items():
            if key in union and union[key] != value:
                return None
            union[key] = value
        for _, m_tid, m_cid in [*members, (0, tid, cid)]:
            own = self.params[m_cid] or {}
            for key in self.reads[m_tid] or ():
                if union.get(key, _ABSENT) != own.get(key, _ABSENT):
                    return None
        return union

    def _engine_for(self, packages: dict[str, str], *, v0: bool) -> Any:
        """A shared engine where none of ``packages`` is defined differently, or a new one."""
        for engine, known in self.shared:
            if all(known.get(pkg, src) == src for pkg, src in packages.items()):
                return engine
        engine = self._regorus.Engine()
        engine.set_rego_v0(v0)
        return engine

    def _has_data(self, engine: Any) -> bool:
        return any(candidate is engine for candidate, _ in self.shared)

    def set_data(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.data = json.dumps(msg.get("data", {}), separators=(",", ":"))
        for engine, _ in self.shared:
            engine.clear_data()
            engine.add_data_json(self.data)
        return {"ok": True}

    def evaluate_raw(self, msg: dict[str, Any], blob: bytes) -> bytes:
        items: list[tuple[str, list[str]]] = []
        offset = 0
        for size, cids in msg["items"]:
            items.append((blob[offset : offset + size].decode(), cids))
            offset += size
        parts: list[str] = []
        for review_json, cids in items:
            answers: list[str] = ["null"] * len(cids)
            for pos, cid in enumerate(cids):
                tid = self.constraints[cid][0]
                if tid not in self.engines:
                    answers[pos] = json.dumps({"error": f"template {tid} is not loaded"})
            for engine, params_json, members in self.plan(tuple(cids)):
                engine.set_input_json(
                    '{"review":' + review_json + ',"parameters":' + params_json + "}"
                )
                for pos, tid in members:
                    try:
                        answers[pos] = engine.eval_rule_as_json(self.rules[tid])
                    except Exception as exc:
                        answers[pos] = json.dumps({"error": _first_lines(str(exc))})
            parts.append("[" + ",".join(answers) + "]")
        return ('{"ok":true,"results":[' + ",".join(parts) + "]}").encode()


def _package(source: str) -> str:
    found = PACKAGE_RE.search(source)
    return found.group(1) if found else ""


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
    ops = {"load": host.load, "data": host.set_data}
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return 0
        header, _, blob = frame.partition(b"\n")
        msg = json.loads(header)
        op = msg.get("op")
        if op == "evalraw":
            # The hot path: reviews arrive as raw JSON texts after the header and answers go
            # back as raw JSON texts, so no review is escaped, unescaped or re-encoded here.
            write_frame(stdout, host.evaluate_raw(msg, blob))
            continue
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
