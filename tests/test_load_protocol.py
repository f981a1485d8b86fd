"""The child's line protocol and the LoadReport built from a stream."""

from __future__ import annotations

import errno

import pytest
from hdrh.histogram import HdrHistogram

from gauntlet.load.child import error_kind
from gauntlet.load.protocol import Decoder, ProtocolError, clean, header_line
from gauntlet.load.runner import build_report

STREAM = (
    header_line(1_700_000_000.5)
    + "N\t0\tGET /api/v1/health\n"
    + "P\t0\tramp\n"
    + "R\t150000\t0\t1500\t200\t\n"
    + "U\t1000000\t5\n"
    + "E\t0\tHTTP 503\n"
    + "R\t1200000\t0\t2500\t503\t0\n"
    + "P\t2000000\tsteady\n"
    + "N\t1\tGET /api/v1/items/[n]\n"
    + "E\t1\tConnectionRefusedError(ECONNREFUSED)\n"
    + "R\t2500000\t1\t300\t0\t1\n"
    + "R\t2600000\t1\t1000\t200\t\n"
    + "X\t3000000\tcompleted\n"
)


def test_decoder_reads_a_stream_split_anywhere() -> None:
    data = STREAM.encode()
    for cut in range(0, len(data), 7):
        decoder = Decoder()
        decoder.feed(data[:cut])
        decoder.feed(data[cut:])
        assert len(decoder.samples) == 4
        assert decoder.ended == "completed" and decoder.t0 == 1_700_000_000.5
    assert decoder.phases == [(0.0, "ramp"), (2.0, "steady")]
    assert decoder.users == 5 and decoder.last_t_us == 3_000_000
    assert [s.error for s in decoder.samples] == [
        None,
        "HTTP 503",
        "ConnectionRefusedError(ECONNREFUSED)",
        None,
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("H\t9\t0.0", "protocol 9"),
        ("Q\t1", "unknown line kind"),
        ("R\t1\t0", "malformed line"),
        ("N\t3\tGET /", "out of order"),
    ],
)
def test_decoder_rejects_what_it_cannot_read(line: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Decoder().feed(line.encode() + b"\n")


def test_report_from_the_stream() -> None:
    decoder = Decoder()
    decoder.feed(STREAM.encode())
    report = build_report(decoder, profile="smoke", entrypoint="http://10.96.0.13:80")
    assert report.requests == 4 and report.errors == 2
    assert report.duration_s == 3.0 and report.rps == pytest.approx(4 / 3)
    assert report.status_counts == {"0": 1, "200": 2, "503": 1}
    assert report.error_counts == {"HTTP 503": 1, "ConnectionRefusedError(ECONNREFUSED)": 1}
    assert [(p.name, p.start_s, p.end_s) for p in report.phases] == [
        ("ramp", 0.0, 2.0),
        ("steady", 2.0, 3.0),
    ]
    assert [(s.requests, s.errors) for s in report.series] == [(1, 0), (1, 1), (2, 1)]
    assert report.latency.max_ms == 2.5 and report.latency.p50_ms == 1.0
    assert report.started_at.timestamp() == 1_700_000_000.5
    hist = HdrHistogram.decode(report.histogram.encode())
    assert hist.get_total_count() == 4


class _BadStatus(ConnectionError):
    def __init__(self, code: int) -> None:
        super().__init__(f"bad status {code}")
        self.code = code


class CatchResponseError(Exception):  # the name Locust's response.failure() raises
    pass


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (None, 200, None),
        (_BadStatus(503), 0, "HTTP 503"),
        (_BadStatus(404), 404, "HTTP 404"),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
            0,
            "ConnectionRefusedError(ECONNREFUSED)",
        ),
        (TimeoutError(), 0, "TimeoutError"),
        (CatchResponseError("body lacks the item"), 200, "body lacks the item"),
    ],
)
def test_error_kinds_are_short_and_stable(
    exc: BaseException | None, status: int, kind: str | None
) -> None:
    assert error_kind(exc, status) == kind


def test_clean_keeps_a_field_on_one_line() -> None:
    assert clean("a\tb\nc  d") == "a b c d"
    assert len(clean("x" * 1000)) == 200
