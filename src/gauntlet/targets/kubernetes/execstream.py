"""``pods/exec`` over a websocket, with the exit code read from the error channel.

The API server speaks the channel protocols ``v5.channel.k8s.io`` / ``v4.channel.k8s.io``:
every binary frame starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 255 close
in v5). When the process ends, channel 3 carries a ``Status``: ``Success``, or ``Failure`` with
reason ``NonZeroExitCode`` and a cause ``{"reason": "ExitCode", "message": "<n>"}``; any other
failure (no such container, executable not found) is the kubelet's refusal, not an exit code.

We drive ``kubernetes.stream.ws_client.WSClient`` directly instead of ``kubernetes.stream.stream``:
the latter swaps ``ApiClient.call_api`` for the duration of the call, which is not safe while
other threads (one exec per probe source pod, concurrently) send ordinary requests through the
same client. Only v5 can close stdin (so a program reading to EOF ends); on a v4-only server
stdin stays open, so send line-framed input.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from kubernetes.stream import ws_client as _ws_client
from websocket import WebSocketBadStatusException, WebSocketException

from gauntlet.targets.base import TargetError

if TYPE_CHECKING:
    from gauntlet.targets.kubernetes.client import KubeClient

# kubernetes.stream is untyped; reached through Any so mypy --strict accepts the calls.
ws_client: Any = _ws_client

__all__ = ["exec_path", "exit_code_from_status", "run_exec"]

STDIN, STDOUT, STDERR, ERROR = 0, 1, 2, 3


def exec_path(
    namespace: str, pod: str, argv: Sequence[str], *, container: str | None, stdin: bool
) -> str:
    """``/api/v1/namespaces/<ns>/pods/<pod>/exec?command=..`` (one ``command`` per argv word,
    as kubectl sends them)."""
    if not argv:
        raise ValueError("exec needs a command")
    query: list[tuple[str, str]] = [("command", word) for word in argv]
    if container:
        query.append(("container", container))
    query += [("stdin", str(stdin).lower()), ("stdout", "true"), ("stderr", "true")]
    query.append(("tty", "false"))
    ns, name = quote(namespace, safe=""), quote(pod, safe="")
    return f"/api/v1/namespaces/{ns}/pods/{name}/exec?{urlencode(query)}"


def exit_code_from_status(raw: bytes, *, where: str) -> int | None:
    """The exit code in the error channel's ``Status``; None if the channel was empty."""
    from gauntlet.targets.kubernetes.client import KubeApiError

    if not raw.strip():
        return None
    try:
        status: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise TargetError(f"exec in {where}: unreadable status {raw[:200]!r}") from None
    if status.get("status") == "Success":
        return 0
    causes = (status.get("details") or {}).get("causes") or []
    if status.get("reason") == "NonZeroExitCode":
        for cause in causes:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
    raise KubeApiError(
        int(status.get("code") or 500),
        str(status.get("reason") or "ExecFailed"),
        f"exec in {where}: {status.get('message') or 'failed without a message'}",
        status,
    )


def run_exec(
    client: KubeClient,
    namespace: str,
    pod: str,
    argv: Sequence[str],
    *,
    container: str | None,
    stdin: bytes | None,
    timeout_s: float,
) -> tuple[bytes, bytes, int | None]:
    where = f"pod {namespace}/{pod}"
    path = exec_path(namespace, pod, argv, container=container, stdin=stdin is not None)
    url = ws_client.get_websocket_url(client.host + path)
    headers = client.auth_headers(path, "GET")
    configuration = client.api_client.configuration
    try:
        ws: Any = ws_client.WSClient(configuration, url, headers, capture_all=False, binary=True)
    except WebSocketBadStatusException as exc:
        raise _handshake_error(exc, where) from None
    except (WebSocketException, OSError) as exc:
        raise TargetError(f"exec in {where}: cannot connect to {client.host}: {exc}") from None
    out, err, status = bytearray(), bytearray(), bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        if stdin is not None:
            if stdin:
                ws.write_stdin(stdin)
            ws.close_channel(STDIN)  # v5 only; a no-op on v4
        while ws.is_open():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TargetError(f"exec in {where}: {list(argv)} still running after {timeout_s}s")
            ws.update(timeout=min(left, 1.0))
            out += ws.read_channel(STDOUT)
            err += ws.read_channel(STDERR)
            status += ws.read_channel(ERROR)
    except (WebSocketException, OSError) as exc:
        raise TargetError(f"exec in {where}: stream broke: {exc}") from None
    finally:
        ws.close()
    return bytes(out), bytes(err), exit_code_from_status(bytes(status), where=where)


def _handshake_error(exc: WebSocketBadStatusException, where: str) -> TargetError:
    """A refused upgrade carries the API server's Status (403 RBAC, 404 no such pod)."""
    from gauntlet.targets.kubernetes.client import KubeApiError

    body: dict[str, Any] = {}
    raw = getattr(exc, "resp_body", None) or b""
    try:
        decoded = json.loads(raw)
        body = decoded if isinstance(decoded, dict) else {}
    except ValueError:
        pass
    code = int(getattr(exc, "status_code", 0) or 0)
    if not code:
        found = re.search(r"Handshake status (\d{3})", str(exc))
        code = int(found[1]) if found else 500
    message = str(body.get("message") or exc)
    return KubeApiError(code, str(body.get("reason") or ""), f"exec in {where}: {message}", body)
