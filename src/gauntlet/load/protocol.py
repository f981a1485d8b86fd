"""The line protocol the Locust child streams to the harness over a pipe.

One ASCII line per event, tab-separated, first field the kind. Repeated strings (request names,
error kinds) are declared once and then referred to by index, so a request costs ~30 bytes:

    H  <version> <t0: epoch seconds>          first line; every time below counts from t0
    N  <id> <name>                            a request name ("GET /api/v1/items/[n]")
    E  <id> <error>                           an error kind ("HTTP 503", "ConnectionRefusedError")
    R  <done_us> <name id> <latency_us> <status> <error id or empty>
    P  <t_us> <phase>                         the load profile entered a phase
    U  <t_us> <users>                         running users (about once a second)
    X  <t_us> <reason>                        the load ended normally

Stdlib only: the child imports this after Locust has monkey-patched the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gauntlet.load.samples import Samples

VERSION = 1
MAX_TEXT_CHARS = 200


def clean(text: str) -> str:
    """A string made safe for one field of one line."""
    return " ".join(text.split())[:MAX_TEXT_CHARS]


def header_line(t0: float) -> str:
    return f"H\t{VERSION}\t{t0:.6f}\n"


class ProtocolError(ValueError):
    """A line the harness cannot read; the child and the harness disagree on the format."""


@dataclass
class Decoder:
    """Feeds pipe bytes in, keeps samples, phases and the end marker."""

    samples: Samples = field(default_factory=Samples)
    t0: float | None = None
    phases: list[tuple[float, str]] = field(default_factory=list)
    """(start, seconds since t0; phase name), in order."""
    users: int = 0
    ended: str | None = None
    """The child's reason for ending; None while running or when it died."""
    last_t_us: int = 0
    _partial: bytes = b""

    def feed(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            if raw:
                self.line(raw.decode("utf-8", "replace"))

    def line(self, text: str) -> None:
        parts = text.split("\t")
        kind = parts[0]
        try:
            if kind == "R":
                done_us = int(parts[1])
                self.samples.append(
                    done_us=done_us,
                    name_id=int(parts[2]),
                    latency_us=max(0, int(parts[3])),
                    status=int(parts[4]),
                    error_id=int(parts[5]) if parts[5] else -1,
                )
                self.last_t_us = max(self.last_t_us, done_us)
            elif kind == "N":
                self._intern(self.samples.names, int(parts[1]), parts[2])
            elif kind == "E":
                self._intern(self.samples.errors, int(parts[1]), parts[2])
            elif kind == "P":
                self.phases.append((int(parts[1]) / 1e6, parts[2]))
            elif kind == "U":
                self.users = int(parts[2])
                self.last_t_us = max(self.last_t_us, int(parts[1]))
            elif kind == "H":
                if int(parts[1]) != VERSION:
                    raise ProtocolError(f"child speaks protocol {parts[1]}, harness {VERSION}")
                self.t0 = float(parts[2])
            elif kind == "X":
                self.last_t_us = max(self.last_t_us, int(parts[1]))
                self.ended = parts[2]
            else:
                raise ProtocolError(f"unknown line kind {kind!r}")
        except (IndexError, ValueError) as exc:
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"malformed line {text[:120]!r}: {exc}") from None

    @staticmethod
    def _intern(table: list[str], index: int, text: str) -> None:
        if index != len(table):
            raise ProtocolError(f"string {index} declared out of order (have {len(table)})")
        table.append(text)


__all__ = ["VERSION", "Decoder", "ProtocolError", "clean", "header_line"]
