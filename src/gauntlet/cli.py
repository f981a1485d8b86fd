"""``gauntlet`` command line: a thin layer over pytest and the library (exit codes: ExitCode)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from gauntlet.blueprint import BlueprintError, load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.exitcodes import ExitCode
from gauntlet.oracle import compute_truth_table
from gauntlet.oracle.render import LEGEND, expected_grid, l7_section, table_json
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.kind.commands import add_cluster_options as add_kind_cluster_options
from gauntlet.targets.kind.commands import add_up_options as add_kind_up_options

SUITES_DIR = Path(os.environ.get("GAUNTLET_SUITES", Path(__file__).resolve().parents[2] / "suites"))
SUITES = ("isolation", "l7", "policy", "tenancy", "load", "chaos")


def _err(message: str) -> None:
    print(f"gauntlet: {message}", file=sys.stderr)


def _pytest_args(args: argparse.Namespace, report_dir: Path, extra: list[str]) -> list[str]:
    paths = [str(SUITES_DIR / s) for s in args.suite]
    argv = [
        *paths,
        "--target",
        args.target,
        "--report-dir",
        str(report_dir),
        "-p",
        "no:cacheprovider",
        "-q",
        "--gauntlet-progress",
    ]
    if args.platform:
        argv += ["--platform", str(args.platform)]
    if getattr(args, "context", None):
        argv += ["--context", args.context]
    for pattern in getattr(args, "allow_context", None) or []:
        argv += ["--allow-context", pattern]
    if getattr(args, "agent_image", None):
        argv += ["--agent-image", args.agent_image]
    if getattr(args, "ingress_url", None):
        argv += ["--ingress-url", args.ingress_url]
    if args.target == "kind":
        # The cluster `gauntlet up --target kind` would build with the same options.
        for flag, dest in _KIND_RUN_OPTIONS:
            if getattr(args, dest, None):
                argv += [flag, str(getattr(args, dest))]
    if getattr(args, "profile", None):
        argv += ["--profile", args.profile]
    if getattr(args, "workers", None):
        argv += ["-n", str(args.workers), "--dist", "loadfile"]
    if getattr(args, "min_score", None) is not None:
        argv += ["--min-score", str(args.min_score)]
    if getattr(args, "prometheus_url", None):
        argv += ["--prometheus-url", args.prometheus_url]
    return argv + extra


_KIND_RUN_OPTIONS = (
    ("--kind-name", "name"),
    ("--kind-config", "kind_config"),
    ("--kubernetes-version", "kubernetes_version"),
    ("--cilium-version", "cilium_version"),
    ("--gatekeeper-version", "gatekeeper_version"),
)
"""``run`` option -> the plugin's: what the kind cluster is provisioned or reused from."""


def _check_inputs(args: argparse.Namespace) -> int | None:
    for suite in args.suite:
        if suite not in SUITES:
            _err(f"unknown suite '{suite}'; available: {', '.join(SUITES)}")
            return ExitCode.USAGE_ERROR
    if args.target != "local" and args.command != "run":
        # selfcheck plants sandbox faults; chaos on clusters goes through `gauntlet gameday`.
        _err(f"--target {args.target}: {args.command} runs on the local sandbox only")
        return ExitCode.USAGE_ERROR
    if args.target == "kubeconfig":
        # A missing kubeconfig or context is a target error, said before pytest starts.
        from gauntlet.targets.base import TargetError
        from gauntlet.targets.kubernetes.client import KubeClient

        try:
            KubeClient.from_kubeconfig(context=args.context)
        except TargetError as exc:
            _err(str(exc))
            return ExitCode.INCONCLUSIVE
    try:
        load_blueprint(args.platform or REFERENCE_PLATFORM)
    except BlueprintError as exc:
        _err(f"blueprint error: {exc}")
        return ExitCode.USAGE_ERROR
    if args.target == "local":
        from gauntlet.targets.base import TargetError
        from gauntlet.targets.local.sandbox import check_host

        try:
            check_host()
        except TargetError as exc:
            _err(str(exc))
            return ExitCode.USAGE_ERROR
    return None


def _run_pytest(argv: list[str]) -> int:
    # A child process keeps pytest's module state and the sandbox's lifetime per run.
    proc = subprocess.run([sys.executable, "-m", "pytest", *argv], check=False)
    return proc.returncode


