from __future__ import annotations

from gauntlet.chaos.watch import Sample, recovery


def samples(*pairs: tuple[float, bool]) -> list[Sample]:
    return [Sample(t, ok) for t, ok in pairs]


def test_recovery_is_the_first_sample_of_a_stable_steady_run() -> None:
    s = samples((0.0, True), (1.0, False), (1.05, False), (1.1, True), (1.15, True), (2.2, True))
    rec = recovery(s, since_s=1.0, stable_s=1.0)
    assert rec is not None
    assert rec.at_s == 1.1
    assert abs(rec.resolution_s - 0.05) < 1e-9


def test_a_flap_is_not_a_recovery() -> None:
    s = samples((1.0, False), (1.1, True), (1.2, False), (1.3, True), (2.4, True))
    rec = recovery(s, since_s=1.0, stable_s=1.0)
    assert rec is not None and rec.at_s == 1.3


def test_never_steady_long_enough_is_no_recovery() -> None:
    s = samples((1.0, False), (1.1, True), (1.5, True))
    assert recovery(s, since_s=1.0, stable_s=1.0) is None
    assert recovery(samples((1.0, False), (5.0, False)), since_s=1.0, stable_s=0.0) is None


def test_samples_before_the_fault_end_do_not_count() -> None:
    s = samples((0.5, True), (1.6, True), (2.0, True), (2.7, True))
    rec = recovery(s, since_s=1.5, stable_s=1.0)
    assert rec is not None and rec.at_s == 1.6
