"""The sandbox's L7 HTTP proxy: one process per pod whose ports carry Cilium HTTP rules.

Run as ``python -I -S l7proxy.py --config FILE`` inside the pod's network namespace. nftables
in the pod redirects the governed connections (``redirect to :<listen>``) to it; it recovers the
original destination port with ``SO_ORIGINAL_DST``, identifies the source pod by its address
(the sandbox's identities are /32 pod addresses), applies the source's egress rules and the
destination's ingress rules to every request, forwards allowed requests to the application on
127.0.0.1, and answers denied ones exactly as Cilium's Envoy does: ``403 Forbidden`` with body
``Access denied``. Every request is written to an access log (one JSON object per line), the
sandbox's equivalent of Hubble's L7 flows.

Request handling mirrors the HTTP connection manager Cilium configures (pkg/envoy/xds_server.go,
``http-normalize-path`` on by default): the path part of the target is normalised (unreserved
percent-escapes decoded, dot segments removed, slashes merged) before the rules see it and is what
the application receives; a target whose normalised path still holds ``%2F``/``%5C`` is answered
with a 307 redirect to the unescaped path; a target that is not origin-form gets a 400.
Each rule field is a regular expression that must match the WHOLE value (Envoy's safe_regex
header matchers on ``:path`` — the target including its query —, ``:method``, ``:authority``).

This file is written independently of ``gauntlet.oracle.l7`` (which predicts) and is kept
standard-library only so a pod starts it in milliseconds. ``SIGHUP`` reloads the config.

Fault knobs (``faults`` in the config) exist for ``gauntlet selfcheck`` only:
``unanchored`` matches path regexes as a search, ``ignore_method`` drops method rules.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import struct
import sys
import time
import uuid
from email.utils import formatdate
from typing import Any

SO_ORIGINAL_DST = 80
MAX_HEAD_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 60.0
UPSTREAM_TIMEOUT_S = 15.0
DENIED_BODY = b"Access denied"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPE_CHARS = frozenset(' "<>^`{|}')
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)


# -- rules ----------------------------------------------------------------------------------


class Rule:
    """One Cilium HTTP rule compiled: every given field must match."""

    def __init__(self, spec: dict[str, Any], faults: dict[str, bool]) -> None:
        self.text = _describe(spec)
        # re.ASCII: RE2's \d, \w, \s and \b are ASCII-only.
        self.path = re.compile(spec["path"], re.ASCII) if spec.get("path") else None
        self.unanchored = bool(faults.get("unanchored"))
        method = spec.get("method")
        self.method = (
            re.compile(method, re.ASCII) if method and not faults.get("ignore_method") else None
        )
        self.host = re.compile(spec["host"], re.ASCII) if spec.get("host") else None
        # (lower-case name, exact value or None for presence)
        self.headers: list[tuple[str, str | None]] = []
        for entry in spec.get("headers") or ():
            name, _, value = entry.partition(" ")
            # An empty exact value matches any value (Envoy), i.e. presence.
            self.headers.append((name.rstrip(":").lower(), value or None))
        for match in spec.get("headerMatches") or ():
            if match.get("secret") and not match.get("value"):
                # No secret is resolved here and there is no inline fallback value: Cilium's
                # "header match will fail", whatever the mismatch action.
                self.headers.append((match["name"].lower(), "\0unresolved-secret"))
                continue
            if match.get("mismatch"):
                continue  # LOG/ADD/DELETE/REPLACE act on the request but never deny it
            self.headers.append((match["name"].lower(), match.get("value") or None))

    def matches(self, method: str, target: str, host: str, headers: dict[str, list[str]]) -> bool:
        if self.path is not None:
            found = self.path.search(target) if self.unanchored else self.path.fullmatch(target)
            if found is None:
                return False
        if self.method is not None and self.method.fullmatch(method) is None:
            return False
        if self.host is not None and self.host.fullmatch(host) is None:
            return False
        for name, value in self.headers:
            values = headers.get(name)
            if values is None:
                return False
            if value is not None and ",".join(values) != value:
                return False
        return True


def _describe(spec: dict[str, Any]) -> str:
    parts = [spec.get("method") or "*", spec.get("path") or "*"]
    if spec.get("host"):
        parts.append(f"host={spec['host']}")
    parts += [f"[{h}]" for h in spec.get("headers") or ()]
    parts += [f"[{m.get('name')}]" for m in spec.get("headerMatches") or ()]
    return " ".join(parts)


class Side:
    """The rules of one side (egress of the source, ingress of the destination) for a flow;
    ``rules is None`` means unrestricted."""

    def __init__(self, specs: list[dict[str, Any]] | None, faults: dict[str, bool]) -> None:
        self.rules = None if specs is None else [Rule(s, faults) for s in specs]

    def decide(
        self, method: str, target: str, host: str, headers: dict[str, list[str]]
    ) -> tuple[bool, str]:
        if self.rules is None:
            return True, "unrestricted"
        for index, rule in enumerate(self.rules):
            if rule.matches(method, target, host, headers):
                return True, f"rule {index} ({rule.text})"
        return False, f"no rule of {len(self.rules)} matches"


class Policy:
    def __init__(self, config: dict[str, Any]) -> None:
        faults = config.get("faults") or {}
        self.pod: str = config["pod"]
        self.identities: dict[str, str] = config.get("identities") or {}
        # port -> source address -> (egress side, ingress side)
        self.flows: dict[int, dict[str, tuple[Side, Side]]] = {}
        for port, sources in (config.get("ports") or {}).items():
            self.flows[int(port)] = {
                ip: (Side(flow.get("egress"), faults), Side(flow.get("ingress"), faults))
                for ip, flow in sources.items()
            }


# -- path normalisation (Envoy's HCM as Cilium configures it) -------------------------------


def normalize_target(target: str) -> tuple[str | None, str | None]:
    """(normalised target, redirect location); (None, None) when the target is rejected.

    Envoy's order (``maybeNormalizePath``): escaped slashes are unescaped first (and, when there
    were any, the answer is a redirect to the result), then the path is canonicalised and runs
    of slashes merged. Escapes left alone keep their hex case, as Chromium's canonicaliser does.
    """
    if not target.startswith("/") or "#" in target or "\0" in target:
        return None, None
    path, sep, query = target.partition("?")
    unescaped = re.sub(
        r"%(2F|5C)", lambda m: "/" if m.group(1).upper() == "2F" else "\\", path, flags=re.I
    )
    out: list[str] = []  # one character per item
    i = 0
    while i < len(unescaped):
        ch = unescaped[i]
        escape = unescaped[i + 1 : i + 3]
        if ch == "%" and len(escape) == 2 and set(escape) <= _HEX:
            decoded = chr(int(escape, 16))
            i += 3
            if decoded not in _UNRESERVED:
                out += ["%", escape[0], escape[1]]
                continue
            out.append(decoded)
            # Chromium's CheckForNestedEscapes: a stray '%' that now forms a valid escape with
            # what was decoded ("%2%41" -> "%2A") is itself escaped, so nothing decodes twice.
            if decoded in _HEX and len(out) >= 3 and out[-3] == "%" and out[-2] in _HEX:
                out[-3:-2] = ["%", "2", "5"]
            elif decoded in _HEX and len(out) >= 2 and out[-2] == "%":
                following = unescaped[i : i + 1]
                if following and following in _HEX:
                    out[-2:-1] = ["%", "2", "5"]
            continue
        out.append(ch)
        i += 1
    if "%00" in "".join(out):
        return None, None  # an escaped NUL fails Chromium's canonicaliser: 400
    # Chromium's canonicaliser reads a backslash as a slash in http(s) paths, and escapes
    # spaces, controls, some punctuation and every non-ASCII byte (as UTF-8).
    text = "".join(out).replace("\\", "/")
    if any(c in _ESCAPE_CHARS or ord(c) > 0x7E or ord(c) < 0x21 for c in text):
        text = "".join(
            "".join(f"%{b:02X}" for b in c.encode("utf-8"))
            if c in _ESCAPE_CHARS or ord(c) > 0x7E or ord(c) < 0x21
            else c
            for c in text
        )
    segments = text.split("/")[1:]
    stack: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and stack:
                stack.pop()
            if last:
                stack.append("")
            continue
        stack.append(segment)
    canonical = "/" + "/".join(stack)
    if "//" in canonical:
        # Envoy's mergeSlashes keeps one leading and one trailing slash around the non-empty
        # segments, so "//" stays "//" (a quirk, kept for fidelity).
        inner = "/".join(part for part in canonical.split("/") if part)
        canonical = "/" + inner + ("/" if canonical.endswith("/") else "")
    normalised = canonical + (sep + query if sep else "")
    if unescaped != path:
        return None, normalised
    return normalised, None


# -- HTTP plumbing --------------------------------------------------------------------------


class BadRequest(Exception):
    pass


def parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("malformed header")
        headers.append((name, value.strip()))
    return parts[0], parts[1], parts[2], headers


def local_reply(status: int, reason: str, body: bytes, *, close: bool, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"content-length: {len(body)}\r\n"
        "content-type: text/plain\r\n"
        f"date: {formatdate(usegmt=True)}\r\n"
        "server: envoy\r\n"
        f"{extra}"
        f"{'connection: close' + chr(13) + chr(10) if close else ''}\r\n"
    )
    return head.encode("latin-1") + body


async def read_body(
    reader: asyncio.StreamReader, headers: dict[str, list[str]], *, request: bool
) -> tuple[bytes, bool]:
    """(raw body bytes as framed on the wire, delimited-by-close)."""
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        raw = bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            raw += line
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    trailer = await reader.readuntil(b"\r\n")
                    raw += trailer
                    if trailer == b"\r\n":
                        return bytes(raw), False
            raw += await reader.readexactly(size + 2)
    if "content-length" in headers:
        length = int(headers["content-length"][0])
        return (await reader.readexactly(length) if length else b""), False
    if request:
        return b"", False
    return await reader.read(), True


class Upstreams:
    """Keep-alive connections to the application, per port."""

    def __init__(self) -> None:
        self.idle: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def get(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        pool = self.idle.get(port) or []
        while pool:
            reader, writer = pool.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=MAX_HEAD_BYTES)
        return reader, writer, False

    def put(self, port: int, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        pool = self.idle.setdefault(port, [])
        if len(pool) < 64:
            pool.append(conn)
        else:
            conn[1].close()


class Proxy:
    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self.policy = self.load()
        self.log = open(  # noqa: SIM115 - lives as long as the process
            self.policy_log_path, "a", buffering=1, encoding="utf-8"
        )
        self.upstreams = Upstreams()

    def load(self) -> Policy:
        with open(self.config_path, encoding="utf-8") as f:
            config = json.load(f)
        self.policy_log_path: str = config["log"]
        self.listen: int = int(config["listen"])
        self.revision = int(config.get("revision", 0))
        return Policy(config)

    def reload(self) -> None:
        try:
            self.policy = self.load()
        except (OSError, ValueError, KeyError, re.error) as exc:
            print(f"l7proxy: reload failed, keeping the previous policy: {exc}", file=sys.stderr)
            return
        status = self.config_path + ".loaded"
        with open(status + ".tmp", "w", encoding="utf-8") as f:
            f.write(str(self.revision))
        os.replace(status + ".tmp", status)

    def record(self, **fields: Any) -> None:
        self.log.write(json.dumps(fields, separators=(",", ":")) + "\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        peer = writer.get_extra_info("peername")
        try:
            raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port = struct.unpack("!H", raw[2:4])[0]
            src_ip = peer[0]
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT_S):
                        head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                started = time.time()
                try:
                    method, target, version, header_list = parse_head(head)
                except BadRequest:
                    writer.write(local_reply(400, "Bad Request", b"Bad Request", close=True))
                    await writer.drain()
                    return
                headers: dict[str, list[str]] = {}
                for name, value in header_list:
                    headers.setdefault(name.lower(), []).append(value)
                body, _ = await read_body(reader, headers, request=True)
                tokens = ",".join(headers.get("connection", [])).lower()
                close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
                host = (headers.get("host") or [""])[0]
                source = self.policy.identities.get(src_ip, src_ip)
                entry = {
                    "time": started,
                    "source": source,
                    "destination": self.policy.pod,
                    "port": port,
                    "method": method,
                    "path": target,
                    "host": host,
                }
                normalised, location = normalize_target(target)
                if location is not None:
                    self.record(**entry, verdict="redirected", status=307, side="", reason="")
                    extra = f"location: {location}\r\n"
                    reply = local_reply(307, "Temporary Redirect", b"", close=close, extra=extra)
                    writer.write(reply)
                    await writer.drain()
                    if close:
                        return
                    continue
                if normalised is None:
                    self.record(**entry, verdict="rejected", status=400, side="", reason="path")
                    writer.write(local_reply(400, "Bad Request", b"Bad Request", close=True))
                    await writer.drain()
                    return
                sides = self.policy.flows.get(port, {}).get(src_ip)
                verdict_side, reason = "", ""
                allowed = sides is not None
                if sides is None:
                    verdict_side, reason = "ingress", "no policy for this source"
                else:
                    for name, side in (("egress", sides[0]), ("ingress", sides[1])):
                        ok, why = side.decide(method, normalised, host, headers)
                        if not ok:
                            allowed, verdict_side, reason = False, name, why
                            break
                        reason = why if name == "ingress" else reason
                if not allowed:
                    self.record(
                        **entry, verdict="denied", status=403, side=verdict_side, reason=reason
                    )
                    writer.write(local_reply(403, "Forbidden", DENIED_BODY, close=close))
                    await writer.drain()
                    if close:
                        return
                    continue
                status, response, upstream_close = await self.forward(
                    port, method, normalised, version, header_list, body, close
                )
                self.record(**entry, verdict="forwarded", status=status, side="", reason=reason)
                writer.write(response)
                await writer.drain()
                if close or upstream_close:
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def forward(
        self,
        port: int,
        method: str,
        target: str,
        version: str,
        header_list: list[tuple[str, str]],
        body: bytes,
        close: bool,
    ) -> tuple[int, bytes, bool]:
        """(status, response bytes for the client, connection must close)."""
        lines = [f"{method} {target} HTTP/1.1"]
        for name, value in header_list:
            low = name.lower()
            # A chunked body is relayed as framed, so its framing header travels with it.
            if low in _HOP_BY_HOP and low != "transfer-encoding":
                continue
            lines.append(f"{name}: {value}")
        lines.append("x-forwarded-proto: http")
        lines.append(f"x-request-id: {uuid.uuid4()}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in range(2):
            try:
                reader, writer, reused = await self.upstreams.get(port)
            except OSError:
                return (
                    503,
                    local_reply(503, "Service Unavailable", b"upstream connect error", close=close),
                    close,
                )
            try:
                writer.write(request)
                await writer.drain()
                async with asyncio.timeout(UPSTREAM_TIMEOUT_S):
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, headers, resp_lines = _parse_response(head)
                    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                        resp_body, by_close = b"", False
                    else:
                        resp_body, by_close = await read_body(reader, headers, request=False)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                writer.close()
                if reused and attempt == 0:
                    continue  # a pooled connection the application had closed
                return (
                    503,
                    local_reply(503, "Service Unavailable", b"upstream reset", close=close),
                    close,
                )
            upstream_close = by_close or "close" in ",".join(headers.get("connection", [])).lower()
            if upstream_close:
                writer.close()
            else:
                self.upstreams.put(port, (reader, writer))
            out = [resp_lines[0]]
            for line in resp_lines[1:]:
                if line.split(":", 1)[0].strip().lower() in ("connection", "keep-alive"):
                    continue
                out.append(line)
            if by_close:
                out.append(f"content-length: {len(resp_body)}")
            if close:
                out.append("connection: close")
            payload = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + resp_body
            return status, payload, False
        raise AssertionError("unreachable")


def _parse_response(head: bytes) -> tuple[int, dict[str, list[str]], list[str]]:
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError("upstream sent no HTTP status line")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(parts[1]), headers, lines


async def serve(config_path: str, ready_file: str) -> None:
    proxy = Proxy(config_path)
    server = await asyncio.start_server(
        proxy.handle, host="0.0.0.0", port=proxy.listen, limit=MAX_HEAD_BYTES, backlog=1024
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, proxy.reload)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    proxy.reload()  # writes the .loaded status for the first revision
    with open(ready_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))
    os.replace(ready_file + ".tmp", ready_file)
    await stop.wait()
    server.close()
    with contextlib.suppress(Exception):
        proxy.log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.config, args.ready_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