def _exit_from(report_dir: Path, pytest_code: int) -> int:
    scorecard = report_dir / "scorecard.json"
    if scorecard.exists():
        return int(json.loads(scorecard.read_text())["exit_code"])
    if pytest_code == 4:  # pytest usage error (bad blueprint, bad option)
        return ExitCode.USAGE_ERROR
    return ExitCode.INCONCLUSIVE


def _print_score(path: Path) -> None:
    """The score; pytest's summary above already printed its formula with the run's numbers
    (docs/scorecard.md)."""
    if not path.exists():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("score_formula"):
        print(f"gauntlet: score {data['score']:.2f} (formula above)")


def _score(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not a score between 0 and 100")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    if (code := _check_inputs(args)) is not None:
        return code
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "scorecard.json").unlink(missing_ok=True)
    code = _exit_from(report_dir, _run_pytest(_pytest_args(args, report_dir, [])))
    _print_score(report_dir / "scorecard.json")
    print(
        f"gauntlet: reports in {report_dir}/ (scorecard.json, junit.xml, report.html); "
        f"exit {code} ({ExitCode(code).name})"
    )
    return code


def cmd_matrix(args: argparse.Namespace) -> int:
    try:
        bp = load_blueprint(args.platform or REFERENCE_PLATFORM)
    except BlueprintError as exc:
        _err(f"blueprint error: {exc}")
        return ExitCode.USAGE_ERROR
    if args.with_outsider:
        bp = with_outsider(bp)
    table = compute_truth_table(bp)
    if args.json:
        print(json.dumps(table_json(table), indent=2))
        return ExitCode.OK
    print(
        expected_grid(
            table,
            title=f"Expected connectivity for {bp.root} "
            "(rows: source pods, columns: destination pod:port)",
        )
    )
    print(f"\n{l7_section(table)}")
    print(f"\n{LEGEND}")
    print(
        f"{len(table.expectations)} cells, {table.allowed_count} allowed, "
        f"{len(table.expectations) - table.allowed_count} denied"
    )
    return ExitCode.OK


def cmd_selfcheck(args: argparse.Namespace) -> int:
    from gauntlet.selfcheck import run_selfcheck

    if (code := _check_inputs(args)) is not None:
        return code
    return run_selfcheck(
        args, lambda rd, extra: _exit_from(rd, _run_pytest(_pytest_args(args, rd, extra)))
    )


def cmd_up(args: argparse.Namespace) -> int:
    from gauntlet.targets.local.sandbox import LocalSandbox

    if args.target == "kind":
        from gauntlet.targets.kind.commands import up_command

        return up_command(args)
    if args.target != "local":
        _err(f"--target {args.target}: nothing to provision (the cluster exists already)")
        return ExitCode.USAGE_ERROR
    args.name = args.name or "local"
    if (code := _check_inputs(args)) is not None:
        return code
    bp = with_outsider(load_blueprint(args.platform or REFERENCE_PLATFORM))
    sandbox = LocalSandbox(sandbox_name=args.name, detach=True)
    report = sandbox.deploy(bp)
    print(
        f"gauntlet: sandbox '{args.name}' up: {len(report.pods)} pods in "
        f"{report.duration_s:.1f}s; state in {sandbox.state_dir}; "
        f"remove with: gauntlet down --target local --name {args.name}"
    )
    return ExitCode.OK


def cmd_down(args: argparse.Namespace) -> int:
    from gauntlet.targets.local.sandbox import down

    if args.target == "kind":
        from gauntlet.targets.kind.commands import down_command

        return down_command(args)
    if args.target != "local":
        _err(f"--target {args.target}: nothing to tear down (Gauntlet did not create it)")
        return ExitCode.USAGE_ERROR
    removed = down(args.name)
    print("gauntlet: removed " + (", ".join(removed) if removed else "nothing (no sandbox)"))
    return ExitCode.OK


def cmd_policy_verify(args: argparse.Namespace) -> int:
    from gauntlet.admission.verify import SuiteError, verify

    try:
        ok = verify(args.paths, run=args.run, verbose=args.verbose, out=sys.stdout)
    except SuiteError as exc:
        _err(str(exc))
        return ExitCode.USAGE_ERROR
    return ExitCode.OK if ok else ExitCode.CONFORMANCE_FAILED


