"""Live load progress: one redrawn line on a terminal, a line every few seconds in CI logs."""

from __future__ import annotations

import pytest

from gauntlet import progress
from gauntlet.load.live import LOG_EVERY_S, LiveProgress, describe
from gauntlet.load.runner import LiveStats


def _stats(elapsed_s: float, p95_ms: float | None = 4.25) -> LiveStats:
    return LiveStats(
        elapsed_s=elapsed_s,
        phase="steady",
        users=10,
        requests=1234,
        errors=3,
        rps=99.5,
        p95_ms=p95_ms,
    )


def test_describe_names_rate_errors_and_p95() -> None:
    text = describe(_stats(7.0))
    assert "steady" in text and "99.5 req/s" in text and "3 errors" in text
    assert "p95 4.2 ms" in text and "10 users" in text
    assert "p95 -" in describe(_stats(7.0, p95_ms=None))


def test_log_lines_every_few_seconds_off_a_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    progress.enable(True)
    try:
        with LiveProgress(tty=False) as live:
            for t in range(12):
                live(_stats(float(t)))
    finally:
        progress.enable(False)
    lines = [line for line in capfd.readouterr().err.splitlines() if "req/s" in line]
    assert len(lines) == len(range(0, 12, int(LOG_EVERY_S)))
    assert live.last is not None and live.last.elapsed_s == 11.0


def test_disabled_progress_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with LiveProgress(enabled=False, tty=True) as live:
        live(_stats(1.0))
    assert capfd.readouterr().err == ""
