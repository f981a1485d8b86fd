"""Unit tests for ``gauntlet.isolation``: three-valued row verdicts, retries and matrices.

Expectations, probe results and cell results are built by hand; ``probe_round`` runs against a
scripted fake target, so nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from gauntlet.blueprint.kube import ContainerPort
from gauntlet.blueprint.model import Pod
from gauntlet.isolation import (
    CellResult,
    CellVerdict,
    first_failing,
    inbound_control,
    judge_row,
    probe_round,
    requests_for,
    row_matrices,
)
from gauntlet.oracle import Cell, Expectation, TruthTable
from gauntlet.policy import Endpoint
from gauntlet.targets.base import Outcome, ProbeMode, ProbeRequest, ProbeResult

SRC = "team-a/client-0"
API = "team-a/api-0"
OTHER = "team-b/api-0"
DNS = "kube-system/dns-0"


def expectation(src: str, dst: str, port: int, allowed: bool, protocol: str = "TCP") -> Expectation:
    if allowed:
        return Expectation(
            Cell(src, dst, port, protocol),
            True,
            "allowed by CNP egress",
            "allowed by CNP ingress",
        )
    return Expectation(
        Cell(src, dst, port, protocol),
        False,
        "allowed by CNP egress",
        "denied: default-deny (CNP) and no allow rule matches",
    )


def verdict_of(exp: Expectation, outcome: Outcome) -> CellVerdict:
    reached = outcome.reached
    if reached is None:
        return CellVerdict.UNOBSERVED
    if reached == exp.allowed:
        return CellVerdict.OK
    return CellVerdict.LEAK if reached else CellVerdict.BLOCKED


def cell(
    src: str,
    dst: str,
    port: int,
    *,
    allowed: bool,
    outcome: Outcome,
    error_class: str | None = None,
) -> CellResult:
    exp = expectation(src, dst, port, allowed)
    res = ProbeResult(id=exp.cell.id, outcome=outcome, latency_ms=1.0, error_class=error_class)
    return CellResult(exp, res, verdict_of(exp, outcome))


ALLOWED_OK = cell(SRC, API, 8080, allowed=True, outcome=Outcome.CONNECTED)
DENIED_OK = cell(SRC, OTHER, 8080, allowed=False, outcome=Outcome.TIMEOUT)
DENIED_OK_2 = cell(SRC, OTHER, 9090, allowed=False, outcome=Outcome.UNREACHABLE)


# -- first_failing (the cell a failing row's target evidence is about) -----------------------


def test_first_failing_prefers_a_wrong_cell_over_an_unobserved_one() -> None:
    unobserved = cell(SRC, OTHER, 7070, allowed=False, outcome=Outcome.ERROR, error_class="x")
    leak = cell(SRC, OTHER, 9090, allowed=False, outcome=Outcome.CONNECTED)
    blocked = cell(SRC, API, 9999, allowed=True, outcome=Outcome.TIMEOUT)
    assert first_failing([ALLOWED_OK, unobserved, leak, blocked]) is leak
    assert first_failing([ALLOWED_OK, unobserved, blocked]) is blocked
    assert first_failing([ALLOWED_OK, DENIED_OK, unobserved]) is unobserved
    # A row inconclusive for want of a positive control has no suspect cell.
    assert first_failing([DENIED_OK, DENIED_OK_2]) is None


# -- judge_row -----------------------------------------------------------------------------


def test_all_ok_with_outbound_positive_control_passes() -> None:
    j = judge_row(SRC, [ALLOWED_OK, DENIED_OK, DENIED_OK_2])
    assert j.verdict == "pass"
    assert j.positive_control is True
    assert j.source == SRC
    assert j.cells == (ALLOWED_OK, DENIED_OK, DENIED_OK_2)
    assert j.message.startswith("3 cell(s) as expected")


def test_refused_counts_as_reached_for_the_positive_control() -> None:
    refused = cell(SRC, API, 9999, allowed=True, outcome=Outcome.REFUSED)
    assert refused.verdict is CellVerdict.OK
    assert judge_row(SRC, [refused, DENIED_OK]).verdict == "pass"


def test_only_denied_cells_without_control_are_inconclusive() -> None:
    j = judge_row(SRC, [DENIED_OK, DENIED_OK_2])
    assert j.verdict == "inconclusive"
    assert j.positive_control is False
    assert "no positive control" in j.message
    assert "2 denied cell(s) dropped" in j.message


def test_only_denied_cells_with_inbound_control_pass() -> None:
    j = judge_row(SRC, [DENIED_OK, DENIED_OK_2], inbound_ok=True)
    assert j.verdict == "pass"
    assert j.positive_control is True


def test_allowed_cell_dropped_is_not_a_positive_control() -> None:
    blocked = cell(SRC, API, 8080, allowed=True, outcome=Outcome.TIMEOUT)
    j = judge_row(SRC, [blocked, DENIED_OK])
    assert j.positive_control is False
    assert j.verdict == "fail"


def test_leak_fails_naming_the_cell() -> None:
    leak = cell(SRC, OTHER, 8080, allowed=False, outcome=Outcome.CONNECTED)
    assert leak.verdict is CellVerdict.LEAK
    j = judge_row(SRC, [ALLOWED_OK, leak, DENIED_OK_2])
    assert j.verdict == "fail"
    assert "LEAK" in j.message
    assert leak.expectation.cell.id in j.message
    assert "observed connected" in j.message
    assert j.message.splitlines()[0] == "1 leak(s), 0 blocked allowed cell(s)"


def test_refused_on_a_denied_cell_is_a_leak() -> None:
    # A RST comes from the destination's stack: the policy let the SYN through.
    leak = cell(SRC, OTHER, 8080, allowed=False, outcome=Outcome.REFUSED)
    assert leak.verdict is CellVerdict.LEAK
    assert judge_row(SRC, [ALLOWED_OK, leak]).verdict == "fail"


def test_blocked_allowed_cell_fails() -> None:
    blocked = cell(SRC, API, 8080, allowed=True, outcome=Outcome.TIMEOUT)
    assert blocked.verdict is CellVerdict.BLOCKED
    j = judge_row(SRC, [blocked, DENIED_OK], inbound_ok=True)
    assert j.verdict == "fail"
    assert "BLOCKED" in j.message
    assert blocked.expectation.cell.id in j.message
    assert j.message.splitlines()[0] == "0 leak(s), 1 blocked allowed cell(s)"


def test_error_outcome_is_inconclusive() -> None:
    err = cell(SRC, OTHER, 8080, allowed=False, outcome=Outcome.ERROR, error_class="agent: OSError")
    assert err.verdict is CellVerdict.UNOBSERVED
    j = judge_row(SRC, [ALLOWED_OK, DENIED_OK, err])
    assert j.verdict == "inconclusive"
    assert "UNOBSERVED" in j.message
    assert "agent: OSError" in j.message
    assert "1 cell(s) could not be observed" in j.message


def test_reset_is_unobserved() -> None:
    reset = cell(SRC, API, 8080, allowed=True, outcome=Outcome.RESET)
    assert reset.verdict is CellVerdict.UNOBSERVED
    assert judge_row(SRC, [reset, DENIED_OK], inbound_ok=True).verdict == "inconclusive"


def test_leak_and_unobserved_fails() -> None:
    leak = cell(SRC, OTHER, 8080, allowed=False, outcome=Outcome.CONNECTED)
    err = cell(SRC, OTHER, 9090, allowed=False, outcome=Outcome.ERROR, error_class="boom")
    j = judge_row(SRC, [leak, err])
    assert j.verdict == "fail"
    assert "LEAK" in j.message
    assert "UNOBSERVED" in j.message


# -- inbound_control -----------------------------------------------------------------------


def test_inbound_control_needs_an_allowed_ok_cell_towards_the_source() -> None:
    into_src_ok = cell(API, SRC, 8080, allowed=True, outcome=Outcome.CONNECTED)
    into_src_denied = cell(OTHER, SRC, 8080, allowed=False, outcome=Outcome.TIMEOUT)
    into_src_blocked = cell(DNS, SRC, 8080, allowed=True, outcome=Outcome.TIMEOUT)
    elsewhere = cell(API, OTHER, 8080, allowed=True, outcome=Outcome.CONNECTED)

    def table(*cells: CellResult) -> dict[str, CellResult]:
        return {c.expectation.cell.id: c for c in cells}

    assert inbound_control(SRC, table(into_src_ok, elsewhere)) is True
    assert inbound_control(SRC, table(into_src_denied, into_src_blocked, elsewhere)) is False
    assert inbound_control(SRC, {}) is False


# -- probe_round with a scripted target ----------------------------------------------------


class ScriptedTarget:
    """A minimal Target: ``probe`` answers from per-round scripts and records every call."""

    name = "scripted"

    def __init__(self, rounds: Sequence[Mapping[str, Outcome]]) -> None:
        self.rounds = list(rounds)
        self.calls: list[list[ProbeRequest]] = []

    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        script = self.rounds[len(self.calls)]
        self.calls.append(list(requests))
        return [ProbeResult(id=r.id, outcome=script[r.id], latency_ms=2.0) for r in requests]


def make_table(*exps: Expectation) -> TruthTable:
    keys = sorted({k for e in exps for k in (e.cell.src, e.cell.dst)})
    endpoints = [
        Endpoint(
            index=i,
            pod=Pod(
                namespace=key.split("/")[0],
                name=key.split("/")[1],
                deployment=key.split("/")[1].rsplit("-", 1)[0],
                labels={},
                ports=(ContainerPort(containerPort=8080),),
                service_account="default",
            ),
            labels={},
            namespace_labels={},
        )
        for i, key in enumerate(keys)
    ]
    return TruthTable(endpoints=endpoints, expectations=list(exps))


E_ALLOWED = expectation(SRC, API, 8080, True)
E_ALLOWED_2 = expectation(SRC, API, 9090, True)
E_DENIED = expectation(SRC, OTHER, 8080, False)
E_DENIED_2 = expectation(SRC, OTHER, 9090, False)
E_UDP = expectation(SRC, DNS, 53, True, protocol="UDP")


def test_requests_for_maps_cells_to_probes() -> None:
    reqs = requests_for([E_ALLOWED, E_UDP], timeout_s=0.5)
    assert [(r.id, r.src, r.dst, r.port, r.protocol, r.mode, r.timeout_s) for r in reqs] == [
        (E_ALLOWED.cell.id, SRC, API, 8080, "TCP", ProbeMode.TCP, 0.5),
        (E_UDP.cell.id, SRC, DNS, 53, "UDP", ProbeMode.UDP, 0.5),
    ]


def test_round_without_failures_probes_once() -> None:
    table = make_table(E_ALLOWED, E_DENIED)
    target = ScriptedTarget(
        [{E_ALLOWED.cell.id: Outcome.CONNECTED, E_DENIED.cell.id: Outcome.TIMEOUT}]
    )
    out = probe_round(target, table, timeout_s=0.3, retry_timeout_s=0.9)
    assert len(target.calls) == 1
    assert {r.timeout_s for r in target.calls[0]} == {0.3}
    assert [r.id for r in target.calls[0]] == [E_ALLOWED.cell.id, E_DENIED.cell.id]
    assert {cid: c.verdict for cid, c in out.items()} == {
        E_ALLOWED.cell.id: CellVerdict.OK,
        E_DENIED.cell.id: CellVerdict.OK,
    }


def test_blocked_allowed_cell_is_retried_once_and_recovers() -> None:
    table = make_table(E_ALLOWED, E_ALLOWED_2, E_DENIED)
    target = ScriptedTarget(
        [
            {
                E_ALLOWED.cell.id: Outcome.TIMEOUT,
                E_ALLOWED_2.cell.id: Outcome.CONNECTED,
                E_DENIED.cell.id: Outcome.TIMEOUT,
            },
            {E_ALLOWED.cell.id: Outcome.CONNECTED},
        ]
    )
    out = probe_round(target, table, timeout_s=0.3, retry_timeout_s=0.9)
    assert len(target.calls) == 2
    (retry,) = target.calls[1]
    assert retry.id == E_ALLOWED.cell.id
    assert retry.timeout_s == 0.9
    assert out[E_ALLOWED.cell.id].verdict is CellVerdict.OK
    assert out[E_ALLOWED.cell.id].result.outcome is Outcome.CONNECTED
    assert judge_row(SRC, list(out.values())).verdict == "pass"


def test_blocked_allowed_cell_that_stays_blocked_fails() -> None:
    table = make_table(E_ALLOWED, E_DENIED)
    target = ScriptedTarget(
        [
            {E_ALLOWED.cell.id: Outcome.TIMEOUT, E_DENIED.cell.id: Outcome.TIMEOUT},
            {E_ALLOWED.cell.id: Outcome.UNREACHABLE},
        ]
    )
    out = probe_round(target, table)
    assert len(target.calls) == 2
    assert out[E_ALLOWED.cell.id].verdict is CellVerdict.BLOCKED
    assert out[E_ALLOWED.cell.id].result.outcome is Outcome.UNREACHABLE
    assert judge_row(SRC, list(out.values())).verdict == "fail"


def test_leaks_are_not_retried() -> None:
    table = make_table(E_ALLOWED, E_DENIED, E_DENIED_2)
    target = ScriptedTarget(
        [
            {
                E_ALLOWED.cell.id: Outcome.CONNECTED,
                E_DENIED.cell.id: Outcome.CONNECTED,
                E_DENIED_2.cell.id: Outcome.TIMEOUT,
            }
        ]
    )
    out = probe_round(target, table)
    assert len(target.calls) == 1  # a second round would raise IndexError in the script
    assert out[E_DENIED.cell.id].verdict is CellVerdict.LEAK
    assert out[E_DENIED_2.cell.id].verdict is CellVerdict.OK


def test_unobserved_cells_are_retried_too() -> None:
    table = make_table(E_ALLOWED, E_DENIED)
    target = ScriptedTarget(
        [
            {E_ALLOWED.cell.id: Outcome.CONNECTED, E_DENIED.cell.id: Outcome.ERROR},
            {E_DENIED.cell.id: Outcome.TIMEOUT},
        ]
    )
    out = probe_round(target, table, retry_timeout_s=1.5)
    assert [r.id for r in target.calls[1]] == [E_DENIED.cell.id]
    assert target.calls[1][0].timeout_s == 1.5
    assert out[E_DENIED.cell.id].verdict is CellVerdict.OK


# -- row_matrices --------------------------------------------------------------------------


def test_row_matrices_show_expected_observed_and_diff() -> None:
    table = make_table(E_ALLOWED, E_DENIED, E_DENIED_2)
    target = ScriptedTarget(
        [
            {
                E_ALLOWED.cell.id: Outcome.CONNECTED,
                E_DENIED.cell.id: Outcome.CONNECTED,  # leak
                E_DENIED_2.cell.id: Outcome.TIMEOUT,
            }
        ]
    )
    out = probe_round(target, table)
    text = row_matrices(table, SRC, out)
    assert "EXPECTED" in text
    assert "OBSERVED" in text
    assert "DIFF" in text
    assert text.index("EXPECTED") < text.index("OBSERVED") < text.index("DIFF")
    diff = text[text.index("DIFF") :]
    assert "L" in diff
    grids = {part.splitlines()[0].strip(): part for part in diff.split("to namespace ")[1:]}
    assert set(grids) == {"team-a", "team-b"}
    for ns, symbols in (("team-a", ["."]), ("team-b", ["L", "."])):
        # Only the source's row is drawn; columns are api-0:8080 (team-a) and
        # api-0:8080, api-0:9090 (team-b).
        rows = [line for line in grids[ns].splitlines()[2:] if line.strip()]
        assert [r.split()[0] for r in rows] == [SRC]
        assert rows[0].split()[1:] == symbols


@pytest.mark.parametrize(
    ("outcome", "allowed", "symbol"),
    [
        (Outcome.TIMEOUT, True, "B"),
        (Outcome.ERROR, False, "?"),
    ],
)
def test_row_matrices_mark_blocked_and_unobserved(
    outcome: Outcome, allowed: bool, symbol: str
) -> None:
    exp = E_ALLOWED if allowed else E_DENIED
    c = cell(exp.cell.src, exp.cell.dst, exp.cell.port, allowed=allowed, outcome=outcome)
    text = row_matrices(make_table(exp), SRC, {exp.cell.id: c})
    diff = text[text.index("DIFF") :]
    (row,) = [line for line in diff.splitlines() if line.strip().startswith(SRC)]
    assert row.split()[1:] == [symbol]