def cmd_compare(args: argparse.Namespace) -> int:
    from gauntlet.report.compare import (
        RunNotFound,
        ScorecardError,
        compare,
        load_run,
        print_table,
        write_compare_html,
    )

    try:
        comparison = compare([load_run(run) for run in args.runs])
    except (RunNotFound, ScorecardError, OSError) as exc:
        _err(str(exc))
        return ExitCode.USAGE_ERROR
    print_table(comparison)
    if args.html:
        write_compare_html(comparison, args.html)
        print(f"gauntlet: comparison written to {args.html}")
    return ExitCode.OK


def cmd_gate(args: argparse.Namespace) -> int:
    from gauntlet.report.compare import RunNotFound, ScorecardError, load_run
    from gauntlet.report.gate import GateError, gate, parse_tolerance

    try:
        result = gate(
            load_run(args.baseline),
            load_run(args.candidate),
            tolerance=parse_tolerance(args.tolerance),
            confidence=args.confidence,
            resamples=args.resamples,
            seed=args.seed,
        )
    except (RunNotFound, ScorecardError, OSError, GateError) as exc:
        _err(str(exc))
        return ExitCode.USAGE_ERROR
    print("\n".join(result.lines()))
    return result.exit_code


def cmd_gameday(args: argparse.Namespace) -> int:
    from gauntlet.chaos.gameday import run_gameday

    return run_gameday(
        args.scenario,
        target=args.target,
        context=args.context,
        allow_contexts=args.allow_context or (),
        platform=args.platform,
        profile=args.profile,
        phases=args.phase,
        max_burn_rate=args.max_burn_rate,
        report_dir=args.report_dir,
    )


def _add_gameday(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Values are checked by gauntlet.chaos.gameday (not argparse), so that every bad input exits
    # USAGE_ERROR with the list of what is accepted.
    p = sub.add_parser(
        "gameday",
        help="one chaos experiment under load with a live dashboard; writes chaos.json and "
        "timeline.html for the postmortem",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="name in scenarios/chaos/ or a file path")
    p.add_argument("--target", default="local", help="local (default), kind or kubeconfig")
    p.add_argument("--context", default=None, help="kubeconfig context (Kubernetes targets)")
    p.add_argument(
        "--allow-context",
        action="append",
        default=None,
        metavar="PATTERN",
        help="kubeconfig context chaos may disrupt (repeatable; see gauntlet run)",
    )
    p.add_argument(
        "--platform",
        type=Path,
        default=None,
        help="blueprint directory (default: the reference blueprint)",
    )
    p.add_argument(
        "--profile",
        default="smoke",
        help="load during the experiment: smoke (default), steady, ramp, spike, nightly, gameday",
    )
    p.add_argument(
        "--phase",
        action="append",
        default=None,
        help="hypothesis, inject, rollback or all (default); repeatable or comma-separated",
    )
    p.add_argument(
        "--max-burn-rate",
        default=None,
        metavar="X",
        help="safeguard: abort and roll back when the availability burn rate exceeds X",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="where chaos.json and timeline.html go (default: reports/gameday-<UTC time>)",
    )
    p.set_defaults(func=cmd_gameday, suite=[])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gauntlet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, suites: bool = True) -> None:
        p.add_argument("--target", default="local", choices=("local", "kind", "kubeconfig"))
        p.add_argument(
            "--platform",
            type=Path,
            default=None,
            help="blueprint directory (default: the reference blueprint)",
        )
        if suites:
            p.add_argument(
                "--suite",
                action="append",
                default=None,
                help=f"suite to run (repeatable; default: all of {', '.join(SUITES)})",
            )

    run = sub.add_parser("run", help="run conformance suites against a target")
    common(run)
    run.add_argument("--context", default=None, help="kubeconfig context (Kubernetes targets)")
    run.add_argument(
        "--allow-context",
        action="append",
        default=[],
        metavar="NAME",
        help="context that load and chaos may disrupt (repeatable, patterns allowed; also "
        "$GAUNTLET_ALLOW_CONTEXTS or allow_contexts in gauntlet.yaml; kind-gauntlet* always)",
    )
    run.add_argument(
        "--agent-image",
        default=None,
        help="image the probe agent runs in on Kubernetes (a mirror the platform's registry "
        "constraint trusts)",
    )
    run.add_argument(
        "--ingress-url",
        default=None,
        help="base URL of the platform's ingress for load on Kubernetes targets "
        "(default: a port-forward)",
    )
    kind = run.add_argument_group(
        "kind target (--target kind): the cluster to provision or reuse, as given to gauntlet up"
    )
    kind.add_argument("--name", default=None, help="kind cluster name (default: gauntlet)")
    add_kind_cluster_options(kind.add_argument)
    run.add_argument("--profile", default="smoke", choices=("smoke", "nightly", "gameday"))
    run.add_argument("--report-dir", default="reports/latest")
    run.add_argument("-n", dest="workers", default=None, help="pytest-xdist workers")
    run.add_argument(
        "--min-score",
        type=_score,
        default=None,
        help="exit 2 (SLO_BREACHED) when the run's score (0-100) is below this",
    )
    run.add_argument(
        "--prometheus-url",
        default=None,
        help="Prometheus server for SLIs with a Prometheus source (default: "
        "$GAUNTLET_PROMETHEUS_URL; without one those SLOs are skipped)",
    )
    run.set_defaults(func=cmd_run)

    matrix = sub.add_parser("matrix", help="print the expected connectivity truth table")
    matrix.add_argument("--platform", type=Path, default=None)
    matrix.add_argument("--json", action="store_true", help="machine-readable output")
    matrix.add_argument(
        "--with-outsider",
        action="store_true",
        help="include Gauntlet's outsider probe pod, as suites do",
    )
    matrix.set_defaults(func=cmd_matrix)

    selfcheck = sub.add_parser("selfcheck", help="plant faults and check the suites catch them")
    common(selfcheck)
    selfcheck.add_argument("--report-dir", default="reports/selfcheck")
    selfcheck.set_defaults(func=cmd_selfcheck)

    _add_gameday(sub)

    up = sub.add_parser("up", help="provision the local sandbox or a kind cluster; leave it up")
    common(up, suites=False)
    up.add_argument("--name", default=None, help="sandbox/cluster name (local / gauntlet)")
    add_kind_up_options(up)
    up.set_defaults(func=cmd_up, suite=[])

    policy = sub.add_parser("policy", help="Gatekeeper policy tools (no cluster needed)")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    verify_p = policy_sub.add_parser(
        "verify",
        help="run gator verify Suite files (test.gatekeeper.sh/v1alpha1) on Gauntlet's engine",
    )
    verify_p.add_argument("paths", nargs="+", type=Path, help="Suite files or directories")
    verify_p.add_argument("--run", default=None, help="only tests/cases matching this regex")
    verify_p.add_argument("-v", "--verbose", action="store_true", help="print every test/case")
    verify_p.set_defaults(func=cmd_policy_verify, suite=[])

    compare_p = sub.add_parser("compare", help="scorecards side by side (per distribution)")
    compare_p.add_argument("runs", nargs="+", metavar="RUN", help="report dir or scorecard.json")
    compare_p.add_argument("--html", type=Path, default=None, help="also write an HTML page")
    compare_p.set_defaults(func=cmd_compare, suite=[])

    gate_p = sub.add_parser("gate", help="fail on a significant regression vs a baseline")
    gate_p.add_argument("--baseline", required=True, metavar="RUN", help="report dir or file")
    gate_p.add_argument("--candidate", required=True, metavar="RUN", help="report dir or file")
    gate_p.add_argument(
        "--tolerance",
        action="append",
        default=[],
        help="10%% (latency, relative), 5ms (latency floor), budget=10%% (error budget); "
        "repeatable or comma-separated; defaults: 10%%, 5ms, budget=10%%",
    )
    gate_p.add_argument("--confidence", type=float, default=0.95, help="interval level")
    gate_p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    gate_p.add_argument("--seed", type=int, default=0, help="bootstrap seed (deterministic)")
    gate_p.set_defaults(func=cmd_gate, suite=[])

    down_p = sub.add_parser("down", help="tear down (also after a SIGKILLed run)")
    down_p.add_argument("--target", default="local", choices=("local", "kind", "kubeconfig"))
    down_p.add_argument(
        "--name", default=None, help="one sandbox or kind cluster (default: all Gauntlet made)"
    )
    down_p.set_defaults(func=cmd_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "suite", None) is None:
        args.suite = list(SUITES)
    try:
        code = int(args.func(args))
    except KeyboardInterrupt:
        _err("interrupted; the sandbox is torn down with its supervisor")
        code = ExitCode.INCONCLUSIVE
    except BrokenPipeError:
        # The reader went away (`gauntlet matrix | head`): not an error of ours. Point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitCode.OK
    return code


__all__ = ["main"]
